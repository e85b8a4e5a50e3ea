#!/usr/bin/env python3
"""Team queue and Chinese search at a million tickets, on SQLite and on PostgreSQL.

For each database the harness builds (or, with ``--reuse``, keeps) a scale database —
``migrate``, ``seed_demo --tickets 0``, ``generate_tickets --count N`` — runs ANALYZE, then
measures in a child process, with Django in-process and the test ``Client`` against the real
API:

``queue``   ``GET /api/v1/tickets?team_id=<cs-1>&open=true&ordering=due_at&limit=50`` as the
            demo agent of team cs-1 (bearer token): page 1, and cursor pages 2–21 in turn.
``search``  ``GET /api/v1/tickets?q=...`` as the demo admin, for a fixed set of realistic
            queries (symptoms, products, fault codes, a customer, a ticket number, a mobile
            number, a serial, an English word, misses).

Latency is wall time around ``client.get`` (routing, auth, queries, serialisation, JSON).
SQL queries per request are counted with ``CaptureQueriesContext`` on separate requests, so
its bookkeeping stays out of the timings.

    .venv/bin/python bench/queue_search.py                    # build both, then measure
    .venv/bin/python bench/queue_search.py --reuse            # keep databases already built
    .venv/bin/python bench/queue_search.py --targets postgres --reuse --requests 500

Writes bench/results/queue_search.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from intake import (  # noqa: E402
    CpuWindow,
    _machine_ticks,
    _proc_snapshot,
    git_info,
    machine_info,
    wait_for_quiet,
)

RESULTS_PATH = BENCH_DIR / "results" / "queue_search.json"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
TARGETS = ("sqlite", "postgres")
FOREIGN_LIMIT = 0.15  # cores used outside the benchmark that taint a measurement (intake.py)
GOALS = {"queue_p95_ms": 100.0, "queue_queries": 10, "search_p95_ms": 200.0}
QUEUE_TEAM = "cs-1"
CURSOR_PAGES = 20
# Searches an agent types: symptoms, products, fault codes, everyday words of the replies,
# an English word (the catalogue has none: a miss), a product the maker does not sell (a miss).
# The customer name, ticket number, mobile and serial are taken from the database.
SEARCH_TERMS = [
    "不制冷",
    "漏水",
    "噪音大",
    "热水器",
    "E4",
    "E21",
    "不点火",
    "异味",
    "结霜",
    "跳闸",
    "不排水",
    "保修期",
    "以旧换新",
    "门锁打不开",
    "压缩机",
    "上门迟到",
    "烧焦味",
    "发票",
    "序列号",
    "空调 E1",
    "compressor",
    "电视机黑屏",
]


# --------------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------------


def database_url(target: str, args) -> str:
    if target == "postgres":
        return f"postgres://postgres@127.0.0.1:5432/{args.pg_db}"
    return f"sqlite:///{Path(args.sqlite_path).resolve()}"


def django_env(target: str, args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(target, args),
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="bench",
        DJANGO_ALLOWED_HOSTS="testserver",
        DB_CONN_MAX_AGE="60",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(target: str, args, *command: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=REPO_DIR,
        env=django_env(target, args),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def existing_tickets(target: str, args) -> int | None:
    """Tickets already in the target database, or None when it does not exist yet."""
    try:
        if target == "postgres":
            dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={args.pg_db}"
            with psycopg.connect(dsn) as conn:
                row = conn.execute("SELECT count(*) FROM tickets_ticket").fetchone()
        else:
            if not Path(args.sqlite_path).exists():
                return None
            with sqlite3.connect(args.sqlite_path) as conn:
                row = conn.execute("SELECT count(*) FROM tickets_ticket").fetchone()
    except (psycopg.Error, sqlite3.Error):
        return None
    return int(row[0]) if row else None


def build(target: str, args) -> dict:
    print(f"[{target}] building {args.tickets:,} tickets", flush=True)
    if target == "postgres":
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{args.pg_db}"')
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(args.sqlite_path + suffix).unlink(missing_ok=True)
        Path(args.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
    manage(target, args, "migrate", "--noinput", "-v0")
    manage(target, args, "seed_demo", "--tickets", "0")
    started = time.perf_counter()
    out = manage(target, args, "generate_tickets", "--count", str(args.tickets))
    seconds = time.perf_counter() - started
    print(f"[{target}] {out.strip().splitlines()[-1]}", flush=True)
    return {
        "built": True,
        "generate_seconds": round(seconds, 1),
        "generate_rate": round(args.tickets / seconds),
    }


def analyze(target: str, args) -> None:
    if target == "postgres":
        dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={args.pg_db}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            # VACUUM as autovacuum would have by now: the visibility map allows index-only scans.
            conn.execute("VACUUM ANALYZE")
    else:
        with sqlite3.connect(args.sqlite_path) as conn:
            conn.execute("ANALYZE")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def database_size_mib(target: str, args) -> float:
    if target == "postgres":
        with psycopg.connect(PG_ADMIN_DSN) as conn:
            row = conn.execute("SELECT pg_database_size(%s)", [args.pg_db]).fetchone()
            assert row is not None
            return round(row[0] / 2**20, 1)
    return round(Path(args.sqlite_path).stat().st_size / 2**20, 1)


# --------------------------------------------------------------------------------------------
# measurement (child process, one database)
# --------------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)

    def at(q: float) -> float:
        # Linear interpolation between closest ranks.
        pos = (len(ordered) - 1) * q
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return round(ordered[low] + (ordered[high] - ordered[low]) * (pos - low), 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "max_ms": round(ordered[-1], 2),
    }


def measure(target: str, args) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(REPO_DIR))
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from aftercare.accounts.models import ApiToken, Team, User
    from aftercare.accounts.services import create_api_token
    from aftercare.catalog.models import ProductUnit
    from aftercare.customers.models import Contact
    from aftercare.tickets.choices import OPEN_STATUSES
    from aftercare.tickets.models import Ticket

    def client_for(username: str) -> Client:
        user = User.objects.get(username=username)
        ApiToken.objects.filter(user=user, name="bench-queue-search").delete()
        _, raw = create_api_token(user=user, name="bench-queue-search")
        return Client(headers={"authorization": f"Bearer {raw}"})

    def timed_get(client: Client, params: dict) -> tuple[float, dict]:
        started = time.perf_counter()
        response = client.get("/api/v1/tickets", params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{params} -> {response.status_code}: {response.content[:300]!r}")
        return elapsed, response.json()

    def count_queries(client: Client, params: dict) -> tuple[int, list[dict]]:
        with CaptureQueriesContext(connection) as captured:
            client.get("/api/v1/tickets", params)
        return len(captured), [
            {"ms": round(float(q["time"]) * 1000, 2), "sql": q["sql"][:2000]}
            for q in captured.captured_queries
        ]

    result: dict[str, Any] = {"vendor": connection.vendor, "tickets": Ticket.objects.count()}

    # --- the agent's team queue ---
    team = Team.objects.get(slug=QUEUE_TEAM)
    agent = client_for("agent")
    queue = {"team_id": team.pk, "open": "true", "ordering": "due_at", "limit": 50}
    open_statuses = {s.value for s in OPEN_STATUSES}
    result["queue_open_tickets"] = Ticket.objects.filter(
        team=team, status__in=open_statuses
    ).count()
    cursors: list[str] = []
    params: dict = dict(queue)
    previous_key = None
    for _ in range(CURSOR_PAGES + 1):  # walk the pages once: warms up, checks order, cursors
        _, page = timed_get(agent, params)
        for item in page["items"]:
            key = (item["due_at"], item["created_at"], item["id"])
            if item["team"]["id"] != team.pk or item["status"] not in open_statuses:
                raise RuntimeError(f"queue returned a foreign ticket: {item['number']}")
            if previous_key is not None and key <= previous_key:
                raise RuntimeError(f"queue out of order at {item['number']}")
            previous_key = key
        if not page["next_cursor"]:
            break
        cursors.append(page["next_cursor"])
        params = {**queue, "cursor": page["next_cursor"]}
    first_page: list[float] = []
    cursor_pages: list[float] = []
    # Page 1 and a cursor page in random order each round, so that periodic pauses (Python's
    # garbage collector runs every so many allocations) do not keep falling on one series.
    shuffle = random.Random(7)
    for i in range(args.requests):
        rounds = [(first_page, queue)]
        if cursors:
            rounds.append((cursor_pages, {**queue, "cursor": cursors[i % len(cursors)]}))
        shuffle.shuffle(rounds)
        for series, params in rounds:
            series.append(timed_get(agent, params)[0])
    page1_queries, page1_sql = count_queries(agent, queue)
    cursor_queries, cursor_sql = (
        count_queries(agent, {**queue, "cursor": cursors[-1]}) if cursors else (0, [])
    )
    result["queue"] = {
        "team": QUEUE_TEAM,
        "page1": {**percentiles(first_page), "queries": page1_queries},
        "cursor": {
            **(percentiles(cursor_pages) if cursor_pages else {}),
            "queries": cursor_queries,
            "pages": len(cursors),
        },
        "sql_page1": page1_sql,
        "sql_cursor": cursor_sql,
    }

    # --- search as admin ---
    admin = client_for("admin")
    middle = Ticket.objects.order_by("id").values_list("number", "customer_id")[
        result["tickets"] // 2
    ]
    contact = Contact.objects.filter(customer_id=middle[1], is_primary=True).first()
    unit = ProductUnit.objects.filter(owner__isnull=False).order_by("id")[10]
    terms = [
        *SEARCH_TERMS,
        contact.name if contact else "王丽",
        middle[0],
        contact.mobile if contact and contact.mobile else "13800138000",
        unit.serial,
    ]
    searches = []
    all_search: list[float] = []
    for term in terms:
        elapsed, page = timed_get(admin, {"q": term})  # warm-up, and the answer size
        times = [timed_get(admin, {"q": term})[0] for _ in range(args.search_repeats)]
        all_search.extend(times)
        queries, sql = count_queries(admin, {"q": term})
        searches.append(
            {
                "q": term,
                "returned": len(page["items"]),
                "more": bool(page["next_cursor"]),
                "first_ms": round(elapsed, 2),
                **percentiles(times),
                "queries": queries,
                "sql": sql,
            }
        )
    result["search"] = {"overall": percentiles(all_search), "queries": searches}
    return result


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def verdicts(result: dict) -> dict[str, bool]:
    queue, search = result["queue"], result["search"]["overall"]
    worst_queue_p95 = max(queue["page1"]["p95_ms"], queue["cursor"].get("p95_ms", 0))
    worst_queries = max(queue["page1"]["queries"], queue["cursor"]["queries"])
    return {
        "queue_p95": worst_queue_p95 <= GOALS["queue_p95_ms"],
        "queue_queries": worst_queries <= GOALS["queue_queries"],
        "search_p95": search["p95_ms"] <= GOALS["search_p95_ms"],
    }


def markdown(doc: dict) -> str:
    lines = [
        "| database | tickets | queue page 1 p50 / p95 / p99 ms | cursor page p50 / p95 / p99 ms "
        "| queries | search p50 / p95 ms | goals met |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    measured = [(n, t) for n, t in doc["targets"].items() if t.get("status") == "ok"]
    for name, t in doc["targets"].items():
        if t.get("status") != "ok":
            lines.append(f"| {name} | {t.get('status')}: {t.get('reason', '')} |||||| |")
            continue
        p1, cur = t["queue"]["page1"], t["queue"]["cursor"]
        search = t["search"]["overall"]
        met = ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in t["verdicts"].items())
        lines.append(
            f"| {name} | {fmt(t['tickets'])} "
            f"| {fmt(p1['p50_ms'])} / {fmt(p1['p95_ms'])} / {fmt(p1['p99_ms'])} "
            f"| {fmt(cur.get('p50_ms'))} / {fmt(cur.get('p95_ms'))} / {fmt(cur.get('p99_ms'))} "
            f"| {p1['queries']} / {cur['queries']} "
            f"| {fmt(search['p50_ms'])} / {fmt(search['p95_ms'])} | {met} |"
        )
    if measured:
        lines += [
            "",
            "| search | " + " | ".join(f"{n} rows | {n} p50 / p95 ms" for n, _ in measured) + " |",
            "|---|" + "---:|---:|" * len(measured),
        ]
        for i, row in enumerate(measured[0][1]["search"]["queries"]):
            cells = []
            for _, t in measured:
                s = t["search"]["queries"][i]
                rows = f"{s['returned']}{'+' if s['more'] else ''}"
                cells.append(f"{rows} | {fmt(s['p50_ms'])} / {fmt(s['p95_ms'])}")
            lines.append(f"| `{row['q']}` | " + " | ".join(cells) + " |")
    notes = [
        f"{name}: {fmt(t['tickets'])} tickets generated in {t['build']['generate_seconds']} s "
        f"({fmt(t['build']['generate_rate'])} tickets/s)"
        + (" (an earlier run)" if t["build"].get("built_earlier") else "")
        for name, t in measured
        if "generate_seconds" in t["build"]
    ]
    notes += [
        f"note: during {name}, processes outside the benchmark used "
        f"{t['cpu']['foreign_cores']:.2f} cores; its figures are depressed"
        for name, t in measured
        if t["cpu"].get("foreign_cores", 0) > FOREIGN_LIMIT
    ]
    return "\n".join(lines + (["", *notes] if notes else []))


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def run_target(target: str, args, previous: dict) -> dict:
    have = existing_tickets(target, args)
    if args.reuse and have is not None and have >= args.tickets:
        print(f"[{target}] reusing {have:,} tickets", flush=True)
        manage(target, args, "migrate", "--noinput", "-v0")
        # Keep the generation figures of the run that built this database.
        earlier = previous.get("targets", {}).get(target, {}).get("build", {})
        build_info: dict = {"built": False}
        if earlier.get("built") or earlier.get("built_earlier"):
            build_info = {**earlier, "built": False, "built_earlier": True}
    else:
        build_info = build(target, args)
    analyze(target, args)
    busy = wait_for_quiet(target, args.quiet_wait)
    with CpuUse(args.pg_db if target == "postgres" else None) as cpu:
        child = subprocess.run(
            [sys.executable, __file__, "--child", target, *child_args(args)],
            cwd=REPO_DIR,
            env=django_env(target, args),
            capture_output=True,
            text=True,
            check=False,
        )
    if child.returncode:
        raise RuntimeError(f"measurement failed:\n{child.stderr[-4000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result.update(
        status="ok",
        database=database_url(target, args),
        size_mib=database_size_mib(target, args),
        build=build_info,
        cpu={"busy_cores_before": busy, **cpu.result},
    )
    result["verdicts"] = verdicts(result)
    return result


class CpuUse:
    """Who used the CPU while the measuring process ran: sampled every second like intake.py's
    window ("client" is the measuring process, "postgres" the target database's backends;
    "foreign_cores" is everyone else, load that depresses the figures)."""

    def __init__(self, db: str | None) -> None:
        self.db = db  # None: the target is SQLite, every PostgreSQL process is foreign
        self.classify = CpuWindow(db=db)._classify
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.result: dict = {}

    def __enter__(self) -> CpuUse:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        prev, machine0, started = _proc_snapshot(), _machine_ticks(), time.time()
        used: Counter = Counter()
        kinds: dict[tuple[int, int], str] = {}
        while not self.stop.wait(1.0):
            cur = _proc_snapshot()
            for pid, (comm, ppid, sid, ticks, born) in cur.items():
                before = prev.get(pid)
                start = before[3] if before is not None and before[4] == born else 0
                if ticks == start:
                    continue
                kind = kinds.get((pid, born))
                if kind is None:
                    kind = kinds[(pid, born)] = self.classify(pid, comm, ppid, sid)
                used[kind] += ticks - start
            prev = cur
        machine1, window = _machine_ticks(), max(time.time() - started, 1e-6)
        ticks_per_s = os.sysconf("SC_CLK_TCK")
        cores = {k: round(v / ticks_per_s / window, 2) for k, v in sorted(used.items())}
        idle, total = machine1[0] - machine0[0], machine1[1] - machine0[1]
        self.result = {
            "window_s": round(window, 1),
            "busy_cores": round((1 - idle / max(total, 1)) * (os.cpu_count() or 1), 2),
            "cores_used": cores,
            "foreign_cores": round(
                sum(
                    v
                    for k, v in cores.items()
                    if k != "client" and (k != "postgres" or not self.db)
                ),
                2,
            ),
        }


def child_args(args) -> list[str]:
    return [
        f"--requests={args.requests}",
        f"--search-repeats={args.search_repeats}",
        f"--pg-db={args.pg_db}",
        f"--sqlite-path={args.sqlite_path}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep a database that already has --tickets tickets instead of rebuilding it",
    )
    parser.add_argument("--requests", type=int, default=300, help="queue requests per page kind")
    parser.add_argument("--search-repeats", type=int, default=10, help="timed runs per query")
    parser.add_argument("--pg-db", default="bench_scale")
    parser.add_argument("--sqlite-path", default=str(REPO_DIR / "var" / "bench_scale.sqlite3"))
    parser.add_argument("--quiet-wait", type=float, default=300.0)
    parser.add_argument("--output", default=str(RESULTS_PATH))
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(measure(args.child, args), ensure_ascii=False))
        return 0

    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    output = Path(args.output)
    previous = json.loads(output.read_text()) if output.exists() else {}
    machine = machine_info()
    machine["sqlite_version"] = sqlite3.sqlite_version
    doc: dict[str, Any] = {
        "benchmark": "queue_search",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "git": git_info(),
        "config": {
            "tickets": args.tickets,
            "requests": args.requests,
            "search_repeats": args.search_repeats,
            "targets": targets,
        },
        "goals": GOALS,
        "targets": {},
    }
    for target in targets:
        try:
            doc["targets"][target] = run_target(target, args, previous)
        except Exception as exc:  # report the other target anyway
            print(f"[{target}] FAILED: {exc}", file=sys.stderr, flush=True)
            doc["targets"][target] = {"status": "failed", "reason": str(exc)[-2000:]}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    m = doc["machine"]
    print(
        f"Queue and search at scale — {doc['timestamp']}, {m['nproc']} x {m['cpu_model']}, "
        f"Python {m['python']}, SQLite {m['sqlite_version']}, "
        f"PostgreSQL {m.get('postgres_version')}\n"
    )
    print(markdown(doc))
    print(f"\nwritten to {output}")
    return 0 if all(t.get("status") == "ok" for t in doc["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
