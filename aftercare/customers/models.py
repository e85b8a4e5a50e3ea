from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choices import CustomerKind, CustomerTier


class Customer(models.Model):
    kind = models.CharField(
        _("类型"), max_length=16, choices=CustomerKind.choices, default=CustomerKind.PERSON
    )
    name = models.CharField(_("名称"), max_length=200, db_index=True)
    organisation = models.ForeignKey(
        "self",
        verbose_name=_("所属机构"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="people",
        limit_choices_to={"kind": CustomerKind.ORGANISATION},
    )
    email_domain = models.CharField(_("邮箱域名"), max_length=100, blank=True)
    tier = models.CharField(
        _("等级"), max_length=16, choices=CustomerTier.choices, default=CustomerTier.STANDARD
    )
    tags = models.JSONField(_("标签"), default=list, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A way to reach a customer. Mobile and email are unique across all customers, which is
    what lets every channel find the existing customer instead of creating a duplicate."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("联系人"), max_length=100)
    mobile = models.CharField(_("手机号"), max_length=20, null=True, blank=True, unique=True)
    email = models.EmailField(_("邮箱"), null=True, blank=True, unique=True)
    wechat_id = models.CharField(_("微信号"), max_length=64, null=True, blank=True, unique=True)
    is_primary = models.BooleanField(_("主要联系人"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("联系人")
        verbose_name_plural = _("联系人")
        ordering = ["-is_primary", "id"]

    def __str__(self) -> str:
        return f"{self.name} {self.mobile or self.email or ''}".strip()


class Address(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(_("标签"), max_length=50, blank=True)
    province = models.CharField(_("省"), max_length=50)
    city = models.CharField(_("市"), max_length=50)
    district = models.CharField(_("区县"), max_length=50, blank=True)
    street = models.CharField(_("详细地址"), max_length=200, blank=True)
    postcode = models.CharField(_("邮编"), max_length=10, blank=True)
    latitude = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(
        _("经度"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    is_default = models.BooleanField(_("默认地址"), default=False)

    class Meta:
        verbose_name = _("地址")
        verbose_name_plural = _("地址")
        indexes = [models.Index(fields=["province", "city"])]

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.district}{self.street}"
