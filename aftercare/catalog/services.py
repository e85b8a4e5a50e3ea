import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.core.errors import Conflict, ValidationFailed
from aftercare.customers.models import Address, Customer

from .models import Product, ProductUnit


@transaction.atomic
def register_unit(
    *,
    serial: str,
    product: Product,
    owner: Customer | None,
    purchase_date: dt.date | None = None,
    sales_channel: str = "",
    order_reference: str = "",
    installation_address: Address | None = None,
) -> ProductUnit:
    serial = serial.strip().upper()
    if not serial:
        raise ValidationFailed(_("序列号不能为空"), code="serial_required")
    if purchase_date is not None and purchase_date > timezone.localdate():
        raise ValidationFailed(_("购买日期不能晚于今天"), code="purchase_date_in_future")
    if installation_address is not None and installation_address.customer_id != getattr(
        owner, "pk", None
    ):
        raise ValidationFailed(_("安装地址不属于该客户"), code="address_not_of_customer")
    try:
        with transaction.atomic():
            return ProductUnit.objects.create(
                serial=serial,
                product=product,
                owner=owner,
                purchase_date=purchase_date,
                sales_channel=sales_channel,
                order_reference=order_reference,
                installation_address=installation_address,
            )
    except IntegrityError as exc:
        raise Conflict(
            _("序列号已登记：%(serial)s") % {"serial": serial}, code="serial_already_registered"
        ) from exc


@transaction.atomic
def update_unit(*, unit: ProductUnit, changes: dict) -> ProductUnit:
    allowed = {"purchase_date", "sales_channel", "order_reference", "owner", "installation_address"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(code="unknown_fields", details={"fields": sorted(unknown)})
    purchase_date = changes.get("purchase_date")
    if purchase_date is not None and purchase_date > timezone.localdate():
        raise ValidationFailed(_("购买日期不能晚于今天"), code="purchase_date_in_future")
    for field, value in changes.items():
        setattr(unit, field, value)
    unit.save(update_fields=list(changes))
    return unit
