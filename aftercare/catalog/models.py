from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .warranty import WarrantyPolicy


class ProductLine(models.Model):
    name = models.CharField(_("名称"), max_length=100, unique=True)
    slug = models.SlugField(_("标识"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("产品线")
        verbose_name_plural = _("产品线")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    line = models.ForeignKey(
        ProductLine, verbose_name=_("产品线"), on_delete=models.PROTECT, related_name="products"
    )
    model_number = models.CharField(_("型号"), max_length=64, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    category = models.CharField(_("品类"), max_length=64, blank=True)
    # 三包 defaults under China's rules: return 7 days, exchange 15 days, repair 12 months.
    return_days = models.PositiveSmallIntegerField(_("退货期（天）"), default=7)
    exchange_days = models.PositiveSmallIntegerField(_("换货期（天）"), default=15)
    repair_months = models.PositiveSmallIntegerField(_("保修期（月）"), default=12)
    is_active = models.BooleanField(_("在售"), default=True)

    class Meta:
        verbose_name = _("产品")
        verbose_name_plural = _("产品")
        ordering = ["model_number"]

    def __str__(self) -> str:
        return f"{self.name} {self.model_number}"

    @property
    def warranty_policy(self) -> WarrantyPolicy:
        return WarrantyPolicy(
            return_days=self.return_days,
            exchange_days=self.exchange_days,
            repair_months=self.repair_months,
        )


class SalesChannel(models.TextChoices):
    OFFLINE_STORE = "offline_store", _("线下门店")
    JD = "jd", _("京东")
    TMALL = "tmall", _("天猫")
    PINDUODUO = "pinduoduo", _("拼多多")
    DOUYIN = "douyin", _("抖音")
    OFFICIAL_SITE = "official_site", _("官方商城")
    DEALER = "dealer", _("经销商")
    PROJECT = "project", _("工程渠道")


class ProductUnit(models.Model):
    serial = models.CharField(_("序列号"), max_length=64, unique=True)
    product = models.ForeignKey(
        Product, verbose_name=_("产品"), on_delete=models.PROTECT, related_name="units"
    )
    purchase_date = models.DateField(_("购买日期"), null=True, blank=True)
    sales_channel = models.CharField(
        _("销售渠道"), max_length=32, choices=SalesChannel.choices, blank=True
    )
    order_reference = models.CharField(_("订单号"), max_length=64, blank=True)
    owner = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("所有人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="units",
    )
    installation_address = models.ForeignKey(
        "customers.Address",
        verbose_name=_("安装地址"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("产品机器")
        verbose_name_plural = _("产品机器")
        ordering = ["serial"]

    def __str__(self) -> str:
        return self.serial
