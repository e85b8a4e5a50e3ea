"""The ticket state machine: which status may follow which."""

from django.utils.translation import gettext as _

from aftercare.core.errors import Conflict

from .choices import Status

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(
        {Status.OPEN, Status.PENDING_CUSTOMER, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}
    ),
    Status.OPEN: frozenset(
        {Status.PENDING_CUSTOMER, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}
    ),
    Status.PENDING_CUSTOMER: frozenset(
        {Status.OPEN, Status.ON_HOLD, Status.RESOLVED, Status.CLOSED}
    ),
    Status.ON_HOLD: frozenset(
        {Status.OPEN, Status.PENDING_CUSTOMER, Status.RESOLVED, Status.CLOSED}
    ),
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN}),
}
REOPENING_FROM = frozenset({Status.RESOLVED, Status.CLOSED})


def is_reopen(from_status: str, to_status: str) -> bool:
    return from_status in REOPENING_FROM and to_status == Status.OPEN


def check_transition(from_status: str, to_status: str) -> None:
    if to_status not in Status.values:
        raise Conflict(_("未知状态：%(status)s") % {"status": to_status}, code="unknown_status")
    if to_status == from_status or to_status not in TRANSITIONS[from_status]:
        raise Conflict(
            _("工单不能从“%(from)s”变为“%(to)s”")
            % {"from": Status(from_status).label, "to": Status(to_status).label},
            code="invalid_transition",
            details={
                "from": from_status,
                "to": to_status,
                "allowed": sorted(TRANSITIONS[from_status]),
            },
        )
