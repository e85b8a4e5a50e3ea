"""SLA clocks of tickets: started, paused, resumed, met and re-evaluated. Called by the ticket
services inside their transactions; every decision is written to the ticket timeline. The
sweeper that fires warnings, breaches and escalations lives in `sweeper` (`sweep` is
re-exported here).

Time on a clock is business time on the target's calendar. A clock keeps the business seconds
used before `running_since`; any point of the clock (a warning fraction, the due instant) is
`running_since` plus the remaining business seconds on the calendar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from aftercare.tickets.choices import EventKind, Status
from aftercare.tickets.models import Ticket, TicketEvent

from .business_time import BusinessClock
from .calendars import clock_of
from .choices import ClockState, Metric
from .models import EscalationLevel, SlaClock, SlaPolicy, SlaTarget
from .rules import current_rules, next_instants, point_after, warning_fractions
from .rules import forget_rules as forget_rules
from .sweeper import SweepResult as SweepResult
from .sweeper import sweep as sweep

RESPONSE_METRICS = (Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE)
LIVE_STATES = (ClockState.RUNNING, ClockState.PAUSED)


# --- choosing the policy -------------------------------------------------------------------


def policy_for(ticket: Ticket) -> SlaPolicy | None:
    unit = ticket.product_unit
    line_id = unit.product.line_id if unit is not None else None
    for policy in current_rules().policies:
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
    return point_after(_clock(clock), clock.running_since, clock.used_seconds, seconds)


def used_at(clock: SlaClock, at: dt.datetime) -> int:
    if clock.state != ClockState.RUNNING or clock.running_since is None:
        return clock.used_seconds
    return clock.used_seconds + _clock(clock).elapsed_seconds(
        clock.running_since, max(at, clock.running_since)
    )


def _levels() -> list[EscalationLevel]:
    return current_rules().levels


def schedule(clock: SlaClock, levels: list[EscalationLevel]) -> None:
    """Set due_at and next_event_at from the clock's state (no database access but the calendar)."""
    if clock.state != ClockState.RUNNING:
        clock.next_event_at = None
        return
    if clock.running_since is None:
        clock.due_at = clock.next_event_at = None
        return
    clock.due_at, clock.next_event_at = next_instants(
        _clock(clock),
        running_since=clock.running_since,
        used_seconds=clock.used_seconds,
        target_seconds=clock.target_minutes * 60,
        fractions=warning_fractions(clock.policy.warn_at if clock.policy else None),
        warnings_fired=clock.warnings_fired,
        breached=clock.breached_at is not None,
        escalation_level=clock.escalation_level,
        level_minutes=[level.after_minutes for level in levels],
    )


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
