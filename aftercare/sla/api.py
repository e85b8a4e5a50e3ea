import datetime as dt

from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from aftercare.accounts import policy
from aftercare.core.errors import ValidationFailed
from aftercare.core.http import AuthedRequest

from .models import SlaClock
from .selectors import compliance

router = Router(tags=["sla"])


class ComplianceQuery(Schema):
    start: dt.datetime
    end: dt.datetime
    group_by: str = "policy"


class ComplianceRow(Schema):
    group: str
    clocks: int
    met: int
    breached: int
    met_percent: float | None
    first_response_median_minutes: float | None
    first_response_p90_minutes: float | None


@router.get(
    "/sla/compliance",
    response=list[ComplianceRow],
    summary="SLA compliance per policy or team over a date range",
)
def sla_compliance(request: AuthedRequest, query: Query[ComplianceQuery]):
    policy.check_staff(request.user)
    if query.group_by not in ("policy", "team"):
        raise ValidationFailed(_("group_by 只能是 policy 或 team"), code="invalid_group_by")
    if query.end <= query.start:
        raise ValidationFailed(_("结束时间必须晚于开始时间"), code="invalid_range")
    clocks = SlaClock.objects.filter(
        started_at__gte=query.start,
        started_at__lt=query.end,
        ticket__in=policy.visible_tickets(request.user).values("id"),
    )
    return compliance(clocks, query.group_by)
