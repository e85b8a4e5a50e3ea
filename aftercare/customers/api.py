import datetime as dt
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from aftercare.accounts import policy
from aftercare.core.errors import NotFound, ValidationFailed
from aftercare.core.http import AuthedRequest
from aftercare.core.schemas import ObjectId

from . import services
from .choices import CustomerKind, CustomerTier
from .models import Address, Contact, Customer

router = Router(tags=["customers"])


class ContactOut(Schema):
    id: int
    name: str
    mobile: str | None
    email: str | None
    wechat_id: str | None
    is_primary: bool


class AddressOut(Schema):
    id: int
    label: str
    province: str
    city: str
    district: str
    street: str
    postcode: str
    latitude: Decimal | None
    longitude: Decimal | None
    is_default: bool


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    tier: str
    tags: list[str]
    notes: str
    organisation_id: int | None
    created_at: dt.datetime
    contacts: list[ContactOut]
    addresses: list[AddressOut]


class CustomerIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    kind: CustomerKind = CustomerKind.PERSON
    tier: CustomerTier = CustomerTier.STANDARD
    mobile: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)
    wechat_id: str | None = Field(None, max_length=64)
    organisation_id: ObjectId | None = None


class CustomerCreatedOut(CustomerOut):
    created: bool


class CustomerPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    tier: CustomerTier | None = None
    tags: list[str] | None = Field(None, max_length=30)
    notes: str | None = Field(None, max_length=10_000)


class AddressIn(Schema):
    label: str = Field("", max_length=50)
    province: str = Field(..., min_length=1, max_length=50)
    city: str = Field(..., min_length=1, max_length=50)
    district: str = Field("", max_length=50)
    street: str = Field("", max_length=200)
    postcode: str = Field("", max_length=10)
    latitude: Decimal | None = Field(None, ge=-90, le=90, max_digits=9, decimal_places=6)
    longitude: Decimal | None = Field(None, ge=-180, le=180, max_digits=9, decimal_places=6)
    is_default: bool = False


class ContactIn(Schema):
    name: str = Field("", max_length=100)
    mobile: str | None = Field(None, max_length=30)
    email: str | None = Field(None, max_length=254)
    wechat_id: str | None = Field(None, max_length=64)
    is_primary: bool = False


class CustomerListQuery(Schema):
    q: str | None = Field(None, max_length=100)
    tier: CustomerTier | None = None
    after_id: ObjectId | None = None
    limit: int = Field(50, ge=1, le=200)


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_after_id: int | None


def _customers(user):
    return policy.visible_customers(user).prefetch_related(
        Prefetch("contacts", queryset=Contact.objects.order_by("-is_primary", "id")),
        Prefetch("addresses", queryset=Address.objects.order_by("-is_default", "id")),
    )


def _get(user, customer_id: int) -> Customer:
    customer = _customers(user).filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(_("客户不存在"), code="customer_not_found")
    return customer


@router.get("/customers", response=CustomerPage, summary="List customers")
def list_customers(request: AuthedRequest, query: Query[CustomerListQuery]):
    customers = _customers(request.user).order_by("id")
    if query.q:
        term = query.q.strip()
        customers = customers.filter(
            Q(name__startswith=term) | Q(contacts__mobile=term) | Q(contacts__email=term.lower())
        ).distinct()
    if query.tier:
        customers = customers.filter(tier=query.tier)
    if query.after_id:
        customers = customers.filter(pk__gt=query.after_id)
    rows = list(customers[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return {"items": rows, "next_after_id": rows[-1].pk if more else None}


@router.post(
    "/customers",
    response={201: CustomerCreatedOut, 200: CustomerCreatedOut},
    summary="Create a customer, or find the one owning this mobile/email",
)
def create_customer(request: AuthedRequest, payload: CustomerIn):
    policy.check_customer_write(request.user)
    organisation = None
    if payload.organisation_id is not None:
        organisation = Customer.objects.filter(
            pk=payload.organisation_id, kind=CustomerKind.ORGANISATION
        ).first()
        if organisation is None:
            raise ValidationFailed(_("机构不存在"), code="organisation_not_found")
    match = services.find_or_create_customer(
        name=payload.name,
        mobile=payload.mobile,
        email=payload.email,
        wechat_id=payload.wechat_id,
        kind=payload.kind,
        tier=payload.tier,
        organisation=organisation,
    )
    customer = _get(request.user, match.customer.pk)
    out = CustomerOut.from_orm(customer).dict()
    return Status(201 if match.created else 200, {**out, "created": match.created})


@router.get("/customers/{int:customer_id}", response=CustomerOut, summary="Read a customer")
def get_customer(request: AuthedRequest, customer_id: int):
    return _get(request.user, customer_id)


@router.patch("/customers/{int:customer_id}", response=CustomerOut, summary="Change a customer")
def update_customer(request: AuthedRequest, customer_id: int, payload: CustomerPatch):
    customer = _get(request.user, customer_id)
    policy.check_customer_write(request.user, customer)
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    services.update_customer(customer=customer, changes=changes)
    return _get(request.user, customer_id)


@router.post(
    "/customers/{int:customer_id}/addresses", response={201: AddressOut}, summary="Add an address"
)
def add_address(request: AuthedRequest, customer_id: int, payload: AddressIn):
    customer = _get(request.user, customer_id)
    policy.check_customer_write(request.user, customer)
    return Status(201, services.add_address(customer=customer, **payload.model_dump()))


@router.post(
    "/customers/{int:customer_id}/contacts",
    response={201: ContactOut},
    summary="Add a contact point",
)
def add_contact(request: AuthedRequest, customer_id: int, payload: ContactIn):
    customer = _get(request.user, customer_id)
    policy.check_customer_write(request.user, customer)
    return Status(201, services.add_contact(customer=customer, **payload.model_dump()))
