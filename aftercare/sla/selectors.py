import datetime as dt
import statistics
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .choices import ClockState
from .engine import used_at
from .models import SlaClock


def clocks_prefetch() -> Prefetch:
    return Prefetch(
        "sla_clocks",
        queryset=SlaClock.objects.select_related("calendar")
        .exclude(state__in=[ClockState.SUPERSEDED, ClockState.CANCELLED])
        .order_by("metric", "-id"),
    )


def clock_summary(clocks: list[SlaClock], now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The latest clock per metric, with business minutes remaining (negative when late)."""
    now = now or timezone.now()
    latest: dict[str, SlaClock] = {}
    for clock in clocks:
        if clock.metric not in latest:
            latest[clock.metric] = clock
    summary = []
    for clock in latest.values():
        live = clock.state in (ClockState.RUNNING, ClockState.PAUSED)
        remaining = clock.target_minutes * 60 - (
            used_at(clock, now) if live else clock.used_seconds
        )
        summary.append(
            {
                "metric": clock.metric,
                "state": clock.state,
                "target_minutes": clock.target_minutes,
                "calendar": clock.calendar.slug,
                "due_at": clock.due_at,
                "remaining_minutes": remaining // 60 if live else None,
                "paused": clock.state == ClockState.PAUSED,
                "met_at": clock.met_at,
                "breached_at": clock.breached_at,
            }
        )
    return summary


def compliance(clocks: QuerySet, group_by: str) -> list[dict[str, Any]]:
    """Met %, breached count, median and p90 first response (business minutes) per group."""
    key = {"policy": "policy__name", "team": "ticket__team__name"}[group_by]
    groups: dict[str, dict[str, Any]] = {}
    rows = clocks.exclude(state=ClockState.SUPERSEDED).values_list(
        key, "metric", "state", "breached_at", "used_seconds"
    )
    for name, metric, state, breached_at, used in rows:
        group = groups.setdefault(
            name or "—",
            {"group": name or "—", "clocks": 0, "met": 0, "breached": 0, "first_response": []},
        )
        if state in (ClockState.RUNNING, ClockState.PAUSED) and breached_at is None:
            continue  # still open and within target: neither kept nor broken yet
        group["clocks"] += 1
        if breached_at is None and state == ClockState.MET:
            group["met"] += 1
        if breached_at is not None:
            group["breached"] += 1
        if metric == "first_response" and state == ClockState.MET:
            group["first_response"].append(used / 60)
    result = []
    for group in sorted(groups.values(), key=lambda g: g["group"]):
        minutes = sorted(group.pop("first_response"))
        decided = group["clocks"]
        result.append(
            {
                **group,
                "met_percent": round(100 * group["met"] / decided, 1) if decided else None,
                "first_response_median_minutes": round(statistics.median(minutes), 1)
                if minutes
                else None,
                "first_response_p90_minutes": round(
                    minutes[min(len(minutes) - 1, int(0.9 * len(minutes)))], 1
                )
                if minutes
                else None,
            }
        )
    return result
