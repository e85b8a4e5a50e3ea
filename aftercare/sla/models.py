import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

WEEKDAY_KEYS = [str(i) for i in range(7)]


class BusinessCalendar(models.Model):
    """Working hours in one time zone, with the holidays of a region and its own exceptions.

    weekly_hours: {"0": [["09:00", "12:00"], ["13:30", "18:00"]], …, "6": []} (0 = Monday).
    makeup_hours: hours worked on a make-up workday (调休); Monday's when empty.
    """

    slug = models.SlugField(_("标识"), max_length=50, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    time_zone = models.CharField(_("时区"), max_length=64, default="Asia/Shanghai")
    is_24x7 = models.BooleanField(_("全天候（7×24）"), default=False)
    weekly_hours = models.JSONField(_("每周工作时间"), default=dict, blank=True)
    makeup_hours = models.JSONField(_("调休上班日工作时间"), default=list, blank=True)
    holiday_region = models.CharField(
        _("法定节假日地区"), max_length=8, blank=True, help_text=_("例如 CN；留空表示不放法定假")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("工作日历")
        verbose_name_plural = _("工作日历")
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class PublicHoliday(models.Model):
    """One day of a government holiday notice: a day off, or a make-up workday (调休上班)."""

    region = models.CharField(_("地区"), max_length=8, default="CN")
    date = models.DateField(_("日期"))
    name = models.CharField(_("名称"), max_length=50)
    is_off_day = models.BooleanField(_("放假"), help_text=_("否 = 调休上班日"))
    notice_year = models.PositiveSmallIntegerField(_("通知年份"))
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("法定节假日")
        verbose_name_plural = _("法定节假日")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["region", "date"], name="unique_holiday_per_region")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class CalendarException(models.Model):
    """A closure or an extra working day of one calendar (company outing, stocktaking …)."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="exceptions"
    )
    date = models.DateField(_("日期"))
    is_working = models.BooleanField(_("上班"), default=False)
    note = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("日历例外")
        verbose_name_plural = _("日历例外")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="unique_exception_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.calendar} {self.date}"


def parse_hours(raw: list) -> list[tuple[dt.time, dt.time]]:
    """[["09:00", "18:00"], …] → [(time, time), …]; "24:00" means midnight at the day's end."""
    result = []
    for pair in raw or []:
        start, end = pair
        result.append(
            (
                dt.time.fromisoformat(start),
                dt.time(0) if end == "24:00" else dt.time.fromisoformat(end),
            )
        )
    return result
