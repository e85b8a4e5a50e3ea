"""Bulk ticket generator for the demo and for scale tests (a million tickets in minutes).

Rows get the shape the per-ticket services produce — a number from the per-year counter, a
timeline event for every change, messages, and the search document — but are written as plain
tuples, one transaction per batch: COPY on PostgreSQL, executemany on SQLite. Building model
instances and compiling each INSERT through the ORM took three quarters of the time before.
"""

import bisect
import datetime as dt
import functools
import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection, models, transaction
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone

from aftercare.accounts.choices import Department
from aftercare.accounts.models import Team, TeamMembership, User
from aftercare.catalog.models import ProductUnit
from aftercare.customers.models import Contact, Customer
from aftercare.tickets.choices import (
    Channel,
    EventKind,
    MessageVisibility,
    Priority,
    Status,
    TicketKind,
)
from aftercare.tickets.models import (
    Message,
    Ticket,
    TicketEvent,
    TicketSearchDocument,
    new_public_reference,
)
from aftercare.tickets.numbering import reserve_serials
from aftercare.tickets.search import DOCUMENT_CHAR_LIMIT, document_tokens
from aftercare.tickets.services import DEFAULT_TARGET_HOURS

from . import content

KIND_WEIGHTS = {
    TicketKind.REPAIR: 40,
    TicketKind.INQUIRY: 18,
    TicketKind.COMPLAINT: 8,
    TicketKind.INSTALLATION: 12,
    TicketKind.MAINTENANCE: 6,
    TicketKind.RETURN: 6,
    TicketKind.EXCHANGE: 6,
    TicketKind.OTHER: 4,
}
CHANNEL_WEIGHTS = {
    Channel.PHONE: 30,
    Channel.WECHAT: 25,
    Channel.PORTAL: 18,
    Channel.EMAIL: 10,
    Channel.APP: 10,
    Channel.CHAT: 5,
    Channel.API: 2,
}
PRIORITY_WEIGHTS = {Priority.URGENT: 15, Priority.REGULAR: 70, Priority.COMPLEX: 15}
KIND_DEPARTMENTS = {
    TicketKind.REPAIR: [Department.TECH_SUPPORT, Department.FIELD_SERVICE],
    TicketKind.INQUIRY: [Department.CUSTOMER_SERVICE],
    TicketKind.COMPLAINT: [Department.CUSTOMER_SERVICE, Department.QA],
    TicketKind.INSTALLATION: [Department.FIELD_SERVICE],
    TicketKind.MAINTENANCE: [Department.FIELD_SERVICE],
    TicketKind.RETURN: [Department.RETURNS, Department.LOGISTICS],
    TicketKind.EXCHANGE: [Department.RETURNS, Department.LOGISTICS],
    TicketKind.OTHER: [Department.CUSTOMER_SERVICE],
}


class _Weighted:
    """`rng.choices(values, weights)[0]` with the cumulative weights summed once.

    Draws exactly what random.choices draws for the same generator state, so a seed still
    produces the same tickets; values are plain strings (psycopg would dump an enum's name).
    """

    def __init__(self, weights: dict):
        self.values = [str(value) for value in weights]
        self.cumulative = list(itertools.accumulate(weights.values()))
        self.total = self.cumulative[-1] + 0.0
        self.hi = len(self.values) - 1

    def pick(self, rng: random.Random) -> str:
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.total, 0, self.hi)]


KINDS = _Weighted(KIND_WEIGHTS)
CHANNELS = _Weighted(CHANNEL_WEIGHTS)
PRIORITIES = _Weighted(PRIORITY_WEIGHTS)
# Final status by age of the ticket: under a day, under a week, older.
STATUSES_FIRST_DAY = _Weighted(
    {
        Status.NEW: 45,
        Status.OPEN: 35,
        Status.PENDING_CUSTOMER: 10,
        Status.ON_HOLD: 3,
        Status.RESOLVED: 7,
    }
)
STATUSES_FIRST_WEEK = _Weighted(
    {
        Status.NEW: 5,
        Status.OPEN: 30,
        Status.PENDING_CUSTOMER: 15,
        Status.ON_HOLD: 8,
        Status.RESOLVED: 27,
        Status.CLOSED: 15,
    }
)
STATUSES_LATER = _Weighted(
    {
        Status.OPEN: 4,
        Status.PENDING_CUSTOMER: 3,
        Status.ON_HOLD: 2,
        Status.RESOLVED: 16,
        Status.CLOSED: 75,
    }
)
TARGETS = {str(p): dt.timedelta(hours=hours) for p, hours in DEFAULT_TARGET_HOURS.items()}
PROBLEM_POOLS: dict[str, list[tuple[str, str]]] = {
    TicketKind.INQUIRY: content.INQUIRIES,
    TicketKind.COMPLAINT: content.COMPLAINTS,
    TicketKind.INSTALLATION: content.INSTALLATIONS,
    TicketKind.MAINTENANCE: content.MAINTENANCES,
    TicketKind.RETURN: content.RETURN_REASONS,
    TicketKind.EXCHANGE: content.EXCHANGE_REASONS,
}
PROBLEM_CATEGORIES = list(content.PROBLEMS)


@dataclass
class _World:
    customers: list[tuple[int, str, int | None]]  # id, name, contact id
    units_by_customer: dict[int, list[tuple[int, str, str]]]  # id, serial, category
    teams_by_department: dict[str, list[int]]
    members_by_team: dict[int, list[int]]
    agents: list[int] = field(default_factory=list)
    teams_by_kind: dict[str, list[int]] = field(default_factory=dict)


def _load_world() -> _World:
    contacts = dict(Contact.objects.filter(is_primary=True).values_list("customer_id", "id"))
    customers = [
        (pk, name, contacts.get(pk)) for pk, name in Customer.objects.values_list("id", "name")
    ]
    if not customers:
        raise RuntimeError("No customers yet: run `manage.py seed_demo` first.")
    units: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for pk, serial, owner, category in ProductUnit.objects.values_list(
        "id", "serial", "owner_id", "product__category"
    ):
        if owner:
            units[owner].append((pk, serial, category))
    teams: dict[str, list[int]] = defaultdict(list)
    for pk, department in Team.objects.filter(is_active=True).values_list("id", "department"):
        teams[department].append(pk)
    members: dict[int, list[int]] = defaultdict(list)
    for team_id, user_id in TeamMembership.objects.values_list("team_id", "user_id"):
        members[team_id].append(user_id)
    agents = list(User.objects.filter(role__in=["agent", "team_lead"]).values_list("id", flat=True))
    teams_by_kind = {
        str(kind): [t for d in departments for t in teams.get(d, [])]
        for kind, departments in KIND_DEPARTMENTS.items()
    }
    return _World(customers, units, teams, members, agents, teams_by_kind)


def _problem(rng: random.Random, kind: str, category: str | None) -> tuple[str, str]:
    if kind == TicketKind.REPAIR or (kind == TicketKind.OTHER and category):
        return rng.choice(content.PROBLEMS[category or rng.choice(PROBLEM_CATEGORIES)])
    return rng.choice(PROBLEM_POOLS.get(kind, content.INQUIRIES))


def _final_status(rng: random.Random, age: dt.timedelta) -> str:
    days = age.total_seconds() / 86400
    if days < 1:
        return STATUSES_FIRST_DAY.pick(rng)
    if days < 7:
        return STATUSES_FIRST_WEEK.pick(rng)
    return STATUSES_LATER.pick(rng)


# --- rows ------------------------------------------------------------------------------------
# Column order of the tuples built below. Columns left out are nullable and stay NULL.
TICKET_COLUMNS = (
    "id",
    "number",
    "public_reference",
    "kind",
    "channel",
    "subject",
    "description",
    "customer_id",
    "contact_id",
    "product_unit_id",
    "priority",
    "status",
    "team_id",
    "assignee_id",
    "tags",
    "custom_fields",
    "due_at",
    "created_at",
    "updated_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "acknowledged_at",
)
EVENT_COLUMNS = (
    "ticket_id",
    "actor_id",
    "kind",
    "field",
    "before",
    "after",
    "data",
    "is_internal",
    "created_at",
)
MESSAGE_COLUMNS = (
    "ticket_id",
    "original_ticket_id",
    "visibility",
    "author_id",
    "channel",
    "body_text",
    "body_html",
    "is_automatic",
    "created_at",
)
DOCUMENT_COLUMNS = ("ticket_id", "tokens")

# JSON column values repeat a lot; dumped once each, the way Django's JSONField dumps them.
_json = functools.cache(json.dumps)


@functools.cache
def _tags_json(tags: tuple[str, ...]) -> str:
    return json.dumps(list(tags))


@functools.cache
def _json_id(pk: int) -> str:
    return json.dumps({"id": pk})


@functools.cache
def _created_after(kind: str, channel: str) -> str:
    return json.dumps({"status": Status.NEW.value, "kind": kind, "channel": channel})


@functools.cache
def _priority_data(priority: str) -> str:
    return json.dumps({"priority": priority})


@functools.cache
def _text_grams(text: str) -> tuple[str, ...]:
    return tuple(document_tokens(text))


def _search_tokens(number: str, texts: list[str]) -> str:
    """ " ".join(document_tokens(number, *texts)), with the grams of each repeated text cached.

    document_tokens treats its texts one by one and keeps first-seen order, so merging the
    per-text results gives the same list while the texts stay under its size limit.
    """
    if len(number) + sum(map(len, texts)) > DOCUMENT_CHAR_LIMIT:
        return " ".join(document_tokens(number, *texts))
    grams = dict.fromkeys(document_tokens(number))
    for text in texts:
        grams.update(dict.fromkeys(_text_grams(text)))
    return " ".join(grams)


@dataclass
class _Plan:
    """What the second pass over a batch needs of one ticket."""

    ticket_id: int
    kind: str
    channel: str
    priority: str
    status: str
    assignee_id: int | None
    team_id: int | None
    # Moments in the writer's form (see moment()); first_response also as a datetime.
    created: object
    first_response: dt.datetime | None
    responded: object
    resolved: object
    closed: object
    texts: list[str]


@dataclass
class _Batch:
    tickets: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    messages: list[tuple] = field(default_factory=list)
    documents: list[tuple] = field(default_factory=list)

    def tables(self) -> list[tuple[type[models.Model], tuple[str, ...], list[tuple]]]:
        """Model, columns and rows of each table, parents first."""
        return [
            (Ticket, TICKET_COLUMNS, self.tickets),
            (Message, MESSAGE_COLUMNS, self.messages),
            (TicketEvent, EVENT_COLUMNS, self.events),
            (TicketSearchDocument, DOCUMENT_COLUMNS, self.documents),
        ]


# --- writers ---------------------------------------------------------------------------------


def _check_columns(model: type[models.Model], columns: Sequence[str]) -> None:
    """Fail loudly when the model gained a required column the generator does not fill."""
    for model_field in model._meta.concrete_fields:
        if model_field.column in columns or model_field.null:
            continue
        if isinstance(model_field, AutoFieldMixin):
            continue
        raise RuntimeError(
            f"generator.py does not fill {model._meta.db_table}.{model_field.column}"
        )


class _SQLiteWriter:
    """executemany on the driver's connection, inside the batch's transaction."""

    # Enough page cache for the ticket indexes of a few million rows; the default is 2 MiB.
    BULK_CACHE_KIB = 256 * 1024

    def __init__(self) -> None:
        connection.ensure_connection()
        self.raw = connection.connection
        self.saved_cache_size = self.raw.execute("PRAGMA cache_size").fetchone()[0]

    def __enter__(self) -> "_SQLiteWriter":
        self.raw.execute(f"PRAGMA cache_size = -{self.BULK_CACHE_KIB}")
        return self

    def __exit__(self, *exc) -> None:
        self.raw.execute(f"PRAGMA cache_size = {int(self.saved_cache_size)}")

    @staticmethod
    def moment(value: dt.datetime | None) -> str | None:
        # What Django's SQLite backend stores for an aware datetime: naive UTC via str().
        return None if value is None else str(value.replace(tzinfo=None))

    def reserve_ticket_ids(self, count: int) -> Iterable[int]:
        # AUTOINCREMENT never reuses an id, so start after the sequence as well as the rows.
        # The batch's transaction holds the write lock, so no one else takes these ids.
        (last,) = self.raw.execute(
            "SELECT max("
            " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tickets_ticket'), 0),"
            " coalesce((SELECT max(id) FROM tickets_ticket), 0))"
        ).fetchone()
        return range(last + 1, last + 1 + count)

    def write(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        self.raw.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)


class _PostgresWriter:
    """COPY … FROM STDIN through psycopg, inside the batch's transaction."""

    def __enter__(self) -> "_PostgresWriter":
        return self

    def __exit__(self, *exc) -> None:
        pass

    @staticmethod
    def moment(value: dt.datetime | None) -> dt.datetime | None:
        return value

    def reserve_ticket_ids(self, count: int) -> Iterable[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('tickets_ticket', 'id'))"
                " FROM generate_series(1, %s)",
                [count],
            )
            return [row[0] for row in cursor.fetchall()]

    def write(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        statement = f'COPY "{table}" ({names}) FROM STDIN'
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def _writer() -> _SQLiteWriter | _PostgresWriter:
    for model, columns, _ in _Batch().tables():
        _check_columns(model, columns)
    if connection.vendor == "postgresql":
        return _PostgresWriter()
    if connection.vendor == "sqlite":
        return _SQLiteWriter()
    raise RuntimeError(f"AfterCare supports SQLite and PostgreSQL, not {connection.vendor}")


# --- generation ------------------------------------------------------------------------------


def generate_tickets(
    count: int,
    *,
    seed: int = 2026,
    days: int = 90,
    end: dt.datetime | None = None,
    batch_size: int = 2000,
    with_history: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Create `count` tickets spread over the `days` before `end`. Returns the number created.

    Each batch is one transaction. Ticket ids are taken from the table's sequence, so the
    generator may run beside live traffic on PostgreSQL; on SQLite it holds the write lock
    for the length of a batch.
    """
    rng = random.Random(seed)
    world = _load_world()
    end = (end or timezone.now()).astimezone(dt.UTC)
    created = 0
    with _writer() as writer:
        while created < count:
            size = min(batch_size, count - created)
            # Each batch covers a slice of the period, so numbers rise with creation time.
            slice_start = end - dt.timedelta(days=days) * (1 - created / count)
            slice_end = end - dt.timedelta(days=days) * (1 - (created + size) / count)
            moments = sorted(
                slice_start + (slice_end - slice_start) * rng.random() for _ in range(size)
            )
            with transaction.atomic():
                batch = _build_batch(rng, world, writer, moments, end, with_history)
                for model, columns, rows in batch.tables():
                    writer.write(model._meta.db_table, columns, rows)
            created += size
            if progress:
                progress(size)
    return created


def _build_batch(
    rng: random.Random,
    world: _World,
    writer: _SQLiteWriter | _PostgresWriter,
    moments: list[dt.datetime],
    now: dt.datetime,
    with_history: bool,
) -> _Batch:
    local = timezone.get_current_timezone()
    years = [moment.astimezone(local).year for moment in moments]
    next_serial = {year: reserve_serials(year, n) for year, n in sorted(Counter(years).items())}
    ticket_ids = writer.reserve_ticket_ids(len(moments))
    moment = writer.moment
    batch = _Batch()
    plans: list[_Plan] = []
    # First pass: the tickets. The random draws happen in the order of the ORM version of
    # this generator, so that a seed gives the same data as before.
    for ticket_id, created_at, year in zip(ticket_ids, moments, years, strict=True):
        number = f"AC-{year}-{next_serial[year]:06d}"
        next_serial[year] += 1
        customer_id, customer_name, contact_id = rng.choice(world.customers)
        kind = KINDS.pick(rng)
        units = world.units_by_customer.get(customer_id) or []
        unit = (
            rng.choice(units)
            if (units and kind != TicketKind.INQUIRY) or (units and rng.random() < 0.5)
            else None
        )
        subject, description = _problem(rng, kind, unit[2] if unit else None)
        priority = PRIORITIES.pick(rng)
        if kind == TicketKind.COMPLAINT and rng.random() < 0.5:
            priority = Priority.URGENT.value
        handled = now - created_at
        status = _final_status(rng, handled)
        team_ids = world.teams_by_kind[kind]
        team_id = (
            rng.choice(team_ids)
            if team_ids and (status != Status.NEW or rng.random() < 0.6)
            else None
        )
        members = world.members_by_team.get(team_id or 0) or world.agents
        assignee_id = rng.choice(members) if members and status != Status.NEW else None
        first_response = (
            created_at + min(handled, dt.timedelta(minutes=rng.randint(5, 600)))
            if status != Status.NEW
            else None
        )
        resolved = closed = None
        if status in (Status.RESOLVED, Status.CLOSED):
            resolved = created_at + handled * rng.uniform(0.05, 0.6)
            closed = (
                resolved + (now - resolved) * rng.uniform(0.3, 0.9)
                if status == Status.CLOSED
                else None
            )
        tags = rng.sample(content.TAGS, k=rng.choice([0, 0, 0, 1, 1, 2]))
        channel = CHANNELS.pick(rng)
        created, responded = moment(created_at), moment(first_response)
        resolved_at, closed_at = moment(resolved), moment(closed)
        batch.tickets.append(
            (
                ticket_id,
                number,
                new_public_reference(),
                kind,
                channel,
                subject,
                description,
                customer_id,
                contact_id,
                unit[0] if unit else None,
                priority,
                status,
                team_id,
                assignee_id,
                _tags_json(tuple(tags)),
                "{}",
                moment(created_at + TARGETS[priority]),
                created,
                closed_at or resolved_at or responded or created,
                responded,
                resolved_at,
                closed_at,
                created,
            )
        )
        texts = [subject, description, customer_name, unit[1] if unit else ""]
        plans.append(
            _Plan(
                ticket_id,
                kind,
                channel,
                priority,
                status,
                assignee_id,
                team_id,
                created,
                first_response,
                responded,
                resolved_at,
                closed_at,
                [number, *texts],
            )
        )
    # Second pass: timeline, messages and search document of each ticket.
    for plan in plans:
        batch.events.append(
            (
                plan.ticket_id,
                None,
                EventKind.CREATED.value,
                "",
                None,
                _created_after(plan.kind, plan.channel),
                _priority_data(plan.priority),
                False,
                plan.created,
            )
        )
        if with_history and plan.first_response is not None:
            _history(rng, plan, now, batch, moment)
        batch.documents.append((plan.ticket_id, _search_tokens(plan.texts[0], plan.texts[1:])))
    return batch


def _history(
    rng: random.Random,
    plan: _Plan,
    now: dt.datetime,
    batch: _Batch,
    moment: Callable[[dt.datetime | None], object],
) -> None:
    """Events and messages of a ticket someone has answered, in the order they happened."""
    ticket_id, assignee_id, channel = plan.ticket_id, plan.assignee_id, plan.channel
    first_response, responded = plan.first_response, plan.responded
    assert first_response is not None
    events, messages = batch.events, batch.messages
    if plan.team_id:
        events.append(
            (
                ticket_id,
                None,
                _FIELD_CHANGED,
                "team",
                None,
                _json_id(plan.team_id),
                "{}",
                True,
                moment(first_response - _ONE_MINUTE),
            )
        )
    if assignee_id:
        events.append(
            (
                ticket_id,
                assignee_id,
                _ASSIGNED,
                "assignee",
                None,
                _json_id(assignee_id),
                "{}",
                True,
                responded,
            )
        )
    reply = rng.choice(content.AGENT_REPLIES)
    messages.append(
        (ticket_id, ticket_id, _PUBLIC, assignee_id, channel, reply, "", False, responded)
    )
    plan.texts.append(reply)
    events.append(_status_event(ticket_id, assignee_id, Status.NEW, Status.OPEN, responded))
    at, at_value = first_response, responded
    if rng.random() < 0.5:
        at = min(now, at + dt.timedelta(minutes=rng.randint(10, 900)))
        at_value = moment(at)
        answer = rng.choice(content.CUSTOMER_REPLIES)
        messages.append((ticket_id, ticket_id, _PUBLIC, None, channel, answer, "", False, at_value))
        plan.texts.append(answer)
    if rng.random() < 0.3:
        note = rng.choice(content.INTERNAL_NOTES)
        messages.append(
            (ticket_id, ticket_id, _INTERNAL, assignee_id, channel, note, "", False, at_value)
        )
        plan.texts.append(note)
    last = Status.OPEN.value
    if plan.status in (Status.PENDING_CUSTOMER, Status.ON_HOLD):
        events.append(_status_event(ticket_id, assignee_id, last, plan.status, at_value))
    for status, when in ((_RESOLVED, plan.resolved), (_CLOSED, plan.closed)):
        if when is not None:
            events.append(_status_event(ticket_id, assignee_id, last, status, when))
            last = status


_FIELD_CHANGED = EventKind.FIELD_CHANGED.value
_STATUS_CHANGED = EventKind.STATUS_CHANGED.value
_ASSIGNED = EventKind.ASSIGNED.value
_PUBLIC = MessageVisibility.PUBLIC.value
_INTERNAL = MessageVisibility.INTERNAL.value
_RESOLVED = Status.RESOLVED.value
_CLOSED = Status.CLOSED.value
_ONE_MINUTE = dt.timedelta(minutes=1)


def _status_event(ticket_id: int, actor_id: int | None, before: str, after: str, at) -> tuple:
    return (
        ticket_id,
        actor_id,
        _STATUS_CHANGED,
        "status",
        _json(str(before)),
        _json(str(after)),
        "{}",
        False,
        at,
    )
