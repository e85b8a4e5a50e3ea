"""SLA clocks of tickets: started, paused, resumed, met, re-evaluated, and swept for warnings,
breaches and escalations. Called by the ticket services inside their transactions; every
decision is written to the ticket timeline.

Time on a clock is business time on the target's calendar. A clock keeps the business seconds
used before `running_since`; any point of the clock (a warning fraction, the due instant) is
`running_since` plus the remaining business seconds on the calendar.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from aftercare.accounts.choices import Role
from aftercare.accounts.models import TeamMembership, User
from aftercare.collab.services import Message, notify_many
from aftercare.tickets.choices import EventKind, Priority, Status
from aftercare.tickets.models import Ticket, TicketEvent

from .business_time import BusinessClock
from .calendars import clock_of
from .choices import ClockState, EscalationRole, Metric
from .models import EscalationLevel, SlaClock, SlaPolicy, SlaTarget

RESPONSE_METRICS = (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE)
LIVE_STATES = (ClockState.RUNNING, ClockState.PAUSED)


def _event(ticket: Ticket, kind: str, data: dict, at: dt.datetime, actor=None) -> TicketEvent:
    return TicketEvent(
        ticket=ticket, actor=actor, kind=kind, data=data, is_internal=True, created_at=at
    )


# --- choosing the policy -------------------------------------------------------------------


@dataclass
class _Rules:
    version: tuple
    policies: list[SlaPolicy]
    levels: list[EscalationLevel]
    checked_at: float = 0.0


_rules: _Rules | None = None
# How long a process trusts its cached rules before asking the database whether they changed.
RULES_RECHECK_SECONDS = 5.0


def _rules_version() -> tuple:
    return tuple(
        SlaPolicy.objects.aggregate(
            changed=Max("updated_at"),
            policy_count=Count("id", distinct=True),
            active=Count("id", filter=Q(is_active=True), distinct=True),
            target_count=Count("targets", distinct=True),
            minutes=Sum("targets__minutes"),
            calendar_sum=Sum("targets__calendar_id"),
        ).values()
    ) + tuple(
        EscalationLevel.objects.aggregate(
            n=Count("id"), last=Max("id"), after=Sum("after_minutes")
        ).values()
    )


def _current_rules() -> _Rules:
    """Active policies with their targets, and the escalation levels, cached per process.

    Every few seconds one aggregate query tells whether anything changed since they were
    loaded (admin edits save the policy, so its updated_at moves; targets and levels are
    counted and summed). A change made in this process is seen at once (forget_rules).
    """
    global _rules
    now = time.monotonic()
    if _rules is not None and now - _rules.checked_at < RULES_RECHECK_SECONDS:
        return _rules
    version = _rules_version()
    if _rules is None or _rules.version != version:
        policies = list(
            SlaPolicy.objects.filter(is_active=True).prefetch_related(
                "product_lines", "teams", "targets__calendar"
            )
        )
        levels = list(EscalationLevel.objects.order_by("level").prefetch_related("notify_users"))
        _rules = _Rules(version, policies, levels)
    _rules.checked_at = now
    return _rules


def forget_rules() -> None:
    global _rules
    _rules = None


def policy_for(ticket: Ticket) -> SlaPolicy | None:
    unit = ticket.product_unit
    line_id = unit.product.line_id if unit is not None else None
    for policy in _current_rules().policies:
        if policy.kinds and ticket.kind not in policy.kinds:
            continue
        if policy.priorities and ticket.priority not in policy.priorities:
            continue
        if policy.channels and ticket.channel not in policy.channels:
            continue
        if policy.customer_tiers and ticket.customer.tier not in policy.customer_tiers:
            continue
        lines = [line.pk for line in policy.product_lines.all()]
        if lines and line_id not in lines:
            continue
        teams = [team.pk for team in policy.teams.all()]
        if teams and ticket.team_id not in teams:
            continue
        return policy
    return None


def _target(policy: SlaPolicy | None, metric: str) -> SlaTarget | None:
    if policy is None:
        return None
    return next((t for t in policy.targets.all() if t.metric == metric), None)


# --- clock arithmetic --------------------------------------------------------------------


def _clock(clock: SlaClock) -> BusinessClock:
    return clock_of(clock.calendar)


def point_at(clock: SlaClock, seconds: int) -> dt.datetime | None:
    """Instant at which the clock reaches `seconds` of business time (None while paused)."""
    if clock.state != ClockState.RUNNING or clock.running_since is None:
        return None
    remaining = seconds - clock.used_seconds
    if remaining <= 0:
        return clock.running_since
    return _clock(clock).add_seconds(clock.running_since, remaining)


def used_at(clock: SlaClock, at: dt.datetime) -> int:
    if clock.state != ClockState.RUNNING or clock.running_since is None:
        return clock.used_seconds
    return clock.used_seconds + _clock(clock).elapsed_seconds(
        clock.running_since, max(at, clock.running_since)
    )


def _fractions(clock: SlaClock) -> list[float]:
    raw = clock.policy.warn_at if clock.policy else []
    return sorted(f for f in raw if isinstance(f, int | float) and 0 < f < 1)


def _levels() -> list[EscalationLevel]:
    return _current_rules().levels


def schedule(clock: SlaClock, levels: list[EscalationLevel]) -> None:
    """Set due_at and next_event_at from the clock's state (no database access but the calendar)."""
    target = clock.target_minutes * 60
    if clock.state != ClockState.RUNNING:
        clock.next_event_at = None
        return
    clock.due_at = point_at(clock, target)
    fractions = _fractions(clock)
    if clock.warnings_fired < len(fractions):
        clock.next_event_at = point_at(clock, int(target * fractions[clock.warnings_fired]))
    elif clock.breached_at is None:
        clock.next_event_at = clock.due_at
    elif clock.escalation_level < len(levels):
        level = levels[clock.escalation_level]
        assert clock.due_at is not None
        clock.next_event_at = _clock(clock).add_seconds(clock.due_at, level.after_minutes * 60)
    else:
        clock.next_event_at = None


def _refresh_ticket_due(ticket: Ticket) -> None:
    due = (
        SlaClock.objects.filter(ticket=ticket, state=ClockState.RUNNING)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    if due is not None and due != ticket.due_at:
        Ticket.objects.filter(pk=ticket.pk).update(due_at=due)
        ticket.due_at = due


# --- lifecycle -----------------------------------------------------------------------------


def _new_clock(
    ticket: Ticket,
    policy: SlaPolicy,
    target: SlaTarget,
    at: dt.datetime,
    levels: list[EscalationLevel],
    *,
    used: int = 0,
    started_at=None,
) -> SlaClock:
    clock = SlaClock(
        ticket=ticket,
        metric=target.metric,
        policy=policy,
        calendar=target.calendar,
        target_minutes=target.minutes,
        started_at=started_at or at,
        running_since=at,
        used_seconds=used,
    )
    if ticket.status in policy.pause_statuses:
        clock.state, clock.paused_at, clock.running_since = ClockState.PAUSED, at, None
    schedule(clock, levels)
    return clock


def _start(ticket, policy, target, at, levels, **kwargs) -> SlaClock:
    clock = _new_clock(ticket, policy, target, at, levels, **kwargs)
    clock.save()
    return clock


@dataclass
class ClockPlan:
    """The clocks a new ticket gets, computed before the ticket row is written so that its
    due time goes in with the insert."""

    policy: SlaPolicy | None
    clocks: list[SlaClock]

    @property
    def due_at(self) -> dt.datetime | None:
        dues = [c.due_at for c in self.clocks if c.due_at is not None]
        return min(dues) if dues else None

    def event(self, ticket: Ticket, at: dt.datetime) -> TicketEvent:
        return TicketEvent(
            ticket=ticket,
            kind=EventKind.SLA_APPLIED,
            is_internal=True,
            created_at=at,
            data={
                "policy": self.policy.name if self.policy else None,
                "targets": {
                    c.metric: {
                        "minutes": c.target_minutes,
                        "calendar": c.calendar.slug,
                        "due_at": c.due_at.isoformat() if c.due_at else None,
                    }
                    for c in self.clocks
                },
            },
        )

    def save(self, ticket: Ticket) -> None:
        for clock in self.clocks:
            clock.ticket = ticket
        SlaClock.objects.bulk_create(self.clocks)


def plan_clocks(ticket: Ticket, at: dt.datetime) -> ClockPlan:
    """First response and resolution clocks of the policy that applies to a new ticket."""
    policy = policy_for(ticket)
    levels = _levels()
    clocks = []
    for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
        target = _target(policy, metric)
        if policy is not None and target is not None:
            clocks.append(_new_clock(ticket, policy, target, at, levels))
    return ClockPlan(policy, clocks)


def _live(ticket: Ticket, metrics=None):
    clocks = SlaClock.objects.select_related("calendar", "policy").filter(
        ticket=ticket, state__in=LIVE_STATES
    )
    if metrics:
        clocks = clocks.filter(metric__in=metrics)
    return list(clocks)


def _stop(clock: SlaClock, state: str, at: dt.datetime) -> None:
    if clock.state == ClockState.RUNNING:
        clock.used_seconds = used_at(clock, at)
    clock.state, clock.stopped_at, clock.next_event_at, clock.running_since = state, at, None, None
    if state == ClockState.MET:
        clock.met_at = at
    clock.save()


def record_response(ticket: Ticket, at: dt.datetime, actor=None) -> None:
    """A public reply by a person meets the running response clocks."""
    for clock in _live(ticket, RESPONSE_METRICS):
        _stop(clock, ClockState.MET, at)
        TicketEvent.objects.create(**_met_event(ticket, clock, at, actor))
    _refresh_ticket_due(ticket)


def _met_event(ticket, clock, at, actor) -> dict:
    return dict(
        ticket=ticket,
        actor=actor,
        kind=EventKind.SLA_MET,
        is_internal=True,
        created_at=at,
        data={
            "metric": clock.metric,
            "breached": clock.breached_at is not None,
            "used_minutes": clock.used_seconds // 60,
        },
    )


def record_customer_message(ticket: Ticket, at: dt.datetime) -> None:
    """A customer's message starts the next-response clock, unless a response is owed already."""
    if _live(ticket, RESPONSE_METRICS):
        return
    policy = policy_for(ticket)
    target = _target(policy, Metric.NEXT_RESPONSE)
    if policy is not None and target is not None:
        _start(ticket, policy, target, at, _levels())
        _refresh_ticket_due(ticket)


def record_status(ticket: Ticket, before: str, after: str, at: dt.datetime) -> None:
    """Pause, resume, meet or restart clocks after a status change."""
    levels = _levels()
    if after in (Status.RESOLVED, Status.CLOSED):
        for clock in _live(ticket):
            if clock.metric == Metric.RESOLUTION:
                _stop(clock, ClockState.MET, at)
                TicketEvent.objects.create(**_met_event(ticket, clock, at, None))
            else:
                _stop(clock, ClockState.CANCELLED, at)
        return
    if before in (Status.RESOLVED, Status.CLOSED) and after == Status.OPEN:
        policy = policy_for(ticket)
        target = _target(policy, Metric.RESOLUTION)
        if policy is not None and target is not None:
            # Reopening restarts the resolution promise from now.
            _start(ticket, policy, target, at, levels)
            TicketEvent.objects.create(
                ticket=ticket,
                kind=EventKind.SLA_APPLIED,
                is_internal=True,
                created_at=at,
                data={"policy": policy.name, "restarted": "resolution"},
            )
        _refresh_ticket_due(ticket)
        return
    for clock in _live(ticket):
        pausing = after in (clock.policy.pause_statuses if clock.policy else [])
        if pausing and clock.state == ClockState.RUNNING:
            clock.used_seconds = used_at(clock, at)
            clock.state, clock.paused_at, clock.running_since = ClockState.PAUSED, at, None
        elif not pausing and clock.state == ClockState.PAUSED:
            clock.state, clock.paused_at, clock.running_since = ClockState.RUNNING, None, at
        else:
            continue
        schedule(clock, levels)
        clock.save()
    _refresh_ticket_due(ticket)


def reevaluate(ticket: Ticket, at: dt.datetime, actor=None) -> None:
    """After priority, kind, team or policy changes: replace open clocks whose target changed.

    A clock not yet breached is superseded by a new clock with the new target, counted from
    the same start and keeping the business time already used. A breached clock is never
    rewritten: it keeps running (and escalating) while a target for its metric still applies,
    and is stopped — its breach stays on record — when none applies any more.
    """
    policy = policy_for(ticket)
    levels = _levels()
    for clock in _live(ticket):
        target = _target(policy, clock.metric)
        same = (
            target is not None
            and policy is not None
            and clock.policy_id == policy.pk
            and (clock.target_minutes, clock.calendar_id) == (target.minutes, target.calendar_id)
        )
        if same or (clock.breached_at is not None and target is not None):
            continue
        used = used_at(clock, at)
        breached = clock.breached_at is not None
        _stop(clock, ClockState.CANCELLED if breached else ClockState.SUPERSEDED, at)
        replacement = None
        if policy is not None and target is not None:
            replacement = _start(
                ticket, policy, target, at, levels, used=used, started_at=clock.started_at
            )
        TicketEvent.objects.create(
            ticket=ticket,
            actor=actor,
            kind=EventKind.SLA_APPLIED,
            is_internal=True,
            created_at=at,
            data={
                "metric": clock.metric,
                "policy": policy.name if policy else None,
                "from_minutes": clock.target_minutes,
                "to_minutes": replacement.target_minutes if replacement else None,
                "stopped_breached": breached,
                "due_at": replacement.due_at.isoformat()
                if replacement and replacement.due_at
                else None,
            },
        )
    _refresh_ticket_due(ticket)


def reevaluate_policy_tickets(policy_id: int, at: dt.datetime | None = None) -> int:
    """After an admin changed or deactivated a policy: re-evaluate every ticket with a live
    clock of it. Returns the number of tickets looked at."""
    forget_rules()
    at = at or timezone.now()
    ticket_ids = (
        SlaClock.objects.filter(policy_id=policy_id, state__in=LIVE_STATES)
        .values_list("ticket_id", flat=True)
        .distinct()
    )
    count = 0
    for ticket in Ticket.objects.filter(pk__in=list(ticket_ids)).select_related(
        "customer", "product_unit__product"
    ):
        with transaction.atomic():
            reevaluate(ticket, at)
        count += 1
    return count


def stop_all(ticket: Ticket, at: dt.datetime) -> None:
    for clock in _live(ticket):
        _stop(clock, ClockState.CANCELLED, at)


# --- the sweeper ---------------------------------------------------------------------------


@dataclass
class SweepResult:
    claimed: int = 0
    warnings: int = 0
    breaches: int = 0
    escalations: int = 0


_CLOCK_FIELDS = (
    "id",
    "ticket_id",
    "metric",
    "policy_id",
    "calendar_id",
    "target_minutes",
    "state",
    "started_at",
    "due_at",
    "used_seconds",
    "running_since",
    "paused_at",
    "met_at",
    "breached_at",
    "stopped_at",
    "warnings_fired",
    "escalation_level",
    "next_event_at",
)


def _claim(now: dt.datetime, batch: int) -> list[SlaClock]:
    due = SlaClock.objects.filter(next_event_at__lte=now, state=ClockState.RUNNING).order_by(
        "next_event_at"
    )
    if connection.features.has_select_for_update_skip_locked:
        # Concurrent sweepers take disjoint batches; a crashed one releases its rows.
        due = due.select_for_update(skip_locked=True, of=("self",))
    # Only what firing needs: the ticket's number, team, priority and assignee.
    due = due.select_related("ticket__assignee", "calendar", "policy").only(
        *_CLOCK_FIELDS,
        "calendar",
        "policy",
        "ticket__id",
        "ticket__number",
        "ticket__team_id",
        "ticket__priority",
        "ticket__assignee_id",
        "ticket__assignee__id",
        "ticket__assignee__is_active",
        "ticket__assignee__email",
    )
    return list(due[:batch])


class _Recipients:
    """Who hears about a clock, looked up once per sweep rather than once per clock."""

    def __init__(self) -> None:
        self._admins: list[User] | None = None
        self._leads: dict[int, list[User]] | None = None

    def admins(self) -> list[User]:
        if self._admins is None:
            self._admins = list(User.objects.filter(role=Role.ADMIN, is_active=True))
        return self._admins

    def leads(self, team_id: int | None) -> list[User]:
        if self._leads is None:
            self._leads = {}
            for membership in TeamMembership.objects.filter(
                is_lead=True, user__is_active=True
            ).select_related("user"):
                self._leads.setdefault(membership.team_id, []).append(membership.user)
        return self._leads.get(team_id or 0, [])

    def for_level(self, ticket: Ticket, role: str, level: EscalationLevel | None) -> list[User]:
        if level is not None and role != EscalationRole.TEAM_LEAD:
            return list(level.notify_users.all()) or self.admins()
        return self.leads(ticket.team_id) or self.admins()


def _save_progress(clocks: list[SlaClock]) -> None:
    """Write the fired counts and next instants of a batch in one statement."""
    columns = ("warnings_fired", "breached_at", "escalation_level", "next_event_at", "due_at")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sla_slaclock AS c SET warnings_fired = v.w, breached_at = v.b,"
                " escalation_level = v.e, next_event_at = v.n, due_at = v.d"
                " FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::int[],"
                " %s::timestamptz[], %s::timestamptz[]) AS v(id, w, b, e, n, d)"
                " WHERE c.id = v.id",
                [[c.pk for c in clocks]] + [[getattr(c, f) for c in clocks] for f in columns],
            )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            "UPDATE sla_slaclock SET warnings_fired = %s, breached_at = %s,"
            " escalation_level = %s, next_event_at = %s, due_at = %s WHERE id = %s",
            [[getattr(c, f) for f in columns] + [c.pk] for c in clocks],
        )


def sweep(*, now: dt.datetime | None = None, batch: int = 1000) -> SweepResult:
    """Fire every warning, breach and escalation that is due, each exactly once."""
    result = SweepResult()
    levels = _levels()
    recipients = _Recipients()
    while True:
        with transaction.atomic():
            moment = now or timezone.now()
            clocks = _claim(moment, batch)
            if not clocks:
                return result
            result.claimed += len(clocks)
            events: list[TicketEvent] = []
            outbox: list[Message] = []
            for clock in clocks:
                _fire_due(clock, moment, levels, events, outbox, result, recipients)
            _save_progress(clocks)
            TicketEvent.objects.bulk_create(events, batch_size=1000)
            notify_many(outbox)
        if len(clocks) < batch:
            return result


def _fire_due(
    clock: SlaClock,
    now: dt.datetime,
    levels,
    events,
    outbox,
    result: SweepResult,
    recipients: _Recipients,
) -> None:
    """Advance one clock past every event due by `now`, recording each."""
    ticket = clock.ticket
    fractions = _fractions(clock)
    while clock.next_event_at is not None and clock.next_event_at <= now:
        at = clock.next_event_at
        if clock.warnings_fired < len(fractions):
            fraction = fractions[clock.warnings_fired]
            clock.warnings_fired += 1
            result.warnings += 1
            events.append(
                _event(
                    ticket,
                    EventKind.SLA_WARNING,
                    {
                        "metric": clock.metric,
                        "fraction": fraction,
                        "due_at": clock.due_at.isoformat() if clock.due_at else None,
                    },
                    at,
                )
            )
            people = (
                [ticket.assignee]
                if ticket.assignee
                else recipients.for_level(ticket, EscalationRole.TEAM_LEAD, None)
            )
            outbox.append(
                Message(
                    users=people,
                    kind="sla_warning",
                    ticket=ticket,
                    title=_("[%(number)s] %(metric)s 已用去 %(percent)d%%，截止 %(due)s")
                    % {
                        "number": ticket.number,
                        "metric": Metric(clock.metric).label,
                        "percent": round(fraction * 100),
                        "due": timezone.localtime(clock.due_at).strftime("%m-%d %H:%M")
                        if clock.due_at
                        else "—",
                    },
                )
            )
        elif clock.breached_at is None:
            clock.breached_at = at
            result.breaches += 1
            events.append(_event(ticket, EventKind.SLA_BREACHED, {"metric": clock.metric}, at))
        elif clock.escalation_level < len(levels):
            level = levels[clock.escalation_level]
            clock.escalation_level += 1
            result.escalations += 1
            _escalate(clock, ticket, level, at, events, outbox, recipients)
        schedule(clock, levels)


def _escalate(
    clock, ticket: Ticket, level: EscalationLevel, at, events, outbox, recipients: _Recipients
) -> None:
    data: dict = {"metric": clock.metric, "level": level.level, "notify": level.notify_role}
    changes: dict[str, object] = {}
    if level.raise_priority_to and _rank(level.raise_priority_to) > _rank(ticket.priority):
        data["priority"] = [ticket.priority, level.raise_priority_to]
        changes["priority"] = ticket.priority = level.raise_priority_to
    if level.move_to_team_id and level.move_to_team_id != ticket.team_id:
        data["team"] = [ticket.team_id, level.move_to_team_id]
        changes["team_id"] = ticket.team_id = level.move_to_team_id
    if changes:
        Ticket.objects.filter(pk=ticket.pk).update(**changes, updated_at=at)
    events.append(_event(ticket, EventKind.SLA_ESCALATED, data, at))
    outbox.append(
        Message(
            users=recipients.for_level(ticket, level.notify_role, level),
            kind="sla_escalation",
            ticket=ticket,
            title=_("[%(number)s] %(metric)s 已超时，升级 L%(level)d")
            % {"number": ticket.number, "metric": Metric(clock.metric).label, "level": level.level},
        )
    )


_PRIORITY_RANK = {Priority.COMPLEX: 0, Priority.REGULAR: 1, Priority.URGENT: 2}


def _rank(priority: str) -> int:
    return _PRIORITY_RANK.get(Priority(priority), 0)
