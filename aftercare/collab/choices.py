from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestKind(models.TextChoices):
    DIAGNOSE = "diagnose", _("技术诊断")
    PICKUP = "pickup", _("安排取件")
    REFUND_APPROVAL = "refund_approval", _("退款审批")
    LIABILITY_JUDGEMENT = "liability_judgement", _("责任判定")
    PAID_SERVICE = "paid_service", _("付费服务沟通")
    FAILURE_ANALYSIS = "failure_analysis", _("故障分析")
    OTHER = "other", _("其他")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("待受理")
    ACCEPTED = "accepted", _("已受理")
    DONE = "done", _("已完成")
    DECLINED = "declined", _("已拒绝")
    CANCELLED = "cancelled", _("已取消")


# A fixed order: the index condition and its migration must not depend on set order.
ACTIVE_REQUEST_STATUS_VALUES = ("open", "accepted")
ACTIVE_REQUEST_STATUSES = frozenset(RequestStatus(v) for v in ACTIVE_REQUEST_STATUS_VALUES)

# The OLA a department has to answer, in business minutes on OLA_CALENDAR, when the requester
# gives no due time. A diagnosis is half a working day; approvals and judgements two days;
# a failure analysis by R&D a working week.
OLA_CALENDAR = "cn-workday"
DEFAULT_OLA_MINUTES: dict[str, int] = {
    RequestKind.DIAGNOSE: 4 * 60,
    RequestKind.PICKUP: 9 * 60,
    RequestKind.REFUND_APPROVAL: 2 * 9 * 60,
    RequestKind.LIABILITY_JUDGEMENT: 2 * 9 * 60,
    RequestKind.PAID_SERVICE: 9 * 60,
    RequestKind.FAILURE_ANALYSIS: 5 * 9 * 60,
    RequestKind.OTHER: 9 * 60,
}
# The target side is warned once this share of the time to the due time (in business time)
# has passed, as SLA targets are.
OLA_WARNING_SHARE = (3, 4)
