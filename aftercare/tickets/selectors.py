"""Ticket reads shared by the API, pages and reports."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from aftercare.accounts import policy
from aftercare.accounts.models import User
from aftercare.core.errors import ValidationFailed
from aftercare.sla.engine import LIVE_STATES
from aftercare.sla.models import SlaClock
from aftercare.sla.selectors import clocks_prefetch

from .choices import OPEN_STATUS_VALUES
from .models import Ticket, TicketEvent
from .search import SearchQueryTooShort, filter_by_text

# ordering name → (model fields in order, descending?)
ORDERINGS: dict[str, tuple[tuple[str, ...], bool]] = {
    "-created_at": (("created_at", "id"), True),
    "created_at": (("created_at", "id"), False),
    "due_at": (("due_at", "created_at", "id"), False),
    "-updated_at": (("updated_at", "id"), True),
}
DATETIME_FIELDS = {"created_at", "due_at", "updated_at"}


@dataclass
class TicketFilters:
    status: list[str] | None = None
    open: bool | None = None
    kind: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool | None = None
    priority: str | None = None
    customer_id: int | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    due_before: dt.datetime | None = None
    breached: bool | None = None
    q: str | None = None


def ticket_list_queryset() -> QuerySet:
    return Ticket.objects.select_related(
        "customer", "contact", "team", "assignee", "product_unit__product", "merged_into"
    ).prefetch_related(clocks_prefetch())


def search_condition(q: str) -> Q:
    """Number, mobile or any text of the ticket (subject, description, messages, customer)."""
    from aftercare.customers.models import Contact

    q = q.strip()
    condition = Q(number=q.upper())
    digits = q.replace(" ", "").replace("-", "")
    if digits.lstrip("+").isdigit() and len(digits) >= 7:
        condition |= Q(customer_id__in=Contact.objects.filter(mobile=digits).values("customer_id"))
    try:
        text_ids = filter_by_text(Ticket.objects.all(), q).values("id")
    except SearchQueryTooShort as exc:
        if len(q) >= 2:
            return condition
        raise ValidationFailed(_("搜索词至少需要 2 个字符"), code="search_query_too_short") from exc
    return condition | Q(id__in=text_ids)


def filter_tickets(queryset: QuerySet, filters: TicketFilters) -> QuerySet:
    if filters.status:
        queryset = queryset.filter(status__in=filters.status)
    if filters.open is True:
        queryset = queryset.filter(status__in=OPEN_STATUS_VALUES)
    elif filters.open is False:
        queryset = queryset.exclude(status__in=OPEN_STATUS_VALUES)
    for field in ("kind", "team_id", "assignee_id", "priority", "customer_id"):
        value = getattr(filters, field)
        if value is not None:
            queryset = queryset.filter(**{field: value})
    if filters.unassigned:
        queryset = queryset.filter(assignee__isnull=True)
    if filters.created_after:
        queryset = queryset.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    if filters.due_before:
        queryset = queryset.filter(due_at__lt=filters.due_before)
    if filters.breached is not None:
        late = SlaClock.objects.filter(
            ticket=OuterRef("pk"), state__in=LIVE_STATES, breached_at__isnull=False
        )
        queryset = queryset.filter(Exists(late) if filters.breached else ~Exists(late))
    if filters.q:
        queryset = queryset.filter(search_condition(filters.q))
    return queryset


def _after_cursor(fields: tuple[str, ...], values: list, descending: bool) -> Q:
    """Rows strictly after the cursor row in the given order (keyset pagination)."""
    op = "lt" if descending else "gt"
    condition = Q()
    for i, field in enumerate(fields):
        step = Q(**{f"{field}__{op}": values[i]})
        for prev_field, prev_value in zip(fields[:i], values[:i], strict=False):
            step &= Q(**{prev_field: prev_value})
        condition |= step
    return condition


def _parse_cursor_values(fields: tuple[str, ...], values: list) -> list:
    parsed: list[object] = []
    for field, value in zip(fields, values, strict=True):
        if field in DATETIME_FIELDS:
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None:
                raise ValidationFailed(_("分页游标无效"), code="invalid_cursor")
            parsed.append(moment)
        elif isinstance(value, int) and not isinstance(value, bool):
            parsed.append(value)
        else:
            raise ValidationFailed(_("分页游标无效"), code="invalid_cursor")
    return parsed


def list_tickets(
    user: User,
    filters: TicketFilters,
    *,
    ordering: str = "-created_at",
    cursor_values: list | None = None,
    limit: int = 50,
) -> tuple[list[Ticket], list | None]:
    """One page of tickets the user may see, and the cursor values of the next page."""
    if ordering not in ORDERINGS:
        raise ValidationFailed(code="invalid_ordering", details={"allowed": sorted(ORDERINGS)})
    fields, descending = ORDERINGS[ordering]
    queryset = filter_tickets(policy.visible_tickets(user, ticket_list_queryset()), filters)
    if cursor_values is not None:
        queryset = queryset.filter(
            _after_cursor(fields, _parse_cursor_values(fields, cursor_values), descending)
        )
    queryset = queryset.order_by(*[f"-{f}" if descending else f for f in fields])
    rows = list(queryset[: limit + 1])
    next_values = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_values = [
            getattr(last, f).isoformat() if f in DATETIME_FIELDS else getattr(last, f)
            for f in fields
        ]
    return rows, next_values


def timeline(user: User, ticket: Ticket) -> QuerySet:
    events = TicketEvent.objects.filter(ticket=ticket).select_related("actor")
    if not policy.can_see_internal(user):
        events = events.filter(is_internal=False)
    return events.order_by("created_at", "id")
