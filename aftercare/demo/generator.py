"""Bulk ticket generator for the demo and for scale tests (millions of rows in minutes).

Rows are written with bulk_create in batches, bypassing the per-ticket services for speed,
but with the same shape the services produce: a number from the per-year counter, a
timeline event for every change, messages, and the search document.
"""

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from aftercare.accounts.choices import Department
from aftercare.accounts.models import Team, User
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
from aftercare.tickets.models import Message, Ticket, TicketEvent, TicketSearchDocument
from aftercare.tickets.numbering import reserve_serials
from aftercare.tickets.search import document_tokens
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


def _pick(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class _World:
    customers: list[tuple[int, str, int | None]]  # id, name, contact id
    units_by_customer: dict[int, list[tuple[int, str, str]]]  # id, serial, category
    teams_by_department: dict[str, list[int]]
    members_by_team: dict[int, list[int]]
    agents: list[int] = field(default_factory=list)


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
    for team_id, user_id in Team.members.through.objects.values_list("team_id", "user_id"):
        members[team_id].append(user_id)
    agents = list(User.objects.filter(role__in=["agent", "team_lead"]).values_list("id", flat=True))
    return _World(customers, units, teams, members, agents)


def _problem(rng: random.Random, kind: str, category: str | None) -> tuple[str, str]:
    if kind == TicketKind.REPAIR or (kind == TicketKind.OTHER and category):
        return rng.choice(content.PROBLEMS[category or rng.choice(list(content.PROBLEMS))])
    pools = {
        TicketKind.INQUIRY: content.INQUIRIES,
        TicketKind.COMPLAINT: content.COMPLAINTS,
        TicketKind.INSTALLATION: content.INSTALLATIONS,
        TicketKind.MAINTENANCE: content.MAINTENANCES,
        TicketKind.RETURN: content.RETURN_REASONS,
        TicketKind.EXCHANGE: content.EXCHANGE_REASONS,
    }
    return rng.choice(pools.get(kind, content.INQUIRIES))


def _final_status(rng: random.Random, age: dt.timedelta) -> str:
    days = age.total_seconds() / 86400
    if days < 1:
        weights = {
            Status.NEW: 45,
            Status.OPEN: 35,
            Status.PENDING_CUSTOMER: 10,
            Status.ON_HOLD: 3,
            Status.RESOLVED: 7,
        }
    elif days < 7:
        weights = {
            Status.NEW: 5,
            Status.OPEN: 30,
            Status.PENDING_CUSTOMER: 15,
            Status.ON_HOLD: 8,
            Status.RESOLVED: 27,
            Status.CLOSED: 15,
        }
    else:
        weights = {
            Status.OPEN: 4,
            Status.PENDING_CUSTOMER: 3,
            Status.ON_HOLD: 2,
            Status.RESOLVED: 16,
            Status.CLOSED: 75,
        }
    return _pick(rng, weights)


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
    """Create `count` tickets spread over the `days` before `end`. Returns the number created."""
    rng = random.Random(seed)
    world = _load_world()
    end = end or timezone.now()
    created = 0
    while created < count:
        size = min(batch_size, count - created)
        # Each batch covers a slice of the period, so numbers rise with creation time.
        slice_start = end - dt.timedelta(days=days) * (1 - created / count)
        slice_end = end - dt.timedelta(days=days) * (1 - (created + size) / count)
        moments = sorted(
            slice_start + (slice_end - slice_start) * rng.random() for _ in range(size)
        )
        with transaction.atomic():
            _write_batch(rng, world, moments, end, with_history)
        created += size
        if progress:
            progress(size)
    return created


def _write_batch(
    rng, world: _World, moments: list[dt.datetime], now: dt.datetime, with_history: bool
) -> None:
    by_year: dict[int, int] = defaultdict(int)
    for moment in moments:
        by_year[timezone.localtime(moment).year] += 1
    next_serial = {year: reserve_serials(year, n) for year, n in sorted(by_year.items())}

    tickets: list[Ticket] = []
    plans = []
    for created_at in moments:
        year = timezone.localtime(created_at).year
        number = f"AC-{year}-{next_serial[year]:06d}"
        next_serial[year] += 1
        customer_id, customer_name, contact_id = rng.choice(world.customers)
        kind = _pick(rng, KIND_WEIGHTS)
        units = world.units_by_customer.get(customer_id) or []
        unit = (
            rng.choice(units)
            if (units and kind != TicketKind.INQUIRY) or (units and rng.random() < 0.5)
            else None
        )
        subject, description = _problem(rng, kind, unit[2] if unit else None)
        priority = _pick(rng, PRIORITY_WEIGHTS)
        if kind == TicketKind.COMPLAINT and rng.random() < 0.5:
            priority = Priority.URGENT
        status = _final_status(rng, now - created_at)
        team_ids = [t for d in KIND_DEPARTMENTS[kind] for t in world.teams_by_department.get(d, [])]
        team_id = (
            rng.choice(team_ids)
            if team_ids and (status != Status.NEW or rng.random() < 0.6)
            else None
        )
        members = world.members_by_team.get(team_id or 0) or world.agents
        assignee_id = rng.choice(members) if members and status != Status.NEW else None
        handled = now - created_at
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
        tickets.append(
            Ticket(
                number=number,
                kind=kind,
                channel=_pick(rng, CHANNEL_WEIGHTS),
                subject=subject,
                description=description,
                customer_id=customer_id,
                contact_id=contact_id,
                product_unit_id=unit[0] if unit else None,
                priority=priority,
                status=status,
                team_id=team_id,
                assignee_id=assignee_id,
                tags=tags,
                due_at=created_at + dt.timedelta(hours=DEFAULT_TARGET_HOURS[Priority(priority)]),
                created_at=created_at,
                updated_at=closed or resolved or first_response or created_at,
                first_response_at=first_response,
                resolved_at=resolved,
                closed_at=closed,
                acknowledged_at=created_at,
            )
        )
        plans.append((customer_name, unit[1] if unit else "", first_response, resolved, closed))
    Ticket.objects.bulk_create(tickets, batch_size=1000)

    messages: list[Message] = []
    events: list[TicketEvent] = []
    documents: list[TicketSearchDocument] = []
    for ticket, (customer_name, serial, first_response, resolved, closed) in zip(
        tickets, plans, strict=True
    ):
        events.append(
            TicketEvent(
                ticket=ticket,
                kind=EventKind.CREATED,
                created_at=ticket.created_at,
                after={"status": Status.NEW, "kind": ticket.kind, "channel": ticket.channel},
                data={"priority": ticket.priority},
            )
        )
        texts = [ticket.number, ticket.subject, ticket.description, customer_name, serial]
        if with_history and first_response is not None:
            events.extend(
                _history(rng, ticket, first_response, resolved, closed, now, messages, texts)
            )
        documents.append(
            TicketSearchDocument(ticket=ticket, tokens=" ".join(document_tokens(*texts)))
        )
    Message.objects.bulk_create(messages, batch_size=1000)
    TicketEvent.objects.bulk_create(events, batch_size=2000)
    TicketSearchDocument.objects.bulk_create(documents, batch_size=1000)


def _history(
    rng,
    ticket: Ticket,
    first_response: dt.datetime,
    resolved,
    closed,
    now,
    messages: list[Message],
    texts: list[str],
) -> list[TicketEvent]:
    events = []
    if ticket.team_id:
        events.append(
            TicketEvent(
                ticket=ticket,
                kind=EventKind.FIELD_CHANGED,
                field="team",
                after={"id": ticket.team_id},
                is_internal=True,
                created_at=first_response - dt.timedelta(minutes=1),
            )
        )
    if ticket.assignee_id:
        events.append(
            TicketEvent(
                ticket=ticket,
                kind=EventKind.ASSIGNED,
                field="assignee",
                after={"id": ticket.assignee_id},
                is_internal=True,
                actor_id=ticket.assignee_id,
                created_at=first_response,
            )
        )
    reply = rng.choice(content.AGENT_REPLIES)
    messages.append(
        Message(
            ticket=ticket,
            original_ticket=ticket,
            author_id=ticket.assignee_id,
            body_text=reply,
            created_at=first_response,
            channel=ticket.channel,
        )
    )
    texts.append(reply)
    events.append(
        TicketEvent(
            ticket=ticket,
            kind=EventKind.STATUS_CHANGED,
            field="status",
            before=Status.NEW,
            after=Status.OPEN,
            actor_id=ticket.assignee_id,
            created_at=first_response,
        )
    )
    moment = first_response
    if rng.random() < 0.5:
        moment = min(now, moment + dt.timedelta(minutes=rng.randint(10, 900)))
        answer = rng.choice(content.CUSTOMER_REPLIES)
        messages.append(
            Message(
                ticket=ticket,
                original_ticket=ticket,
                body_text=answer,
                created_at=moment,
                channel=ticket.channel,
            )
        )
        texts.append(answer)
    if rng.random() < 0.3:
        note = rng.choice(content.INTERNAL_NOTES)
        messages.append(
            Message(
                ticket=ticket,
                original_ticket=ticket,
                author_id=ticket.assignee_id,
                body_text=note,
                visibility=MessageVisibility.INTERNAL,
                created_at=moment,
                channel=ticket.channel,
            )
        )
        texts.append(note)
    last = Status.OPEN
    if ticket.status in (Status.PENDING_CUSTOMER, Status.ON_HOLD):
        events.append(
            TicketEvent(
                ticket=ticket,
                kind=EventKind.STATUS_CHANGED,
                field="status",
                before=last,
                after=ticket.status,
                actor_id=ticket.assignee_id,
                created_at=moment,
            )
        )
    for status, at in ((Status.RESOLVED, resolved), (Status.CLOSED, closed)):
        if at is not None:
            events.append(
                TicketEvent(
                    ticket=ticket,
                    kind=EventKind.STATUS_CHANGED,
                    field="status",
                    before=last,
                    after=status,
                    actor_id=ticket.assignee_id,
                    created_at=at,
                )
            )
            last = status
    return events
