from django.db import models
from django.utils.translation import gettext_lazy as _


class CustomerKind(models.TextChoices):
    PERSON = "person", _("个人")
    ORGANISATION = "organisation", _("企业/机构")


class CustomerTier(models.TextChoices):
    STANDARD = "standard", _("普通")
    VIP = "vip", _("VIP")
    SVIP = "svip", _("SVIP")
    DEALER = "dealer", _("经销商")
