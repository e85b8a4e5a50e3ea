"""The SLA rules in force — active policies with their targets, and the escalation levels —
cached per process, and when a running clock's next instants fall under them.

Shared by the clock lifecycle (engine) and the sweeper, so that both compute a clock's due time
and next event in exactly one way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count, Max, Q, Sum

from .business_time import BusinessClock
from .models import EscalationLevel, SlaPolicy


@dataclass
class Rules:
    version: tuple
    policies: list[SlaPolicy]
    levels: list[EscalationLevel]
    checked_at: float = 0.0


_rules: Rules | None = None
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


def current_rules() -> Rules:
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
        _rules = Rules(version, policies, levels)
    _rules.checked_at = now
    return _rules


def forget_rules() -> None:
    global _rules
    _rules = None


def warning_fractions(warn_at: Iterable | None) -> list[float]:
    """A policy's warning fractions in firing order; anything but a number in (0, 1) is ignored."""
    return sorted(f for f in warn_at or [] if isinstance(f, int | float) and 0 < f < 1)


def point_after(
    calendar: BusinessClock, running_since: dt.datetime, used_seconds: int, seconds: int
) -> dt.datetime:
    """Instant at which a running clock reaches `seconds` of business time."""
    remaining = seconds - used_seconds
    if remaining <= 0:
        return running_since
    return calendar.add_seconds(running_since, remaining)


def next_instants(
    calendar: BusinessClock,
    *,
    running_since: dt.datetime,
    used_seconds: int,
    target_seconds: int,
    fractions: Sequence[float],
    warnings_fired: int,
    breached: bool,
    escalation_level: int,
    level_minutes: Sequence[int],
    due_at: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime | None]:
    """(due_at, next_event_at) of a running clock: the next warning, else the breach, else the
    next escalation level (counted in business time from the due instant), else nothing.
    `due_at`, when given, is the due instant already computed from the same arguments."""
    if due_at is None:
        due_at = point_after(calendar, running_since, used_seconds, target_seconds)
    if warnings_fired < len(fractions):
        fraction = fractions[warnings_fired]
        return due_at, point_after(
            calendar, running_since, used_seconds, int(target_seconds * fraction)
        )
    if not breached:
        return due_at, due_at
    if escalation_level < len(level_minutes):
        return due_at, calendar.add_seconds(due_at, level_minutes[escalation_level] * 60)
    return due_at, None
