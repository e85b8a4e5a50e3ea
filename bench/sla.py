#!/usr/bin/env python3
"""SLA engine benchmark: the three numbers of the SLA issue, measured on this machine.

``due``      due-time computation on one core: ``BusinessClock.add_minutes(start, 720)`` on the
             ``cn-workday`` calendar loaded from a migrated database (so with the Chinese
             holidays and make-up workdays of 2019–2026), for varied start instants across those
             years (holidays, weekends, nights, the edges of working hours). Goal ≥ 50,000/s.
             Baseline in the same process: ``start + timedelta(minutes=720)`` on the same
             instants. A sample of results is checked against a slow reference written here (a
             minute-by-minute walk over the calendar spec).
``sweep``    one ``engine.sweep()`` call with 1,000,000 open clocks of which 10,000 are due (a mix
             of warnings, breaches and escalations), PostgreSQL (goal ≤ 2 s) and SQLite. The
             outcome is verified (clocks claimed, events and notifications written, nothing due
             left, a second sweep claims nothing); the run is repeated on restored data, once
             more with every SQL statement timed and once under cProfile, to show where the time
             goes.
``latency``  warning delivery in the embedded mode: ``manage.py serve`` (web server + huey
             worker threads with the periodic sweeper) on its own SQLite database; tickets are
             opened through the ticket services in this process with a 2-minute first-response
             policy warning at 50 %; latency = when the warning shows up − the warning instant.
             Goal: every warning within 60 s.

Each part runs in a child process of this script (Django is set up there, against the part's own
database). Before each timed section the child waits (up to ``--quiet-wait``) for the 1-minute
load average to fall to ``--max-load`` and records it.

Run it with the project's venv::

    .venv/bin/python bench/sla.py                              # all parts, full sizes (~10 min)
    .venv/bin/python bench/sla.py --parts due
    .venv/bin/python bench/sla.py --parts sweep --backends postgresql --clocks 200000 --due 2000
    .venv/bin/python bench/sla.py --parts sweep --keep                 # keep the 1M-clock databases
    .venv/bin/python bench/sla.py --parts sweep --reuse --compare HEAD~1 --repeats 7
        # on the kept databases (restored to their due state), the current sweep and the one of
        # an earlier commit taking turns in one process: the ratio survives a noisy machine

Writes bench/results/sla.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import json
import os
import pstats
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
import intake  # noqa: E402  (machine info, database and server helpers)

RESULTS_DIR = BENCH_DIR / "results"
WORK_DIR = BENCH_DIR / ".work"
PG_DB = "bench_sla"
PG_URL = f"postgres://{intake.PG_USER}@{intake.PG_HOST}:{intake.PG_PORT}/{PG_DB}"
SQLITE_PATH = REPO_DIR / "var" / "bench_sla.sqlite3"
DUE_DIR = WORK_DIR / "sla_due"
SWEEP_VAR = WORK_DIR / "sla_sweep_var"
LATENCY_DIR = WORK_DIR / "sla_latency"
SETUP_LOG = WORK_DIR / "sla-setup.log"

ALL_PARTS = ("due", "sweep", "latency")
ALL_BACKENDS = ("postgresql", "sqlite")
GOAL_DUE_RATE = 50_000
GOAL_SWEEP_S = 2.0
GOAL_LATENCY_S = 60.0
TARGET_MINUTES = 720
DEFAULT_POLICIES = {"urgent": "紧急", "regular": "常规", "complex": "复杂"}
SHANGHAI = "Asia/Shanghai"


class PartFailed(Exception):
    pass


# --------------------------------------------------------------------------------------------
# shared helpers (parent and children)
# --------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}Z] {msg}", flush=True)


def wait_for_quiet(label: str, max_wait: float, max_load: float) -> dict:
    """Wait (up to max_wait s) until the 1-minute load average is at most max_load; say what it
    was. The load average lags by about a minute, so the busy cores over the last second are
    recorded as well."""
    started = time.time()
    load = os.getloadavg()[0]
    announced = False
    while load > max_load and time.time() - started < max_wait:
        if not announced:
            log(
                f"[{label}] load average {load:.2f} > {max_load}: waiting up to "
                f"{max_wait:.0f}s for the machine to go quiet ({intake.top_foreign_processes()})"
            )
            announced = True
        time.sleep(5)
        load = os.getloadavg()[0]
    one, five, fifteen = os.getloadavg()
    quiet = one <= max_load
    if not quiet:
        log(f"[{label}] WARNING: measuring with load average {one:.2f}")
    return {
        "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "waited_s": round(time.time() - started, 1),
        "quiet": quiet,
        "busy_cores_1s": round(intake.busy_cores(1.0), 2),
    }


class CpuSpan:
    """Machine-wide busy cores and this process's CPU over a timed section."""

    def __enter__(self) -> CpuSpan:
        self.m0 = intake._machine_ticks()
        self.p0 = time.process_time()
        self.w0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        m1 = intake._machine_ticks()
        wall = max(time.perf_counter() - self.w0, 1e-9)
        idle, total = m1[0] - self.m0[0], m1[1] - self.m0[1]
        ncpu = os.cpu_count() or 1
        self.result = {
            "wall_s": round(wall, 3),
            "process_cpu_s": round(time.process_time() - self.p0, 3),
            # coarse (1/100 s ticks): only meaningful for sections of a second or more
            "machine_busy_cores": round((1 - idle / total) * ncpu, 2) if total else None,
        }


def django_env(database_url: str, var_dir: Path, *, debug: bool = False) -> dict:
    env = os.environ.copy()
    env.update(
        {
            "DATABASE_URL": database_url,
            "AFTERCARE_VAR_DIR": str(var_dir),
            "AFTERCARE_ALLOW_DEV_SECRET": "1",
            "DJANGO_DEBUG": "1" if debug else "0",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    # the embedded defaults: huey on SQLite, mail to files
    for name in ("REDIS_URL", "DATABASE_URL_TEST", "EMAIL_HOST", "EMAIL_BACKEND"):
        env.pop(name, None)
    return env


def manage(args: list[str], env: dict, timeout: float = 1800) -> str:
    """Run a manage.py command; its output goes to the setup log too."""
    cmd = [sys.executable, "manage.py", *args]
    started = time.perf_counter()
    r = subprocess.run(
        cmd, cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with open(SETUP_LOG, "a") as f:
        f.write(f"$ {' '.join(cmd)}  [{env['DATABASE_URL']}]\n{r.stdout}{r.stderr[-4000:]}\n")
    if r.returncode != 0:
        raise PartFailed(
            f"manage.py {' '.join(args)} failed ({r.returncode}):\n"
            + "\n".join((r.stdout + r.stderr).splitlines()[-30:])
        )
    log(f"manage.py {' '.join(args)}: {time.perf_counter() - started:.1f}s")
    return r.stdout


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()


def run_child(part: str, backend: str, env: dict, args: argparse.Namespace) -> dict:
    """Run one part in a child process of this script (Django set up there); return its JSON."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=WORK_DIR, delete=False) as f:
        out = Path(f.name)
        json.dump(
            {"part": part, "backend": backend, "args": vars(args), "out": str(out)}, f, default=str
        )
    try:
        r = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child-config", str(out)],
            cwd=REPO_DIR,
            env=env,
            check=False,
        )
        doc = json.loads(out.read_text() or "{}")
        if r.returncode != 0 or "error" in doc:
            raise PartFailed(doc.get("error") or f"child exited with {r.returncode}")
        return doc
    finally:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()


def child_main(config_path: str) -> int:
    """Entry of a child process: set up Django against DATABASE_URL and run one part."""
    path = Path(config_path)
    config = json.loads(path.read_text())
    args = argparse.Namespace(**config["args"])
    os.chdir(REPO_DIR)
    sys.path.insert(0, str(REPO_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    runners = {"due": child_due, "sweep": child_sweep, "latency": child_latency}
    try:
        result = runners[config["part"]](args, config["backend"])
        code = 0
    except Exception as exc:  # reported to the parent, which records it
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}", "part": config["part"]}
        code = 1
    path.write_text(json.dumps(result, ensure_ascii=False, default=str))
    return code


# --------------------------------------------------------------------------------------------
# part 1: due-time computation
# --------------------------------------------------------------------------------------------


def reference_add_minutes(spec, start: dt.datetime, minutes: int) -> dt.datetime:
    """The slow, obvious answer: walk the calendar minute by minute from `start`, counting the
    working seconds, until `minutes` have been counted. Only days without any working hours are
    skipped whole. Whole-second instants; working hours are given to the minute."""
    from zoneinfo import ZoneInfo

    if spec.always_open:
        return start + dt.timedelta(minutes=minutes)
    zone = ZoneInfo(spec.time_zone)
    t = int(start.timestamp())
    remaining = minutes * 60
    while remaining > 0:
        local = dt.datetime.fromtimestamp(t, zone)
        hours = spec.hours_on(local.date())
        if not hours:
            midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), zone)
            t = int(midnight.timestamp())
            continue
        minute = local.hour * 60 + local.minute
        working = any(
            a.hour * 60 + a.minute <= minute < ((b.hour * 60 + b.minute) or 24 * 60)
            for a, b in hours
        )
        step = 60 - local.second
        if working:
            take = min(step, remaining)
            remaining -= take
            t += take
        else:
            t += step
    return dt.datetime.fromtimestamp(t, dt.UTC).astimezone(start.tzinfo)


def _category(spec, zone, moment: dt.datetime) -> str:
    local = moment.astimezone(zone)
    day = local.date()
    if day in spec.off_days:
        return "holiday"
    if day in spec.extra_workdays:
        return "makeup_workday"
    if day.weekday() >= 5:
        return "weekend"
    minute = local.hour * 60 + local.minute
    for a, b in spec.hours_on(day):
        if a.hour * 60 + a.minute <= minute < ((b.hour * 60 + b.minute) or 24 * 60):
            return "working_hours"
    return "weekday_off_hours"


def make_instants(spec, n: int, seed: int) -> list[dt.datetime]:
    """Start instants across 2019–2026: 70 % uniform over the years (so nights and weekends in
    their natural share), 15 % on holidays, 5 % on make-up workdays, 10 % within two minutes of
    opening or closing time (a third of those exactly on it). Whole seconds; 60 % in UTC (what
    timezone.now() gives), 40 % in Asia/Shanghai."""
    from zoneinfo import ZoneInfo

    rng = random.Random(seed)
    zone = ZoneInfo(spec.time_zone)
    first = dt.datetime(2019, 1, 1, tzinfo=zone)
    last = dt.datetime(2027, 1, 1, tzinfo=zone)
    lo, hi = int(first.timestamp()), int(last.timestamp()) - 1
    in_range = lambda days: sorted(d for d in days if 2019 <= d.year <= 2026)  # noqa: E731
    holidays, makeups = in_range(spec.off_days), in_range(spec.extra_workdays)
    span_days = (last.date() - first.date()).days
    edges = sorted({t for hours in spec.weekly.values() for iv in hours for t in iv})
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.70 or not holidays:
            t = rng.randint(lo, hi)
        elif r < 0.85 or not makeups:
            day = rng.choice(holidays)
            t = int(dt.datetime.combine(day, dt.time(0), zone).timestamp()) + rng.randrange(86400)
        elif r < 0.90:
            day = rng.choice(makeups)
            t = int(dt.datetime.combine(day, dt.time(0), zone).timestamp()) + rng.randrange(86400)
        else:
            day = first.date() + dt.timedelta(days=rng.randrange(span_days))
            edge = rng.choice(edges) if edges else dt.time(9)
            base = int(dt.datetime.combine(day, edge, zone).timestamp())
            t = base if rng.random() < 1 / 3 else base + rng.randint(-120, 120)
        tz = dt.UTC if rng.random() < 0.6 else zone
        out.append(dt.datetime.fromtimestamp(t, tz))
    return out


def child_due(args, backend: str) -> dict:
    from aftercare.sla.calendars import clock_for

    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    setup_started = time.perf_counter()
    clock = clock_for("cn-workday")  # from the migrated database, with the holidays
    spec = clock.spec
    load_s = time.perf_counter() - setup_started
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(spec.time_zone)
    starts = make_instants(spec, args.instants, seed=20261126)
    categories = Counter(_category(spec, zone, s) for s in starts)
    minutes = TARGET_MINUTES
    add = clock.add_minutes
    delta = dt.timedelta(minutes=minutes)

    # The first pass builds the interval table (years materialised on demand): timed apart.
    t0 = time.perf_counter()
    dues = [add(s, minutes) for s in starts]
    first_pass_s = time.perf_counter() - t0

    def timed_add() -> float:
        t = time.perf_counter()
        for s in starts:
            add(s, minutes)
        return time.perf_counter() - t

    def timed_baseline() -> float:
        t = time.perf_counter()
        for s in starts:
            s + delta
        return time.perf_counter() - t

    quiet = wait_for_quiet("due", args.quiet_wait, args.max_load)
    ours, base = [], []
    with CpuSpan() as span:
        for _ in range(args.repeats_due):
            ours.append(timed_add())
            base.append(timed_baseline())
    n = len(starts)
    rate_runs = [n / s for s in ours]
    base_runs = [n / s for s in base]
    rate = statistics.median(rate_runs)
    base_rate = statistics.median(base_runs)

    # Correctness: the reference walk on a sample (every category represented), and the
    # engine's own inverse (elapsed business minutes between start and due) on every instant.
    rng = random.Random(7)
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(starts):
        by_cat[_category(spec, zone, s)].append(i)
    sample: set[int] = set()
    floor = max(1, args.verify // 20)
    for idx in by_cat.values():
        sample.update(rng.sample(idx, min(len(idx), floor)))
    rest = [i for i in range(n) if i not in sample]
    sample.update(rng.sample(rest, max(0, min(len(rest), args.verify - len(sample)))))
    t0 = time.perf_counter()
    mismatches = []
    for i in sorted(sample):
        expected = reference_add_minutes(spec, starts[i], minutes)
        if expected != dues[i] or expected.utcoffset() != dues[i].utcoffset():
            mismatches.append(
                {
                    "start": starts[i].isoformat(),
                    "engine": dues[i].isoformat(),
                    "reference": expected.isoformat(),
                }
            )
    verify_s = time.perf_counter() - t0
    inverse_bad = sum(
        1 for s, d in zip(starts, dues, strict=True) if clock.elapsed_minutes(s, d) != minutes
    )
    result = {
        "calendar": "cn-workday",
        "minutes": minutes,
        "instants": n,
        "instant_range": [min(starts).isoformat(), max(starts).isoformat()],
        "instant_categories": dict(sorted(categories.items())),
        "calendar_off_days": len(spec.off_days),
        "calendar_makeup_workdays": len(spec.extra_workdays),
        "pinned_cpu": cpu,
        "load_calendar_s": round(load_s, 4),
        "first_pass_s": round(first_pass_s, 3),
        "repeats": args.repeats_due,
        "rate_per_s": round(rate),
        "rate_runs": [round(r) for r in rate_runs],
        "baseline": "start + timedelta(minutes=720) on the same instants, same loop",
        "baseline_rate_per_s": round(base_rate),
        "baseline_runs": [round(r) for r in base_runs],
        "slowdown_vs_baseline": round(base_rate / rate, 1),
        "us_per_due": round(1e6 / rate, 2),
        "goal_per_s": GOAL_DUE_RATE,
        "met": rate >= GOAL_DUE_RATE,
        "verified": len(sample),
        "verify_s": round(verify_s, 1),
        "verify_mismatches": len(mismatches),
        "mismatch_examples": mismatches[:5],
        "inverse_checked": n,
        "inverse_mismatches": inverse_bad,
        "quiet": quiet,
        "cpu": span.result,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    log(
        f"[due] {rate:,.0f}/s (baseline {base_rate:,.0f}/s, {base_rate / rate:.0f}x), "
        f"{len(sample)} verified, {len(mismatches)} mismatches, inverse bad {inverse_bad}"
    )
    return result


# --------------------------------------------------------------------------------------------
# part 2: the sweep
# --------------------------------------------------------------------------------------------

# How the due clocks are due: (label, share, warnings_fired, escalation index or None).
# "breach": warnings done, not breached yet; "escalation k": breached, levels[k] pending.
DUE_MIX = (
    ("warning_75", 0.30, 0, None),
    ("warning_90", 0.20, 1, None),
    ("breach", 0.25, 2, None),
    ("escalation_L2", 0.15, 2, 1),
    ("escalation_L3", 0.10, 2, 2),
)
CLOCK_COLUMNS = (
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
    "breached_at",
    "warnings_fired",
    "escalation_level",
    "next_event_at",
    "created_at",
)
RESTORE_COLUMNS = ("warnings_fired", "breached_at", "escalation_level", "next_event_at", "due_at")


def _back(clock, end: dt.datetime, seconds: int, lo_days: int = 240) -> dt.datetime:
    """The latest instant from which `seconds` of business time have passed by `end`."""
    if clock.spec.always_open:
        return end - dt.timedelta(seconds=seconds)
    end = end.astimezone(dt.UTC)
    lo, hi = -lo_days * 86400, 0  # offsets from end; f(lo) >= seconds, find the max such offset
    base = end
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if clock.elapsed_seconds(base + dt.timedelta(seconds=mid), end) >= seconds:
            lo = mid
        else:
            hi = mid - 1
    return base + dt.timedelta(seconds=lo)


class SweepWorld:
    """The database's policies, levels, users and tickets as the sweep will see them."""

    def __init__(self):
        from aftercare.accounts.choices import Role
        from aftercare.accounts.models import TeamMembership, User
        from aftercare.sla.calendars import clock_of
        from aftercare.sla.models import EscalationLevel, SlaPolicy
        from aftercare.tickets.models import Ticket

        self.policies = {}
        for priority, name in DEFAULT_POLICIES.items():
            policy = (
                SlaPolicy.objects.filter(name=name).prefetch_related("targets__calendar").first()
            )
            if policy is None:
                raise PartFailed(f"default SLA policy {name} missing (migration 0004?)")
            self.policies[priority] = policy
        self.targets = {
            (p, t.metric): t for p, pol in self.policies.items() for t in pol.targets.all()
        }
        self.levels = list(
            EscalationLevel.objects.order_by("level").prefetch_related("notify_users")
        )
        self.clock_of = clock_of
        self.active = dict(User.objects.values_list("id", "is_active"))
        self.admins = set(
            User.objects.filter(role=Role.ADMIN, is_active=True).values_list("id", flat=True)
        )
        self.leads: dict[int, list[int]] = defaultdict(list)
        for team_id, user_id in TeamMembership.objects.filter(is_lead=True).values_list(
            "team_id", "user_id"
        ):
            self.leads[team_id].append(user_id)
        self.tickets = list(
            Ticket.objects.values_list("id", "status", "priority", "team_id", "assignee_id")
        )
        if not self.tickets:
            raise PartFailed("no tickets: generate_tickets first")

    def _lead_recipients(self, team_id) -> int:
        leads = self.leads.get(team_id or 0)
        if leads:
            return sum(1 for u in set(leads) if self.active.get(u))
        return len(self.admins)

    def warning_recipients(self, ticket) -> int:
        _id, _status, _priority, team_id, assignee_id = ticket
        if assignee_id:
            return 1 if self.active.get(assignee_id) else 0
        return self._lead_recipients(team_id)

    def escalation_recipients(self, ticket, level) -> int:
        if level.notify_role == "team_lead":
            return self._lead_recipients(ticket[3])
        users = {u.pk for u in level.notify_users.all()}
        if users:
            return sum(1 for u in users if self.active.get(u))
        return len(self.admins)


def build_clocks(world: SweepWorld, args, now: dt.datetime, backend: str) -> dict:
    """Insert args.clocks SlaClock rows: args.due of them due at `now`, the rest later."""
    from django.db import connection, transaction

    from aftercare.sla import engine
    from aftercare.sla.models import SlaClock

    rng = random.Random(2026)
    n_due = args.due
    n_future = args.clocks - n_due
    if n_future < 0:
        raise PartFailed("--due is larger than --clocks")
    preferred = [t for t in world.tickets if t[1] in ("new", "open")]
    others = [t for t in world.tickets if t[1] not in ("new", "open")]
    rng.shuffle(preferred)
    rng.shuffle(others)
    chosen = (preferred + others)[:n_due]
    if len(chosen) < n_due:
        raise PartFailed(f"{n_due} due clocks need as many tickets; only {len(chosen)}")

    levels = world.levels
    due_rows: list[tuple] = []
    expected: Counter = Counter()
    mix_counts: Counter = Counter()
    shares = [m[1] for m in DUE_MIX]
    for ticket in chosen:
        label, _share, fired, esc = rng.choices(DUE_MIX, weights=shares)[0]
        priority = ticket[2] if ticket[2] in world.policies else "regular"
        policy = world.policies[priority]
        target = world.targets[(priority, "first_response")]
        clock = world.clock_of(target.calendar)
        target_s = target.minutes * 60
        fractions = sorted(f for f in policy.warn_at if 0 < f < 1)
        if label.startswith("warning") and fired >= len(fractions):
            label, fired, esc = "breach", len(fractions), None
        if label.startswith("warning"):
            offset = int(target_s * fractions[fired])
        elif esc is None:
            offset = target_s
        else:
            offset = target_s + levels[esc].after_minutes * 60
        # The event is a little before `now` in business time (less than the gap to the
        # clock's next event, so each clock fires what is listed below and nothing more).
        lag_max = 8 * 60 if clock.spec.always_open else 45 * 60
        event_at = _back(clock, now, rng.randint(1, lag_max))
        start = _back(clock, event_at, offset)
        row = SlaClock(
            ticket_id=ticket[0],
            metric="first_response",
            policy=policy,
            calendar=target.calendar,
            target_minutes=target.minutes,
            state="running",
            started_at=start,
            running_since=start,
            used_seconds=0,
            warnings_fired=fired,
            escalation_level=0 if esc is None else esc,
            created_at=start,
        )
        if esc is not None:
            row.breached_at = clock.add_seconds(start, target_s)
        engine.schedule(row, levels)
        if row.next_event_at is None or row.next_event_at > now:
            raise PartFailed(f"bench bug: clock {label} not due ({row.next_event_at} > {now})")
        # what the sweep must do with it
        kinds = []
        if label.startswith("warning"):
            kinds.append("warning")
            expected["notifications"] += world.warning_recipients(ticket)
            after = (fired + 1, 0, None)
        elif esc is None:
            kinds.append("breach")
            after = (fired, 0, row.due_at)
            # a level due at the breach itself fires in the same sweep
            k = 0
            while k < len(levels) and levels[k].after_minutes == 0:
                kinds.append("escalation")
                expected["notifications"] += world.escalation_recipients(ticket, levels[k])
                k += 1
            after = (fired, k, row.due_at)
        else:
            kinds.append("escalation")
            expected["notifications"] += world.escalation_recipients(ticket, levels[esc])
            after = (fired, esc + 1, row.breached_at)
        # sanity of the data: after those events the clock's next one is later than now
        probe = SlaClock(
            **{
                f: getattr(row, f)
                for f in (
                    "policy",
                    "calendar",
                    "target_minutes",
                    "state",
                    "running_since",
                    "used_seconds",
                )
            }
        )
        probe.warnings_fired, probe.escalation_level, probe.breached_at = after
        engine.schedule(probe, levels)
        if probe.next_event_at is not None and probe.next_event_at <= now:
            raise PartFailed(f"bench bug: clock {label} would fire again at {probe.next_event_at}")
        for k in kinds:
            expected[k] += 1
        mix_counts[label] += 1
        mix_counts[f"calendar:{target.calendar.slug}"] += 1
        due_rows.append(tuple(getattr(row, c) for c in CLOCK_COLUMNS))

    # The other clocks: running, next event between a minute and 30 days ahead.
    metrics = ("first_response", "next_response", "resolution")
    combos = [(p, m) for p in ("regular",) * 7 + ("complex",) * 2 + ("urgent",) for m in metrics]
    target_of = {
        (p, m): (
            world.policies[p].pk,
            world.targets[(p, m)].calendar_id,
            world.targets[(p, m)].minutes,
        )
        for p, m in set(combos)
    }
    ticket_ids = [t[0] for t in world.tickets]
    is_sqlite = backend == "sqlite"

    def moment(value):
        if value is None or not is_sqlite:
            return value
        return str(value.astimezone(dt.UTC).replace(tzinfo=None))

    def future_row():
        p, m = combos[rng.randrange(len(combos))]
        policy_id, calendar_id, minutes = target_of[(p, m)]
        started = now - dt.timedelta(seconds=rng.randrange(5 * 86400))
        nxt = now + dt.timedelta(seconds=rng.randint(60, 30 * 86400))
        due = nxt + dt.timedelta(seconds=rng.randrange(5 * 86400))
        return (
            rng.choice(ticket_ids),
            m,
            policy_id,
            calendar_id,
            minutes,
            "running",
            started,
            due,
            0,
            started,
            None,
            rng.randrange(2),
            0,
            nxt,
            started,
        )

    # the due ones at random places among the others, as they would be in a real table
    due_at_positions = sorted(rng.sample(range(args.clocks), n_due))
    columns = ", ".join(f'"{c}"' for c in CLOCK_COLUMNS)
    t0 = time.perf_counter()
    chunk = 50_000
    written = 0
    due_iter = iter(due_rows)
    pos_i = 0
    with transaction.atomic():
        if is_sqlite:
            connection.ensure_connection()
            raw = connection.connection
            raw.execute("PRAGMA cache_size = -262144")
            insert = (
                f'INSERT INTO "sla_slaclock" ({columns}) VALUES '
                f"({', '.join('?' * len(CLOCK_COLUMNS))})"
            )
        while written < args.clocks:
            size = min(chunk, args.clocks - written)
            rows = []
            for i in range(written, written + size):
                if pos_i < n_due and due_at_positions[pos_i] == i:
                    rows.append(next(due_iter))
                    pos_i += 1
                else:
                    rows.append(future_row())
            if is_sqlite:
                raw.executemany(
                    insert,
                    [
                        tuple(moment(v) if isinstance(v, dt.datetime) else v for v in r)
                        for r in rows
                    ],
                )
            else:
                with (
                    connection.cursor() as cursor,
                    cursor.cursor.copy(f'COPY "sla_slaclock" ({columns}) FROM STDIN') as copy,
                ):
                    for r in rows:
                        copy.write_row(r)
            written += size
        # the tickets of running first-response clocks are open
        due_ticket_ids = [t[0] for t in chosen]
        with connection.cursor() as cursor:
            for i in range(0, len(due_ticket_ids), 5000):
                part = due_ticket_ids[i : i + 5000]
                cursor.execute(
                    "UPDATE tickets_ticket SET status = 'open' WHERE status NOT IN ('new', 'open')"
                    f" AND id IN ({', '.join(['%s'] * len(part))})",
                    part,
                )
    insert_s = time.perf_counter() - t0
    log(f"[sweep/{backend}] {args.clocks:,} clocks inserted in {insert_s:.1f}s")
    return {
        "expected": dict(expected),
        "mix": dict(sorted(mix_counts.items())),
        "insert_s": round(insert_s, 1),
        "due_ticket_ids": sorted(due_ticket_ids),
    }


def maintain(backend: str) -> float:
    """ANALYZE (PostgreSQL: VACUUM ANALYZE and a CHECKPOINT, so no dead rows or dirty buffers of
    the setup fall into the timed window)."""
    from django.db import connection

    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        if backend == "postgresql":
            for table in (
                "sla_slaclock",
                "tickets_ticket",
                "tickets_ticketevent",
                "collab_notification",
            ):
                cursor.execute(f'VACUUM (ANALYZE) "{table}"')
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return round(time.perf_counter() - t0, 2)


def db_state(now) -> dict:
    from django.db.models import Count, Max

    from aftercare.collab.models import Notification
    from aftercare.sla.models import SlaClock
    from aftercare.tickets.models import TicketEvent

    return {
        "due_left": SlaClock.objects.filter(next_event_at__lte=now, state="running").count(),
        "event_max": TicketEvent.objects.aggregate(m=Max("id"))["m"] or 0,
        "notification_max": Notification.objects.aggregate(m=Max("id"))["m"] or 0,
        "clocks": SlaClock.objects.aggregate(n=Count("id"))["n"],
    }


def verify_sweep(result, before: dict, now, built: dict, due_snapshot: list[tuple]) -> dict:
    from django.db.models import Count

    from aftercare.collab.models import Notification
    from aftercare.sla.models import SlaClock
    from aftercare.tickets.models import TicketEvent

    exp = built["expected"]
    kinds = dict(
        TicketEvent.objects.filter(id__gt=before["event_max"])
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    event_tickets = set(
        TicketEvent.objects.filter(id__gt=before["event_max"])
        .values_list("ticket_id", flat=True)
        .distinct()
    )
    notifications = Notification.objects.filter(id__gt=before["notification_max"]).count()
    due_left = SlaClock.objects.filter(next_event_at__lte=now, state="running").count()
    ids = [r[0] for r in due_snapshot]
    after = {}
    for i in range(0, len(ids), 5000):
        after.update(
            (r[0], r[1:])
            for r in SlaClock.objects.filter(id__in=ids[i : i + 5000]).values_list(
                "id", "warnings_fired", "breached_at", "escalation_level"
            )
        )
    fired_w = sum(after[r[0]][0] - r[1] for r in due_snapshot)
    new_breaches = sum(1 for r in due_snapshot if r[2] is None and after[r[0]][1] is not None)
    fired_e = sum(after[r[0]][2] - r[3] for r in due_snapshot)
    checks = {
        "claimed == due": result.claimed == len(due_snapshot),
        "no due clock left": due_left == 0,
        "sla_warning events": kinds.get("sla_warning", 0) == exp.get("warning", 0),
        "sla_breached events": kinds.get("sla_breached", 0) == exp.get("breach", 0),
        "sla_escalated events": kinds.get("sla_escalated", 0) == exp.get("escalation", 0),
        "no other events": set(kinds) <= {"sla_warning", "sla_breached", "sla_escalated"},
        "result counters": (result.warnings, result.breaches, result.escalations)
        == (exp.get("warning", 0), exp.get("breach", 0), exp.get("escalation", 0)),
        "notifications": notifications == exp.get("notifications", 0),
        "events only on due tickets": event_tickets == set(built["due_ticket_ids"]),
        "clock counters advanced": (fired_w, new_breaches, fired_e)
        == (exp.get("warning", 0), exp.get("breach", 0), exp.get("escalation", 0)),
    }
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "claimed": result.claimed,
        "events": kinds,
        "notifications": notifications,
        "due_left": due_left,
        "expected": exp,
    }


def restore(backend: str, before: dict, due_snapshot: list[tuple]) -> float:
    """Put the due clocks back as they were and delete what the sweep wrote."""
    from django.db import connection, transaction

    def value(v):
        # raw SQL on SQLite: what Django stores for an aware datetime (naive UTC text)
        if backend == "sqlite" and isinstance(v, dt.datetime):
            return str(v.astimezone(dt.UTC).replace(tzinfo=None))
        return v

    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM tickets_ticketevent WHERE id > %s", [before["event_max"]])
        cursor.execute(
            "DELETE FROM collab_notification WHERE id > %s", [before["notification_max"]]
        )
        sets = ", ".join(f'"{c}" = %s' for c in RESTORE_COLUMNS)
        cursor.executemany(
            f'UPDATE "sla_slaclock" SET {sets} WHERE id = %s',
            # snapshot rows: (id, *RESTORE_COLUMNS)
            [tuple(value(v) for v in (*r[1:], r[0])) for r in due_snapshot],
        )
    maintain(backend)
    return round(time.perf_counter() - t0, 1)


class QueryTimer:
    """connection.execute_wrapper: count and time every statement by what it is for."""

    def __init__(self):
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    @staticmethod
    def classify(sql: str) -> str:
        head = sql.lstrip()[:12].upper()
        if head.startswith("SELECT") and 'FROM "sla_slaclock"' in sql:
            return (
                "claim clocks (SELECT … FOR UPDATE SKIP LOCKED)"
                if "FOR UPDATE" in sql
                else ("claim clocks (SELECT)")
            )
        if "accounts_teammembership" in sql:
            return "recipients: team leads (once per sweep)"
        if head.startswith("SELECT") and 'FROM "accounts_user"' in sql:
            return "recipients: admins (once per sweep)"
        if head.startswith("SELECT") and 'FROM "sla_slapolicy"' in sql and "MAX(" not in sql:
            return "rules: policies' warning fractions (per batch)"
        if head.startswith("SELECT") and 'FROM "sla_businesscalendar"' in sql:
            return "rules: calendars (per batch)"
        if head.startswith("UPDATE") and "sla_slaclock" in sql:
            return "update clocks (one UPDATE per batch)"
        if head.startswith("INSERT") and "tickets_ticketevent" in sql:
            return "insert events"
        if head.startswith("INSERT") and "collab_notification" in sql:
            return "insert notifications"
        if head.startswith("UPDATE") and "tickets_ticket" in sql:
            return "update tickets (escalation actions)"
        return "other: " + " ".join(sql.split()[:3])[:40]

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            s = self.stats[self.classify(sql)]
            s[0] += 1
            s[1] += time.perf_counter() - t


def _short(path: str) -> str:
    for marker in ("site-packages/", str(REPO_DIR) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def profile_summary(stats: pstats.Stats, top: int = 20) -> dict:
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(file)}:{line}({func})",
                "calls": nc,
                "tottime_s": round(tt, 4),
                "cumtime_s": round(ct, 4),
            }
        )
    by_cum = sorted(rows, key=lambda r: -r["cumtime_s"])
    by_tot = sorted(rows, key=lambda r: -r["tottime_s"])
    interesting = [
        r
        for r in by_cum
        if "aftercare/" in r["function"]
        or "bulk_update" in r["function"]
        or "bulk_create" in r["function"]
        or "_fetch_all" in r["function"]
        or ("execute" in r["function"] and "django" in r["function"])
    ]
    return {"by_cumtime": interesting[:top], "by_tottime": by_tot[:top]}


def state_path(backend: str) -> Path:
    return WORK_DIR / f"sla-sweep-{backend}-state.json"


def save_state(backend: str, state: dict) -> None:
    """What it takes to put a kept database back before its due sweep (see restore())."""
    state_path(backend).write_text(json.dumps(state, default=str))


def load_state(backend: str) -> dict:
    state = json.loads(state_path(backend).read_text())

    def moment(v):
        return None if v is None else dt.datetime.fromisoformat(v)

    state["now"] = moment(state["now"])
    # snapshot rows: (id, warnings_fired, breached_at, escalation_level, next_event_at, due_at)
    state["due_snapshot"] = [
        (r[0], r[1], moment(r[2]), r[3], moment(r[4]), moment(r[5])) for r in state["due_snapshot"]
    ]
    return state


def engine_at(rev: str):
    """The sweep as it was at git revision `rev` (aftercare/sla/sweeper.py, or engine.py before
    the sweeper had a module of its own), loaded beside the current one (same models, calendars
    and database), so both can be timed in one process on the same data."""
    import importlib.util

    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=REPO_DIR, capture_output=True, text=True
    ).stdout.strip()
    for module_path in ("aftercare/sla/sweeper.py", "aftercare/sla/engine.py"):
        shown = subprocess.run(
            ["git", "show", f"{sha}:{module_path}"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode == 0:
            break
    else:
        raise PartFailed(f"no sweeper or engine module at {rev}")
    path = WORK_DIR / f"sla_{Path(module_path).stem}_{sha}.py"
    path.write_text(shown.stdout)
    name = f"aftercare.sla._{Path(module_path).stem}_{sha}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return sha, module


def child_sweep(args, backend: str) -> dict:
    from django.db import connection
    from django.utils import timezone

    from aftercare.sla import engine
    from aftercare.sla.models import SlaClock

    t0 = time.perf_counter()
    world = SweepWorld()
    dirty = False
    if getattr(args, "reused", False):
        state = load_state(backend)
        now, before, built = state["now"], state["before"], state["built"]
        due_snapshot = state["due_snapshot"]
        if len(due_snapshot) != args.due:
            raise PartFailed(
                f"the kept database has {len(due_snapshot)} due clocks, not {args.due}"
            )
        restore(backend, before, due_snapshot)
        maintain_s = None
        log(f"[sweep/{backend}] reusing the kept database (due mix {built['mix']})")
    else:
        now = timezone.now().replace(microsecond=0)
        built = build_clocks(world, args, now, backend)
        maintain_s = maintain(backend)
        log(f"[sweep/{backend}] ANALYZE etc. {maintain_s}s; due mix {built['mix']}")
        due_snapshot = [
            tuple(r)
            for r in SlaClock.objects.filter(next_event_at__lte=now, state="running")
            .order_by("id")
            .values_list("id", *RESTORE_COLUMNS)
        ]
        before = db_state(now)
        if args.keep or args.reuse:
            save_state(
                backend,
                {"now": now, "before": before, "built": built, "due_snapshot": due_snapshot},
            )
    if len(due_snapshot) != args.due:
        raise PartFailed(f"{len(due_snapshot)} clocks due after the build, not {args.due}")
    if db_state(now)["due_left"] != args.due:
        raise PartFailed("the due clocks are not as built")
    sweeps = [("current", engine.sweep)]
    compare = None
    if args.compare:
        sha, old = engine_at(args.compare)
        compare = {"rev": sha, "runs": []}
        sweeps.append((sha, old.sweep))
    # A long-running worker has its rules and calendars cached and its connection open: warm
    # them with a sweep of an instant a year ago (claims nothing).
    for _label, sweep in sweeps:
        warm = sweep(now=now - dt.timedelta(days=365))
        assert warm.claimed == 0
    setup_s = time.perf_counter() - t0

    runs = []
    verification = None
    for i in range(args.repeats):
        # With --compare, the current and the old sweep take turns going first.
        for label, sweep in sweeps if i % 2 == 0 else sweeps[::-1]:
            if dirty:
                restore(backend, before, due_snapshot)
                if db_state(now)["due_left"] != args.due:
                    raise PartFailed("restore did not bring the due clocks back")
            quiet = wait_for_quiet(f"sweep/{backend}", args.quiet_wait, args.max_load)
            with CpuSpan() as span:
                result = sweep(now=now)
            dirty = True
            seconds = span.result["wall_s"]
            run = {
                "seconds": seconds,
                "claimed": result.claimed,
                "warnings": result.warnings,
                "breaches": result.breaches,
                "escalations": result.escalations,
                "quiet": quiet,
                "cpu": span.result,
            }
            check = verify_sweep(result, before, now, built, due_snapshot)
            t = time.perf_counter()
            again = sweep(now=now)
            run["second_sweep"] = {
                "claimed": again.claimed,
                "seconds": round(time.perf_counter() - t, 4),
            }
            check["checks"]["second sweep claims 0"] = again.claimed == 0
            check["ok"] = all(check["checks"].values())
            run["verified"] = check["ok"]
            if label != "current":
                assert compare is not None
                compare["runs"].append(run)
            else:
                runs.append(run)
                if verification is None or not check["ok"]:
                    verification = check
            log(
                f"[sweep/{backend}] run {i + 1} ({label}): {seconds:.3f}s, claimed "
                f"{result.claimed}, verified {check['ok']}"
                + ("" if check["ok"] else f" {check['checks']}")
            )
    if compare is not None:
        old_s = [r["seconds"] for r in compare["runs"]]
        new_s = [r["seconds"] for r in runs]
        compare["seconds_runs"] = old_s
        compare["seconds_median"] = statistics.median(old_s)
        compare["verified"] = all(r["verified"] for r in compare["runs"])
        compare["ratios"] = [round(o / n, 2) for o, n in zip(old_s, new_s, strict=True)]
        compare["ratio_median"] = statistics.median(compare["ratios"])
        log(
            f"[sweep/{backend}] {compare['rev']}: median {compare['seconds_median']:.3f}s; "
            f"current: median {statistics.median(new_s):.3f}s; "
            f"ratio per pair {compare['ratios']} (median {compare['ratio_median']})"
        )

    # Where the time goes: every statement timed, then cProfile (both on restored data).
    breakdown = None
    profile = None
    if not args.no_profile:
        restore(backend, before, due_snapshot)
        timer = QueryTimer()
        t = time.perf_counter()
        with connection.execute_wrapper(timer):
            result = engine.sweep(now=now)
        total = time.perf_counter() - t
        sql_s = sum(s[1] for s in timer.stats.values())
        breakdown = {
            "seconds": round(total, 3),
            "sql_s": round(sql_s, 3),
            "python_and_commit_s": round(total - sql_s, 3),
            "statements": {
                k: {"count": int(v[0]), "seconds": round(v[1], 3)}
                for k, v in sorted(timer.stats.items(), key=lambda kv: -kv[1][1])
            },
        }
        restore(backend, before, due_snapshot)
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        result = engine.sweep(now=now)
        prof.disable()
        prof_path = WORK_DIR / f"sla-sweep-{backend}.prof"
        prof.dump_stats(prof_path)
        profile = {
            "seconds_under_profiler": round(time.perf_counter() - t, 3),
            "file": str(prof_path.relative_to(REPO_DIR)),
            **profile_summary(pstats.Stats(prof)),
        }

    seconds = [r["seconds"] for r in runs]
    info: dict[str, Any] = {}
    with connection.cursor() as cursor:
        if backend == "postgresql":
            cursor.execute(
                "SELECT pg_total_relation_size('sla_slaclock'), pg_indexes_size('sla_slaclock')"
            )
            total, idx = cursor.fetchone()
            info = {
                "sla_slaclock_total_mib": round(total / 2**20, 1),
                "sla_slaclock_indexes_mib": round(idx / 2**20, 1),
            }
        else:
            info = {"db_file_mib": round(SQLITE_PATH.stat().st_size / 2**20, 1)}
    out = {
        "backend": backend,
        "database": PG_DB if backend == "postgresql" else str(SQLITE_PATH.relative_to(REPO_DIR)),
        "clocks": before["clocks"],
        "due": args.due,
        "tickets": len(world.tickets),
        "sweep_instant": now.isoformat(),
        "call": "engine.sweep(now=<the instant the due set was built for>), batch 1000",
        "due_mix": built["mix"],
        "insert_s": built["insert_s"],
        "setup_s": round(setup_s, 1),
        "maintain_s": maintain_s,
        "seconds": seconds[0],
        "seconds_runs": seconds,
        "seconds_best": min(seconds),
        "seconds_median": statistics.median(seconds),
        "runs": runs,
        "verification": verification,
        "verified": all(r["verified"] for r in runs),
        "breakdown": breakdown,
        "profile": profile,
        "reused_database": bool(getattr(args, "reused", False)),
        "compare": compare,
        **info,
    }
    if backend == "postgresql":
        out["goal_s"] = GOAL_SWEEP_S
        out["met"] = statistics.median(seconds) <= GOAL_SWEEP_S
    return out


# --------------------------------------------------------------------------------------------
# part 3: warning latency in the embedded mode
# --------------------------------------------------------------------------------------------


class ServerGone(PartFailed):
    """The server under test disappeared (e.g. killed by something outside the benchmark)."""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def child_latency(args, backend: str) -> dict:
    from django.db import transaction
    from django.utils import timezone

    from aftercare.accounts.models import Team, User
    from aftercare.collab.models import Notification
    from aftercare.customers.models import Customer
    from aftercare.sla import engine
    from aftercare.sla.models import BusinessCalendar, SlaClock, SlaPolicy, SlaTarget
    from aftercare.tickets import services
    from aftercare.tickets.models import TicketEvent

    with transaction.atomic():
        policy = SlaPolicy.objects.create(
            name="bench: 2-min first response", position=0, warn_at=[0.5]
        )
        SlaTarget.objects.create(
            policy=policy,
            metric="first_response",
            minutes=2,
            calendar=BusinessCalendar.objects.get(slug="24x7"),
        )
    engine.forget_rules()
    agent = User.objects.get(username="agent")
    team = Team.objects.get(slug="cs-1")
    customers = list(Customer.objects.order_by("id")[: args.warnings])
    quiet = wait_for_quiet("latency", args.quiet_wait, args.max_load)

    created = []  # (ticket id, warning instant)
    start = time.monotonic()
    for i in range(args.warnings):
        time.sleep(max(0.0, start + i * args.spacing - time.monotonic()))
        ticket = services.open_ticket(
            actor=agent,
            kind="repair",
            channel="phone",
            subject=f"SLA 延迟测试 {i}",
            customer=customers[i % len(customers)],
            team=team,
            assignee=agent if i % 2 else None,
            priority="regular",
        )
        clock = SlaClock.objects.get(ticket=ticket, metric="first_response")
        if clock.policy_id != policy.pk or clock.next_event_at is None:
            raise PartFailed(f"ticket {ticket.pk} did not get the 2-minute policy")
        created.append((ticket.pk, clock.next_event_at))
        log(
            f"[latency] ticket {ticket.number}: warning due "
            f"{timezone.localtime(clock.next_event_at):%H:%M:%S}"
        )

    ids = [t for t, _ in created]
    warn_at = dict(created)
    seen_event: dict[int, dt.datetime] = {}
    notif_at: dict[int, dt.datetime] = {}
    deadline = max(warn_at.values()) + dt.timedelta(seconds=args.latency_timeout)
    server_pid = int(os.environ.get("SLA_BENCH_SERVER_PID", "0"))
    while timezone.now() < deadline and (len(seen_event) < len(ids) or len(notif_at) < len(ids)):
        if server_pid and not _alive(server_pid):
            raise ServerGone(f"manage.py serve (pid {server_pid}) exited during the measurement")
        observed = timezone.now()
        for tid in TicketEvent.objects.filter(ticket_id__in=ids, kind="sla_warning").values_list(
            "ticket_id", flat=True
        ):
            seen_event.setdefault(tid, observed)
        for tid, at in Notification.objects.filter(
            ticket_id__in=ids, kind="sla_warning"
        ).values_list("ticket_id", "created_at"):
            if tid not in notif_at or at < notif_at[tid]:
                notif_at[tid] = at
        time.sleep(args.poll)
    warnings = []
    for tid, at in created:
        ev = seen_event.get(tid)
        no = notif_at.get(tid)
        warnings.append(
            {
                "ticket": tid,
                "warning_at": at.isoformat(),
                "observed_latency_s": round((ev - at).total_seconds(), 2) if ev else None,
                "notification_latency_s": round((no - at).total_seconds(), 2) if no else None,
            }
        )
    observed = [w["observed_latency_s"] for w in warnings if w["observed_latency_s"] is not None]
    notified = [
        w["notification_latency_s"] for w in warnings if w["notification_latency_s"] is not None
    ]
    missing = sum(1 for w in warnings if w["observed_latency_s"] is None)
    worst = max(observed + notified) if observed else None
    return {
        "policy": "first_response 2 min on 24x7, warn_at [0.5], position 0",
        "warnings": len(warnings),
        "missing": missing,
        "observed_max_s": max(observed) if observed else None,
        "observed_median_s": round(statistics.median(observed), 2) if observed else None,
        "notification_max_s": max(notified) if notified else None,
        "notification_median_s": round(statistics.median(notified), 2) if notified else None,
        "poll_interval_s": args.poll,
        "spacing_s": args.spacing,
        "goal_s": GOAL_LATENCY_S,
        "met": missing == 0 and worst is not None and worst <= GOAL_LATENCY_S,
        "per_warning": warnings,
        "quiet": quiet,
    }


# --------------------------------------------------------------------------------------------
# parent: set up databases, run the parts, report
# --------------------------------------------------------------------------------------------


def part_due(args) -> dict:
    shutil.rmtree(DUE_DIR, ignore_errors=True)
    DUE_DIR.mkdir(parents=True)
    env = django_env(f"sqlite:///{DUE_DIR / 'due.sqlite3'}", DUE_DIR / "var")
    try:
        manage(["migrate", "--noinput"], env)
        return run_child("due", "sqlite", env, args)
    finally:
        if not args.keep:
            shutil.rmtree(DUE_DIR, ignore_errors=True)


def sweep_db_exists(backend: str) -> bool:
    if backend == "sqlite":
        return SQLITE_PATH.exists()
    import psycopg

    with psycopg.connect(intake.ADMIN_DSN, autocommit=True) as c:
        return c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone()
    return False


def part_sweep(args, backend: str) -> dict:
    SWEEP_VAR.mkdir(parents=True, exist_ok=True)
    url = PG_URL if backend == "postgresql" else f"sqlite:///{SQLITE_PATH}"
    env = django_env(url, SWEEP_VAR)
    reuse = args.reuse and state_path(backend).exists() and sweep_db_exists(backend)
    try:
        t0 = time.perf_counter()
        if reuse:
            manage(["migrate", "--noinput"], env)
        else:
            if backend == "postgresql":
                intake.recreate_db(PG_DB)
            else:
                SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
                remove_sqlite(SQLITE_PATH)
            manage(["migrate", "--noinput"], env)
            manage(["seed_demo", "--tickets", "0"], env)
            manage(["generate_tickets", "--count", str(args.tickets), "--no-history"], env)
        prepare_s = time.perf_counter() - t0
        child_args = argparse.Namespace(**{**vars(args), "reused": reuse})
        res = run_child("sweep", backend, env, child_args)
        res["prepare_tickets_s"] = round(prepare_s, 1)
        return res
    finally:
        if not (args.keep or args.reuse):
            if backend == "postgresql":
                intake.drop_db(PG_DB)
            else:
                remove_sqlite(SQLITE_PATH)
            shutil.rmtree(SWEEP_VAR, ignore_errors=True)
            state_path(backend).unlink(missing_ok=True)


def part_latency(args) -> dict:
    """Measure; when the server died under the measurement (something outside the benchmark
    killed it), start afresh, up to --attempts times."""
    failures = []
    for attempt in range(1, args.attempts + 1):
        try:
            res = latency_attempt(args)
        except PartFailed as exc:
            if "exited" not in str(exc) or attempt == args.attempts:
                raise
            log(f"[latency] attempt {attempt}: {exc}; starting again")
            failures.append(str(exc))
            continue
        res["attempts"] = attempt
        res["failed_attempts"] = failures
        return res
    raise PartFailed("no attempt left")


def latency_attempt(args) -> dict:
    shutil.rmtree(LATENCY_DIR, ignore_errors=True)
    LATENCY_DIR.mkdir(parents=True)
    db = LATENCY_DIR / "aftercare.sqlite3"
    env = django_env(f"sqlite:///{db}", LATENCY_DIR / "var")
    server_env = django_env(f"sqlite:///{db}", LATENCY_DIR / "var", debug=True)
    server_env["LOG_LEVEL"] = "INFO"  # huey logs each task it runs
    try:
        manage(["migrate", "--noinput"], env)
        manage(["seed_demo", "--tickets", "0"], env)
        port = intake.free_port()
        cmd = [sys.executable, "manage.py", "serve", f"127.0.0.1:{port}"]
        with intake.Server("sla-latency", cmd, REPO_DIR, server_env, port) as srv:
            srv.wait_ready()
            log(f"[latency] manage.py serve ready on :{port} (log {srv.log_path.name})")
            assert srv.proc is not None
            env["SLA_BENCH_SERVER_PID"] = str(srv.proc.pid)
            try:
                res = run_child("latency", "sqlite", env, args)
            except PartFailed as exc:
                if srv.proc.poll() is not None:
                    raise PartFailed(
                        f"{exc}; manage.py serve exited with {srv.proc.returncode}"
                    ) from exc
                raise
            res["server"] = "manage.py serve (runserver + huey consumer, 2 threads, periodic)"
            res["server_log"] = str(srv.log_path.relative_to(REPO_DIR))
        return res
    finally:
        if not args.keep:
            shutil.rmtree(LATENCY_DIR, ignore_errors=True)


def run_part(label: str, fn) -> dict:
    t0 = time.perf_counter()
    try:
        res = fn()
    except KeyboardInterrupt:
        raise
    except (PartFailed, intake.TargetFailed) as exc:
        log(f"[{label}] FAILED: {exc}")
        res = {"error": str(exc)}
    except Exception as exc:
        traceback.print_exc()
        res = {"error": f"{type(exc).__name__}: {exc}"}
    res["elapsed_s"] = round(time.perf_counter() - t0, 1)
    return res


def fmt_n(v, nd=0) -> str:
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def yes(v) -> str:
    return "–" if v is None else ("yes" if v else "**no**")


def markdown_table(doc: dict) -> str:
    p = doc["parts"]
    rows = ["| measure | goal | result | met | notes |", "|---|---|---|---|---|"]
    d = p.get("due")
    if d and "rate_per_s" in d:
        rows.append(
            f"| due time, cn-workday + {d['minutes']} min, 1 core | ≥ {GOAL_DUE_RATE:,}/s "
            f"| {fmt_n(d['rate_per_s'])}/s ({d['us_per_due']} µs each) | {yes(d['met'])} "
            f"| baseline `start + timedelta`: {fmt_n(d['baseline_rate_per_s'])}/s "
            f"({d['slowdown_vs_baseline']}× faster); {d['verified']:,} checked against the "
            f"minute walk: {d['verify_mismatches']} wrong; {d['instants']:,} instants 2019–2026 |"
        )
    elif d:
        rows.append(f"| due time | ≥ {GOAL_DUE_RATE:,}/s | failed: {d.get('error')} | – | |")
    for backend, s in (p.get("sweep") or {}).items():
        goal = f"≤ {GOAL_SWEEP_S:g} s" if backend == "postgresql" else "(report)"
        if "seconds" not in s:
            rows.append(f"| sweep, {backend} | {goal} | failed: {s.get('error')} | – | |")
            continue
        v = s["verification"] or {}
        ev = v.get("events", {})
        runs = ", ".join(f"{x:.2f}" for x in s["seconds_runs"])
        bd = s.get("breakdown") or {}
        rows.append(
            f"| sweep, {backend}, {s['clocks']:,} clocks / {s['due']:,} due | {goal} "
            f"| {s['seconds_median']:.2f} s (runs {runs}) "
            f"| {yes(s.get('met'))} "
            f"| verified {yes(s['verified'])}: {v.get('claimed', 0):,} claimed, events "
            f"{ev.get('sla_warning', 0):,} warnings / {ev.get('sla_breached', 0):,} breaches / "
            f"{ev.get('sla_escalated', 0):,} escalations, {v.get('notifications', 0):,} "
            f"notifications, second sweep 0"
            + (f"; SQL {bd['sql_s']:.2f} s of {bd['seconds']:.2f} s" if bd else "")
            + " |"
        )
    lat = p.get("latency")
    if lat and "warnings" in lat:
        rows.append(
            f"| warning latency, `manage.py serve` | every ≤ {GOAL_LATENCY_S:g} s "
            f"| max {fmt_n(lat['observed_max_s'], 1)} s, median "
            f"{fmt_n(lat['observed_median_s'], 1)} s (n={lat['warnings']}) | {yes(lat['met'])} "
            f"| observed in the database (polled every {lat['poll_interval_s']} s); "
            f"by Notification.created_at max {fmt_n(lat['notification_max_s'], 1)} s, median "
            f"{fmt_n(lat['notification_median_s'], 1)} s; missing {lat['missing']} |"
        )
    elif lat:
        rows.append(
            f"| warning latency | ≤ {GOAL_LATENCY_S:g} s | failed: {lat.get('error')} | – | |"
        )
    out = "\n".join(rows)
    for backend, s in (p.get("sweep") or {}).items():
        bd = s.get("breakdown")
        if not bd:
            continue
        out += (
            f"\n\nSweep on {backend}, one run with every statement timed "
            f"({bd['seconds']:.2f} s):\n\n"
        )
        out += "| statements | count | seconds |\n|---|---:|---:|\n"
        for name, st in bd["statements"].items():
            out += f"| {name} | {st['count']:,} | {st['seconds']:.3f} |\n"
        out += f"| Python (engine, ORM) and commits | | {bd['python_and_commit_s']:.3f} |"
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--parts", default=",".join(ALL_PARTS), help="comma list of due,sweep,latency")
    ap.add_argument(
        "--backends", default=",".join(ALL_BACKENDS), help="sweep databases: postgresql,sqlite"
    )
    ap.add_argument("--clocks", type=int, default=1_000_000, help="SLA clocks in the table (1e6)")
    ap.add_argument("--due", type=int, default=10_000, help="of which due at the sweep (10,000)")
    ap.add_argument(
        "--tickets", type=int, default=100_000, help="tickets generated for the clocks (100,000)"
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="timed sweeps, the data restored in between (3)"
    )
    ap.add_argument(
        "--no-profile", action="store_true", help="skip the statement-timed and cProfile sweeps"
    )
    ap.add_argument("--instants", type=int, default=200_000, help="start instants for 'due'")
    ap.add_argument("--repeats-due", type=int, default=5, help="timed passes over them (5)")
    ap.add_argument(
        "--verify",
        type=int,
        default=2_000,
        help="due times checked against the minute walk (2,000)",
    )
    ap.add_argument("--warnings", type=int, default=8, help="warnings in 'latency' (8)")
    ap.add_argument(
        "--spacing", type=float, default=7.5, help="seconds between the latency tickets (7.5)"
    )
    ap.add_argument(
        "--latency-timeout",
        type=float,
        default=180.0,
        help="give up on a warning this long after its instant (180)",
    )
    ap.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="latency: start again when the server was killed from outside (3 attempts)",
    )
    ap.add_argument("--poll", type=float, default=0.25, help="database poll interval (0.25 s)")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=240.0,
        help="wait up to this long for the load average to fall before timing (240)",
    )
    ap.add_argument("--max-load", type=float, default=1.5, help="1-minute load average (1.5)")
    ap.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="sweep: run on the databases kept by an earlier --keep/--reuse run (restored to "
        "their due state) instead of building them again; keeps them",
    )
    ap.add_argument(
        "--compare",
        metavar="REV",
        help="sweep: also time engine.sweep as it was at git revision REV, in the same process "
        "on the same data, taking turns with the current one; reports the ratio",
    )
    ap.add_argument("--output", type=Path, default=RESULTS_DIR / "sla.json")
    ap.add_argument("--child-config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_config:
        return child_main(args.child_config)

    parts = [x.strip() for x in args.parts.split(",") if x.strip()]
    backends = [x.strip() for x in args.backends.split(",") if x.strip()]
    if set(parts) - set(ALL_PARTS) or set(backends) - set(ALL_BACKENDS):
        ap.error("unknown part or backend")
    if args.due < 1 or args.clocks < args.due or args.warnings < 1:
        ap.error("need 1 <= --due <= --clocks and --warnings >= 1")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    SETUP_LOG.write_text("")

    doc: dict[str, Any] = {
        "benchmark": "sla",
        "timestamp": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
        "machine": intake.machine_info(),
        "repo": intake.git_info(),
        "config": {
            "parts": parts,
            "backends": backends,
            "clocks": args.clocks,
            "due": args.due,
            "tickets": args.tickets,
            "repeats": args.repeats,
            "instants": args.instants,
            "repeats_due": args.repeats_due,
            "verify": args.verify,
            "warnings": args.warnings,
            "max_load": args.max_load,
            "quiet_wait_s": args.quiet_wait,
        },
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "parts": {},
    }
    interrupted = False
    try:
        for part in parts:
            log(f"== {part} ==")
            if part == "sweep":
                doc["parts"]["sweep"] = {}
                for backend in backends:
                    doc["parts"]["sweep"][backend] = run_part(
                        f"sweep/{backend}", lambda b=backend: part_sweep(args, b)
                    )
                continue
            runner = part_due if part == "due" else part_latency
            doc["parts"][part] = run_part(part, lambda r=runner: r(args))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted")
    finally:
        intake.kill_live_servers()
        if not (args.keep or args.reuse):
            intake.drop_db(PG_DB)

    doc["interrupted"] = interrupted
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    tmp.replace(args.output)

    m = doc["machine"]
    print()
    print(
        textwrap.dedent(
            f"""\
            SLA benchmark — {doc["timestamp"]}, {m["nproc"]} x {m["cpu_model"]},
            Python {m["python"]}, PostgreSQL {m.get("postgres_version", "?")},
            app at {doc["repo"]["commit"]}
            """
        )
    )
    print(markdown_table(doc))
    print(f"\nwritten: {args.output}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
