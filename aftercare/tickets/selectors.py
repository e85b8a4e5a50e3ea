"""Ticket reads shared by the API, pages and reports."""

import datetime as dt
import operator
import re
from dataclasses import dataclass, replace
from functools import reduce

from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet
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
from .search import SearchQueryTooShort, first_matches, query_terms, text_match

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
    # merged_into is prefetched, not joined: it is nearly always empty (no query then), and
    # an eighth table in the join made PostgreSQL spend 11 ms planning each page instead of 4.
    return Ticket.objects.select_related(
        "customer", "contact", "team", "assignee", "product_unit__product"
    ).prefetch_related("merged_into", clocks_prefetch())


class _InConstants(Func):
    """`column IN ('a', 'b')` with the constants written into the SQL instead of bound.

    SQLite uses a partial index only when the query repeats the index's condition term for
    term, and it plans before parameters are bound: `status IN (?, ?, ?, ?)` never matched
    the open-queue indexes, so a team queue sorted all of the team's tickets (170 ms at a
    million tickets instead of a few).
    """

    output_field = BooleanField()
    template = "%(expressions)s IN (%(constants)s)"

    def __init__(self, field: str, constants: tuple[str, ...]) -> None:
        if not all(re.fullmatch(r"[a-z_]+", c) for c in constants):
            raise ValueError(f"not a safe SQL constant: {constants}")
        super().__init__(F(field))
        self.constants = ", ".join(f"'{c}'" for c in constants)

    def as_sql(self, compiler, connection, function=None, template=None, arg_joiner=None, **extra):
        extra["constants"] = self.constants
        return super().as_sql(compiler, connection, function, template, arg_joiner, **extra)


def _exact_search_arms(q: str) -> list[Q]:
    """A search matches a ticket by its number, by its customer's mobile, or by any text of it
    (subject, description, messages, customer name, serial; see search.py). These are the
    first two; the caller strips `q`."""
    from aftercare.customers.models import Contact

    arms = [Q(number=q.upper())]
    digits = q.replace(" ", "").replace("-", "")
    if digits.lstrip("+").isdigit() and len(digits) >= 7:
        arms.append(Q(customer_id__in=Contact.objects.filter(mobile=digits).values("customer_id")))
    return arms


def _searches_text(q: str) -> bool:
    """Whether `q` is long enough for the text index; refuses one-character searches."""
    try:
        query_terms(q)
    except SearchQueryTooShort as exc:
        if len(q) < 2:
            raise ValidationFailed(
                _("搜索词至少需要 2 个字符"), code="search_query_too_short"
            ) from exc
        return False
    return True


def search_condition(q: str) -> Q:
    """Tickets matching the search `q` in any way."""
    q = q.strip()
    arms = _exact_search_arms(q) + ([text_match(q)] if _searches_text(q) else [])
    return reduce(operator.or_, arms)


def _search_page(queryset: QuerySet, q: str, order: list[str], fields: tuple, size: int):
    """Values of `fields` of the first `size` tickets of `queryset` matching the search `q`.

    Each way of matching gets its own query and so its own cheap plan; OR-ed into one
    condition they left the databases a scan or a sort of everything (2 s at 1M tickets).
    """
    q = q.strip()
    keys: dict[int, tuple] = {}
    for arm in _exact_search_arms(q):
        for key in queryset.filter(arm).order_by(*order).values_list(*fields)[:size]:
            keys[key[-1]] = key
    if _searches_text(q):
        for key in first_matches(queryset, q, order=order, fields=fields, size=size):
            keys[key[-1]] = key
    # Every ordering runs one way over all its fields, so tuples sort like the rows.
    descending = order[0].startswith("-")
    return sorted(keys.values(), reverse=descending)[:size]


def filter_tickets(queryset: QuerySet, filters: TicketFilters) -> QuerySet:
    if filters.status:
        queryset = queryset.filter(status__in=filters.status)
    if filters.open is True:
        queryset = queryset.filter(_InConstants("status", OPEN_STATUS_VALUES))
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
    order = [f"-{f}" if descending else f for f in fields]
    base = Ticket.objects.all() if filters.q else ticket_list_queryset()
    queryset = filter_tickets(policy.visible_tickets(user, base), replace(filters, q=None))
    if cursor_values is not None:
        queryset = queryset.filter(
            _after_cursor(fields, _parse_cursor_values(fields, cursor_values), descending)
        )
    if filters.q:
        ids = [key[-1] for key in _search_page(queryset, filters.q, order, fields, limit + 1)]
        found = ticket_list_queryset().in_bulk(ids)
        rows = [found[pk] for pk in ids if pk in found]  # a ticket deleted meanwhile drops out
    else:
        rows = list(queryset.order_by(*order)[: limit + 1])
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
