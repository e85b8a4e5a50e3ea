import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from aftercare.core.errors import Conflict, ValidationFailed

from .choices import CustomerKind, CustomerTier
from .models import Address, Contact, Customer

_MOBILE_SEPARATORS = re.compile(r"[\s\-()（）]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_INTL_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")


def normalise_mobile(raw: str) -> str:
    """'+86 138-0013-8000' → '13800138000'; other countries keep their '+' form."""
    number = _MOBILE_SEPARATORS.sub("", raw or "")
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            number = number[len(prefix) :]
    if _CN_MOBILE.match(number) or _INTL_NUMBER.match(number):
        return number
    raise ValidationFailed(
        _("手机号格式不正确：%(value)s") % {"value": raw[:40]}, code="invalid_mobile"
    )


def normalise_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationFailed(
            _("邮箱格式不正确：%(value)s") % {"value": raw[:80]}, code="invalid_email"
        ) from exc
    return email


@dataclass(frozen=True)
class CustomerMatch:
    customer: Customer
    contact: Contact
    created: bool


def _existing(mobile: str | None, email: str | None, wechat_id: str | None) -> Contact | None:
    for field, value in (("mobile", mobile), ("email", email), ("wechat_id", wechat_id)):
        if value:
            contact = Contact.objects.select_related("customer").filter(**{field: value}).first()
            if contact:
                return contact
    return None


def find_or_create_customer(
    *,
    name: str,
    mobile: str | None = None,
    email: str | None = None,
    wechat_id: str | None = None,
    kind: str = CustomerKind.PERSON,
    tier: str = CustomerTier.STANDARD,
    organisation: Customer | None = None,
) -> CustomerMatch:
    """Find the customer owning this mobile, email or WeChat id, or create one.

    A matching contact wins even when the name differs (people type their names differently
    on each channel); missing contact points are added to the matched contact.
    """
    mobile = normalise_mobile(mobile) if mobile else None
    email = normalise_email(email) if email else None
    wechat_id = (wechat_id or "").strip() or None
    if not (mobile or email or wechat_id):
        raise ValidationFailed(
            _("需要至少一种联系方式（手机号、邮箱或微信号）"), code="contact_required"
        )
    name = (name or "").strip() or (email or mobile or wechat_id or "")
    with transaction.atomic():
        contact = _existing(mobile, email, wechat_id)
        if contact:
            _complete_contact(contact, mobile=mobile, email=email, wechat_id=wechat_id)
            return CustomerMatch(contact.customer, contact, created=False)
        try:
            # A concurrent request may create the same contact between our read and write.
            with transaction.atomic():
                customer = Customer.objects.create(
                    name=name[:200], kind=kind, tier=tier, organisation=organisation
                )
                contact = Contact.objects.create(
                    customer=customer,
                    name=name[:100],
                    mobile=mobile,
                    email=email,
                    wechat_id=wechat_id,
                    is_primary=True,
                )
        except IntegrityError:
            contact = _existing(mobile, email, wechat_id)
            if contact is None:
                raise
            return CustomerMatch(contact.customer, contact, created=False)
        return CustomerMatch(customer, contact, created=True)


def _complete_contact(contact: Contact, **points: str | None) -> None:
    updates = {}
    for field, value in points.items():
        # Only take a contact point nobody else has; never move one between customers.
        if (
            value
            and not getattr(contact, field)
            and not Contact.objects.filter(**{field: value}).exists()
        ):
            updates[field] = value
    if updates:
        Contact.objects.filter(pk=contact.pk).update(**updates)
        for field, value in updates.items():
            setattr(contact, field, value)


def update_customer(*, customer: Customer, changes: dict) -> Customer:
    allowed = {"name", "tier", "tags", "notes", "kind", "email_domain"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(code="unknown_fields", details={"fields": sorted(unknown)})
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.full_clean(exclude=["organisation"])
    customer.save()
    return customer


def add_address(*, customer: Customer, **fields) -> Address:
    address = Address(customer=customer, **fields)
    try:
        address.full_clean(exclude=["customer"])
    except ValidationError as exc:
        raise ValidationFailed(details=exc.message_dict) from exc
    address.save()
    return address


@transaction.atomic
def add_contact(
    *,
    customer: Customer,
    name: str,
    mobile: str | None = None,
    email: str | None = None,
    wechat_id: str | None = None,
    is_primary: bool = False,
) -> Contact:
    """Add a way to reach the customer. A contact point that belongs to another customer is
    refused: moving it silently would hand that customer's tickets to this one."""
    mobile = normalise_mobile(mobile) if mobile else None
    email = normalise_email(email) if email else None
    wechat_id = (wechat_id or "").strip() or None
    if not (mobile or email or wechat_id):
        raise ValidationFailed(
            _("需要至少一种联系方式（手机号、邮箱或微信号）"), code="contact_required"
        )
    taken = _existing(mobile, email, wechat_id)
    if taken is not None:
        raise Conflict(
            _("该联系方式已属于客户“%(name)s”") % {"name": taken.customer.name},
            code="contact_point_taken",
            details={"customer_id": taken.customer_id},
        )
    if is_primary:
        customer.contacts.update(is_primary=False)
    return Contact.objects.create(
        customer=customer,
        name=(name or "").strip()[:100] or customer.name[:100],
        mobile=mobile,
        email=email,
        wechat_id=wechat_id,
        is_primary=is_primary,
    )
