import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftercare.tickets.choices import Priority, Status

from .choices import ClockState, EscalationRole, Metric

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


def default_pause_statuses() -> list[str]:
    return [Status.PENDING_CUSTOMER, Status.ON_HOLD]


def default_warnings() -> list[float]:
    return [0.75, 0.9]


class SlaPolicy(models.Model):
    """An ordered rule: the first active policy whose conditions all match a ticket applies.
    An empty condition list matches everything."""

    name = models.CharField(_("名称"), max_length=100)
    position = models.PositiveIntegerField(_("顺序"), default=100)
    is_active = models.BooleanField(_("启用"), default=True)
    kinds = models.JSONField(_("工单类型"), default=list, blank=True)
    priorities = models.JSONField(_("优先级"), default=list, blank=True)
    channels = models.JSONField(_("渠道"), default=list, blank=True)
    customer_tiers = models.JSONField(_("客户等级"), default=list, blank=True)
    product_lines = models.ManyToManyField(
        "catalog.ProductLine", blank=True, verbose_name=_("产品线")
    )
    teams = models.ManyToManyField("accounts.Team", blank=True, verbose_name=_("团队"))
    pause_statuses = models.JSONField(
        _("暂停计时的状态"), default=default_pause_statuses, blank=True
    )
    warn_at = models.JSONField(
        _("预警比例"),
        default=default_warnings,
        blank=True,
        help_text=_("例如 [0.75, 0.9]：达到目标时长的 75% 和 90% 时预警"),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("SLA 策略")
        verbose_name_plural = _("SLA 策略")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class SlaTarget(models.Model):
    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    metric = models.CharField(_("指标"), max_length=20, choices=Metric.choices)
    minutes = models.PositiveIntegerField(_("目标时长（分钟）"))
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.PROTECT, verbose_name=_("工作日历")
    )

    class Meta:
        verbose_name = _("SLA 目标")
        verbose_name_plural = _("SLA 目标")
        constraints = [
            models.UniqueConstraint(fields=["policy", "metric"], name="one_target_per_metric")
        ]

    def __str__(self) -> str:
        return f"{self.policy} · {self.get_metric_display()} {self.minutes}"


class EscalationLevel(models.Model):
    """What happens once a target is breached: notify a role, optionally raise the priority or
    move the ticket, `after_minutes` business minutes after the breach."""

    level = models.PositiveSmallIntegerField(_("级别"), unique=True)
    after_minutes = models.PositiveIntegerField(_("违约后（工作分钟）"), default=0)
    notify_role = models.CharField(_("通知"), max_length=20, choices=EscalationRole.choices)
    notify_users = models.ManyToManyField(
        "accounts.User",
        blank=True,
        verbose_name=_("通知人员"),
        help_text=_("服务经理、总监等；组长级别自动通知工单所在团队的组长"),
    )
    raise_priority_to = models.CharField(
        _("提升优先级到"), max_length=16, choices=Priority.choices, blank=True
    )
    move_to_team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("转交团队"),
    )

    class Meta:
        verbose_name = _("升级级别")
        verbose_name_plural = _("升级级别")
        ordering = ["level"]

    def __str__(self) -> str:
        return f"L{self.level}"


class SlaClock(models.Model):
    """One promise on one ticket. `next_event_at` is the next instant the sweeper must act on
    (a warning, the breach, an escalation); it is NULL when nothing is pending."""

    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="sla_clocks"
    )
    metric = models.CharField(max_length=20, choices=Metric.choices)
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="+")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    target_minutes = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=ClockState.choices, default=ClockState.RUNNING)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    # Business seconds used before `running_since` (the start, or the last resume).
    used_seconds = models.PositiveIntegerField(default=0)
    running_since = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    warnings_fired = models.PositiveSmallIntegerField(default=0)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("SLA 计时")
        verbose_name_plural = _("SLA 计时")
        indexes = [
            models.Index(
                fields=["next_event_at"],
                name="sla_clock_next_event",
                condition=models.Q(next_event_at__isnull=False),
            ),
            models.Index(fields=["ticket", "metric"], name="sla_clock_ticket_metric"),
        ]
