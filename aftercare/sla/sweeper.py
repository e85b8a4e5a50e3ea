"""The SLA sweeper: fires every warning, breach and escalation that is due, each exactly once.

Any number of sweepers may run at once. Each takes a batch of due clocks in a transaction that
holds them — on PostgreSQL with FOR UPDATE SKIP LOCKED, so concurrent sweepers take disjoint
batches; on SQLite the IMMEDIATE transaction makes it the database's one writer — moves every
clock past the events due by now, and writes the batch set-based: one UPDATE of the clocks, one
INSERT of timeline events, one of notifications. A clock leaves the due set in the commit that
records what fired, so a crashed sweeper loses nothing and nothing fires twice.

Per clock the work is plain Python on the claimed row; policies, calendars, escalation levels
and recipients are read once per batch or sweep, never per clock.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.choices import Role
from aftercare.accounts.models import TeamMembership, User
from aftercare.collab.services import Notice, notify_each
from aftercare.tickets.choices import EventKind, Priority
from aftercare.tickets.models import Ticket, TicketEvent

from .business_time import BusinessClock
from .calendars import clock_of
from .choices import ClockState, EscalationRole, Metric
from .models import BusinessCalendar, EscalationLevel, SlaClock, SlaPolicy
from .rules import current_rules, next_instants, warning_fractions


@dataclass
class SweepResult:
    claimed: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0


# What firing needs of a due clock and its ticket: attribute of _DueClock → column claimed.
_CLAIMED = {
    "id": "id",
    "ticket_id": "ticket_id",
    "metric": "metric",
    "policy_id": "policy_id",
    "calendar_id": "calendar_id",
    "target_minutes": "target_minutes",
    "used_seconds": "used_seconds",
    "running_since": "running_since",
    "due_at": "due_at",
    "breached_at": "breached_at",
    "warnings_fired": "warnings_fired",
    "escalation_level": "escalation_level",
    "next_event_at": "next_event_at",
    "number": "ticket__number",
    "team_id": "ticket__team_id",
    "priority": "ticket__priority",
    "assignee_id": "ticket__assignee_id",
    "assignee_active": "ticket__assignee__is_active",
}


class _DueClock:
    """A claimed clock as plain attributes (no model instance: thousands are claimed at once)."""

    __slots__ = tuple(_CLAIMED)

    id: int
    ticket_id: int
    metric: str
    policy_id: int | None
    calendar_id: int
    target_minutes: int
    used_seconds: int
    running_since: dt.datetime | None
    due_at: dt.datetime | None
    breached_at: dt.datetime | None
    warnings_fired: int
    escalation_level: int
    next_event_at: dt.datetime | None
    number: str
    team_id: int | None
    priority: str
    assignee_id: int | None
    assignee_active: bool | None

    def __init__(self, *row) -> None:
        for name, value in zip(self.__slots__, row, strict=True):
            setattr(self, name, value)


class _Level(NamedTuple):
    level: int
    after_minutes: int
    notify_role: str
    # (user id, active) of the named people, inactive ones included: naming only inactive
    # people notifies nobody rather than falling back to the admins.
    notify_users: tuple[tuple[int, bool], ...]
    raise_priority_to: str
    move_to_team_id: int | None


def _claim(now: dt.datetime, batch: int) -> list[_DueClock]:
    due = SlaClock.objects.filter(next_event_at__lte=now, state=ClockState.RUNNING).order_by(
        "next_event_at"
    )
    if connection.features.has_select_for_update_skip_locked:
        # Concurrent sweepers take disjoint batches; a crashed one releases its rows.
        due = due.select_for_update(skip_locked=True, of=("self",))
    return [_DueClock(*row) for row in due.values_list(*_CLAIMED.values())[:batch]]


class _Recipients:
    """Who hears about a clock, as user ids, looked up once per sweep rather than per clock."""

    def __init__(self) -> None:
        self._admins: list[int] | None = None
        self._leads: dict[int, list[int]] | None = None

    def admins(self) -> list[int]:
        if self._admins is None:
            self._admins = list(
                User.objects.filter(role=Role.ADMIN, is_active=True).values_list("id", flat=True)
            )
        return self._admins

    def leads(self, team_id: int | None) -> list[int]:
        if self._leads is None:
            self._leads = {}
            for team, user in TeamMembership.objects.filter(
                is_lead=True, user__is_active=True
            ).values_list("team_id", "user_id"):
                self._leads.setdefault(team, []).append(user)
        return self._leads.get(team_id or 0, [])

    def for_warning(self, clock: _DueClock, team_id: int | None) -> list[int]:
        if clock.assignee_id is not None:
            return [clock.assignee_id] if clock.assignee_active else []
        return self.leads(team_id) or self.admins()

    def for_level(self, level: _Level, team_id: int | None) -> list[int]:
        if level.notify_role != EscalationRole.TEAM_LEAD:
            if level.notify_users:
                return [user for user, active in level.notify_users if active]
            return self.admins()
        return self.leads(team_id) or self.admins()


class _Ticket:
    """Priority and team of a ticket as escalations in this batch leave them."""

    __slots__ = ("changes", "priority", "team_id")

    def __init__(self, priority: str, team_id: int | None) -> None:
        self.priority, self.team_id = priority, team_id
        self.changes: dict[str, object] = {}


class _Batch:
    """What firing one batch writes besides the clocks themselves: timeline events,
    notifications, and the tickets that escalation levels with actions changed."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, dict, dt.datetime]] = []
        self.notices: list[Notice] = []
        self.tickets: dict[int, _Ticket] = {}

    def event(self, ticket_id: int, kind: str, data: dict, at: dt.datetime) -> None:
        self.events.append((ticket_id, kind, data, at))

    def notify(self, users: list[int], kind: str, title: str, ticket_id: int) -> None:
        title = title[:200]
        for user in dict.fromkeys(users):
            self.notices.append(Notice(user, kind, title, ticket_id))


class _Sweep:
    """One sweep: the rules it runs under and who hears about what."""

    def __init__(self, levels: list[EscalationLevel]) -> None:
        self.levels = [
            _Level(
                level.level,
                level.after_minutes,
                level.notify_role,
                tuple((user.pk, user.is_active) for user in level.notify_users.all()),
                level.raise_priority_to,
                level.move_to_team_id,
            )
            for level in levels
        ]
        self.level_minutes = [level.after_minutes for level in self.levels]
        self.recipients = _Recipients()
        self.labels = {metric.value: str(metric.label) for metric in Metric}
        self.warning_title = _("[%(number)s] %(metric)s 已用去 %(percent)d%%，截止 %(due)s")
        self.escalation_title = _("[%(number)s] %(metric)s 已超时，升级 L%(level)d")
        self.fractions: dict[int | None, list[float]] = {}
        self.calendar_rows: dict[int, BusinessCalendar] = {}
        self.calendars: dict[int, BusinessClock] = {}

    def load_batch_rules(self) -> None:
        """Warning fractions of every policy (inactive ones too: their clocks may still run)
        and the calendar rows, read fresh for each batch as the clocks' own rows would be."""
        self.fractions = {
            pk: warning_fractions(warn_at)
            for pk, warn_at in SlaPolicy.objects.values_list("id", "warn_at")
        }
        self.fractions[None] = []
        self.calendar_rows = {c.pk: c for c in BusinessCalendar.objects.all()}
        self.calendars = {}

    def calendar(self, calendar_id: int) -> BusinessClock:
        calendar = self.calendars.get(calendar_id)
        if calendar is None:
            # clock_of rebuilds only when the calendar row changed since it was cached.
            calendar = self.calendars[calendar_id] = clock_of(self.calendar_rows[calendar_id])
        return calendar

    def fire(self, clock: _DueClock, now: dt.datetime, batch: _Batch, result: SweepResult) -> None:
        """Advance one clock past every event due by `now`, recording each."""
        fractions = self.fractions.get(clock.policy_id, [])
        levels = self.levels
        calendar = self.calendar(clock.calendar_id)
        ticket = batch.tickets.get(clock.ticket_id)
        if ticket is None:
            ticket = batch.tickets[clock.ticket_id] = _Ticket(clock.priority, clock.team_id)
        due_at = None  # computed once: firing does not move it
        while clock.next_event_at is not None and clock.next_event_at <= now:
            at = clock.next_event_at
            if clock.warnings_fired < len(fractions):
                fraction = fractions[clock.warnings_fired]
                clock.warnings_fired += 1
                result.warnings += 1
                self._warn(clock, ticket, fraction, at, batch)
            elif clock.breached_at is None:
                clock.breached_at = at
                result.breaches += 1
                batch.event(clock.ticket_id, EventKind.SLA_BREACHED, {"metric": clock.metric}, at)
            elif clock.escalation_level < len(levels):
                level = levels[clock.escalation_level]
                clock.escalation_level += 1
                result.escalations += 1
                self._escalate(clock, ticket, level, at, batch)
            if clock.running_since is None:  # not a running clock after all: nothing to schedule
                clock.due_at = clock.next_event_at = None
                break
            due_at, clock.next_event_at = next_instants(
                calendar,
                running_since=clock.running_since,
                used_seconds=clock.used_seconds,
                target_seconds=clock.target_minutes * 60,
                fractions=fractions,
                warnings_fired=clock.warnings_fired,
                breached=clock.breached_at is not None,
                escalation_level=clock.escalation_level,
                level_minutes=self.level_minutes,
                due_at=due_at,
            )
            clock.due_at = due_at

    def _warn(
        self, clock: _DueClock, ticket: _Ticket, fraction: float, at: dt.datetime, batch: _Batch
    ) -> None:
        due = clock.due_at
        batch.event(
            clock.ticket_id,
            EventKind.SLA_WARNING,
            {
                "metric": clock.metric,
                "fraction": fraction,
                "due_at": due.isoformat() if due else None,
            },
            at,
        )
        title = self.warning_title % {
            "number": clock.number,
            "metric": self.labels[clock.metric],
            "percent": round(fraction * 100),
            "due": timezone.localtime(due).strftime("%m-%d %H:%M") if due else "—",
        }
        users = self.recipients.for_warning(clock, ticket.team_id)
        batch.notify(users, "sla_warning", title, clock.ticket_id)

    def _escalate(
        self, clock: _DueClock, ticket: _Ticket, level: _Level, at: dt.datetime, batch: _Batch
    ) -> None:
        data: dict = {"metric": clock.metric, "level": level.level, "notify": level.notify_role}
        if level.raise_priority_to and _rank(level.raise_priority_to) > _rank(ticket.priority):
            data["priority"] = [ticket.priority, level.raise_priority_to]
            ticket.priority = ticket.changes["priority"] = level.raise_priority_to
            ticket.changes["updated_at"] = at
        if level.move_to_team_id and level.move_to_team_id != ticket.team_id:
            data["team"] = [ticket.team_id, level.move_to_team_id]
            ticket.team_id = ticket.changes["team_id"] = level.move_to_team_id
            ticket.changes["updated_at"] = at
        batch.event(clock.ticket_id, EventKind.SLA_ESCALATED, data, at)
        title = self.escalation_title % {
            "number": clock.number,
            "metric": self.labels[clock.metric],
            "level": level.level,
        }
        users = self.recipients.for_level(level, ticket.team_id)
        batch.notify(users, "sla_escalation", title, clock.ticket_id)


_PRIORITY_RANK = {Priority.COMPLEX: 0, Priority.REGULAR: 1, Priority.URGENT: 2}


def _rank(priority: str) -> int:
    return _PRIORITY_RANK.get(Priority(priority), 0)


def sweep(*, now: dt.datetime | None = None, batch: int = 1000) -> SweepResult:
    """Fire every warning, breach and escalation that is due, each exactly once.

    Side effects: timeline events and in-app notifications in the batch's transaction, their
    email copies queued after its commit; escalation levels with actions change tickets."""
    result = SweepResult()
    run = _Sweep(current_rules().levels)
    while True:
        with transaction.atomic():
            moment = now or timezone.now()
            clocks = _claim(moment, batch)
            if not clocks:
                return result
            result.claimed += len(clocks)
            run.load_batch_rules()
            fired = _Batch()
            for clock in clocks:
                run.fire(clock, moment, fired, result)
            _save_progress(clocks)
            _insert_events(fired.events)
            _update_tickets(fired.tickets)
            notify_each(fired.notices)
        if len(clocks) < batch:
            return result


# --- set-based writes --------------------------------------------------------------------


def _moment(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _save_progress(clocks: list[_DueClock]) -> None:
    """Write the fired counts and next instants of a batch in one statement."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The batch goes as one JSON document: far cheaper to send than a value per
            # parameter (or per array element), and still one statement.
            cursor.execute(
                "UPDATE sla_slaclock AS c SET warnings_fired = v.warnings_fired,"
                " breached_at = v.breached_at, escalation_level = v.escalation_level,"
                " next_event_at = v.next_event_at, due_at = v.due_at"
                " FROM json_to_recordset(%s::json) AS v(id bigint, warnings_fired int,"
                " breached_at timestamptz, escalation_level int, next_event_at timestamptz,"
                " due_at timestamptz)"
                " WHERE c.id = v.id",
                [
                    json.dumps(
                        [
                            {
                                "id": c.id,
                                "warnings_fired": c.warnings_fired,
                                "breached_at": _moment(c.breached_at),
                                "escalation_level": c.escalation_level,
                                "next_event_at": _moment(c.next_event_at),
                                "due_at": _moment(c.due_at),
                            }
                            for c in clocks
                        ]
                    )
                ],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            "UPDATE sla_slaclock SET warnings_fired = %s, breached_at = %s,"
            " escalation_level = %s, next_event_at = %s, due_at = %s WHERE id = %s",
            [
                (
                    c.warnings_fired,
                    adapt(c.breached_at),
                    c.escalation_level,
                    adapt(c.next_event_at),
                    adapt(c.due_at),
                    c.id,
                )
                for c in clocks
            ],
        )


def _insert_events(events: list[tuple[int, str, dict, dt.datetime]]) -> None:
    """Append the batch's timeline events: internal, no actor, (ticket, kind, data, at)."""
    if not events:
        return
    table = connection.ops.quote_name(TicketEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} (ticket_id, kind, field, data, is_internal, created_at)"
                " SELECT e.ticket_id, e.kind, '', e.data, true, e.created_at"
                " FROM json_to_recordset(%s::json)"
                " AS e(ticket_id bigint, kind text, data jsonb, created_at timestamptz)",
                [
                    json.dumps(
                        [
                            {"ticket_id": t, "kind": k, "data": d, "created_at": at.isoformat()}
                            for t, k, d, at in events
                        ]
                    )
                ],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"INSERT INTO {table} (ticket_id, kind, field, data, is_internal, created_at)"
            " VALUES (%s, %s, '', %s, 1, %s)",
            [(ticket, kind, json.dumps(data), adapt(at)) for ticket, kind, data, at in events],
        )


def _update_tickets(tickets: dict[int, _Ticket]) -> None:
    """Priority and team changes made by escalation levels with actions (rare: per ticket)."""
    for ticket_id, ticket in tickets.items():
        if ticket.changes:
            Ticket.objects.filter(pk=ticket_id).update(**ticket.changes)
