from django.db import models
from django.utils.translation import gettext_lazy as _


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("首次响应")
    NEXT_RESPONSE = "next_response", _("后续响应")
    RESOLUTION = "resolution", _("解决")


class ClockState(models.TextChoices):
    RUNNING = "running", _("计时中")
    PAUSED = "paused", _("已暂停")
    MET = "met", _("已达成")
    # The target no longer applies (policy, priority or kind changed before it was met).
    SUPERSEDED = "superseded", _("已被替换")
    CANCELLED = "cancelled", _("已取消")


class EscalationRole(models.TextChoices):
    TEAM_LEAD = "team_lead", _("组长")
    SERVICE_MANAGER = "service_manager", _("服务经理")
    DIRECTOR = "director", _("总监")
