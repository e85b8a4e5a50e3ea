import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from aftercare.accounts import policy
from aftercare.core.errors import NotFound, ValidationFailed
from aftercare.core.http import AuthedRequest
from aftercare.core.schemas import ObjectId
from aftercare.customers.models import Customer

from . import services
from .models import Product, ProductLine, SalesChannel
from .selectors import get_visible_unit
from .warranty import evaluate_warranty

router = Router(tags=["catalog"])


class ProductLineOut(Schema):
    id: int
    name: str
    slug: str


class ProductOut(Schema):
    id: int
    line_id: int
    model_number: str
    name: str
    category: str
    return_days: int
    exchange_days: int
    repair_months: int
    is_active: bool


class ProductIn(Schema):
    line_id: ObjectId
    model_number: str = Field(..., min_length=1, max_length=64)
    name: str = Field(..., min_length=1, max_length=200)
    category: str = Field("", max_length=64)
    return_days: int = Field(7, ge=0, le=3650)
    exchange_days: int = Field(15, ge=0, le=3650)
    repair_months: int = Field(12, ge=0, le=600)


class ProductPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(None, max_length=64)
    return_days: int | None = Field(None, ge=0, le=3650)
    exchange_days: int | None = Field(None, ge=0, le=3650)
    repair_months: int | None = Field(None, ge=0, le=600)
    is_active: bool | None = None


class UnitOut(Schema):
    id: int
    serial: str
    product: ProductOut
    purchase_date: dt.date | None
    sales_channel: str
    order_reference: str
    owner_id: int | None
    installation_address_id: int | None


class UnitIn(Schema):
    serial: str = Field(..., min_length=1, max_length=64)
    product_id: ObjectId
    purchase_date: dt.date | None = None
    sales_channel: SalesChannel | None = None
    order_reference: str = Field("", max_length=64)
    owner_id: ObjectId | None = None
    installation_address_id: ObjectId | None = None


class UnitListQuery(Schema):
    owner_id: ObjectId | None = None
    product_id: ObjectId | None = None
    after_id: ObjectId | None = None
    limit: int = Field(50, ge=1, le=200)


class UnitPage(Schema):
    items: list[UnitOut]
    next_after_id: int | None


class CoverageOut(Schema):
    remedy: str
    status: str
    covered: bool
    until: dt.date | None
    reason: str


class WarrantyOut(Schema):
    serial: str
    model_number: str
    on_date: dt.date
    purchase_date: dt.date | None
    in_warranty: bool
    summary: str
    coverages: list[CoverageOut]


@router.get("/product-lines", response=list[ProductLineOut], summary="Product lines")
def list_product_lines(request: AuthedRequest):
    return list(ProductLine.objects.order_by("name"))


@router.get("/products", response=list[ProductOut], summary="Products")
def list_products(request: AuthedRequest, line_id: int | None = None):
    products = Product.objects.order_by("model_number")
    if line_id is not None:
        products = products.filter(line_id=line_id)
    return list(products)


def _product(product_id: int) -> Product:
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise NotFound(_("产品不存在"), code="product_not_found")
    return product


@router.get("/products/{int:product_id}", response=ProductOut, summary="Read a product")
def get_product(request: AuthedRequest, product_id: int):
    return _product(product_id)


@router.post("/products", response={201: ProductOut}, summary="Create a product")
def create_product(request: AuthedRequest, payload: ProductIn):
    policy.check_catalog_write(request.user)
    if not ProductLine.objects.filter(pk=payload.line_id).exists():
        raise ValidationFailed(_("产品线不存在"), code="product_line_not_found")
    if Product.objects.filter(model_number=payload.model_number).exists():
        raise ValidationFailed(_("型号已存在"), code="model_number_exists")
    return Status(201, Product.objects.create(**payload.model_dump()))


@router.patch("/products/{int:product_id}", response=ProductOut, summary="Change a product")
def update_product(request: AuthedRequest, product_id: int, payload: ProductPatch):
    policy.check_catalog_write(request.user)
    product = _product(product_id)
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    for field, value in changes.items():
        setattr(product, field, value)
    if changes:
        product.save(update_fields=list(changes))
    return product


def _unit_queryset(user):
    return policy.visible_units(user).select_related("product")


@router.get("/units", response=UnitPage, summary="Product units")
def list_units(request: AuthedRequest, query: Query[UnitListQuery]):
    units = _unit_queryset(request.user).order_by("id")
    if query.owner_id is not None:
        units = units.filter(owner_id=query.owner_id)
    if query.product_id is not None:
        units = units.filter(product_id=query.product_id)
    if query.after_id:
        units = units.filter(pk__gt=query.after_id)
    rows = list(units[: query.limit + 1])
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return {"items": rows, "next_after_id": rows[-1].pk if more else None}


@router.post("/units", response={201: UnitOut}, summary="Register a product unit")
def register_unit(request: AuthedRequest, payload: UnitIn):
    user = request.user
    if user.is_customer:
        # Customers register units they own; the owner is always themselves.
        if payload.owner_id not in (None, user.customer_id):
            raise NotFound(_("客户不存在"), code="customer_not_found")
        owner = user.customer
    else:
        policy.check_unit_write(user)
        owner = None
        if payload.owner_id is not None:
            owner = Customer.objects.filter(pk=payload.owner_id).first()
            if owner is None:
                raise ValidationFailed(_("客户不存在"), code="customer_not_found")
    address = None
    if payload.installation_address_id is not None:
        address = (
            owner.addresses.filter(pk=payload.installation_address_id).first() if owner else None
        )
        if address is None:
            raise ValidationFailed(_("安装地址不属于该客户"), code="address_not_of_customer")
    product = Product.objects.filter(pk=payload.product_id).first()
    if product is None:
        raise ValidationFailed(_("产品不存在"), code="product_not_found")
    unit = services.register_unit(
        serial=payload.serial,
        product=product,
        owner=owner,
        purchase_date=payload.purchase_date,
        sales_channel=payload.sales_channel or "",
        order_reference=payload.order_reference,
        installation_address=address,
    )
    return Status(201, _unit_queryset(user).get(pk=unit.pk))


@router.get("/units/{serial}", response=UnitOut, summary="Read a unit by serial")
def get_unit(request: AuthedRequest, serial: str):
    return get_visible_unit(request.user, serial)


@router.get(
    "/units/{serial}/warranty",
    response=WarrantyOut,
    summary="三包 status of a unit: return, exchange and repair periods",
)
def get_warranty(request: AuthedRequest, serial: str, on: dt.date | None = None):
    unit = get_visible_unit(request.user, serial)
    evaluation = evaluate_warranty(
        purchase_date=unit.purchase_date,
        policy=unit.product.warranty_policy,
        on_date=on or timezone.localdate(),
    )
    return {
        "serial": unit.serial,
        "model_number": unit.product.model_number,
        "on_date": evaluation.on_date,
        "purchase_date": evaluation.purchase_date,
        "in_warranty": evaluation.in_warranty,
        "summary": evaluation.summary,
        "coverages": [
            {
                "remedy": c.remedy.value,
                "status": c.status.value,
                "covered": c.covered,
                "until": c.until,
                "reason": c.reason,
            }
            for c in evaluation.coverages
        ],
    }
