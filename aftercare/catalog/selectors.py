from django.utils.translation import gettext as _

from aftercare.accounts import policy
from aftercare.core.errors import NotFound

from .models import ProductUnit


def get_visible_unit(user, serial: str) -> ProductUnit:
    """The unit with this serial (any case, spaces trimmed), if the user may see it."""
    unit = (
        policy.visible_units(user)
        .select_related("product")
        .filter(serial=serial.strip().upper())
        .first()
    )
    if unit is None:
        raise NotFound(
            _("序列号不存在：%(serial)s") % {"serial": serial[:64]}, code="unit_not_found"
        )
    return unit
