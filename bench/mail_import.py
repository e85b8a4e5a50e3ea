#!/usr/bin/env python3
"""Mail through `mail_import`, and a 25 MB attachment's peak memory.

Throughput: N realistic Chinese service mails (plain and HTML, some with a photo attached,
about a third of them replies that thread onto earlier tickets by In-Reply-To) are written to
an mbox and imported with ``manage.py mail_import`` in-process: parse, de-duplicate, thread,
find or create the customer, open or append, store attachments, index for search, queue the
acknowledgement. The same messages parsed by the standard library alone (``BytesParser`` +
``get_body``) are timed in the same process as a baseline, so the ratio says what the pipeline
costs on top of parsing.

Memory: one mail with a 25 MB attachment goes through ``receive_email`` from a file under
``tracemalloc``; the peak of Python allocations is compared with the attachment's size.

    .venv/bin/python bench/mail_import.py                      # PostgreSQL and SQLite
    .venv/bin/python bench/mail_import.py --targets postgres --messages 3000

Writes bench/results/mail_import.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import mailbox as mailboxes
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO_DIR))
from intake import git_info, machine_info  # noqa: E402

RESULTS_PATH = BENCH_DIR / "results" / "mail_import.json"
PG_DB = "bench_mail"
TARGET_RATE = 50.0
ATTACHMENT_BYTES = 25 * 1024 * 1024


def _database_url(target: str, workdir: Path) -> str:
    if target == "postgres":
        return f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
    return f"sqlite:///{workdir / 'bench_mail.sqlite3'}"


def _prepare(target: str, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(target, workdir),
        "AFTERCARE_ALLOW_DEV_SECRET": "1",
        "AFTERCARE_VAR_DIR": str(workdir),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    if target == "postgres":
        for sql in (f"DROP DATABASE IF EXISTS {PG_DB}", f"CREATE DATABASE {PG_DB}"):
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, env=env
            )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO_DIR, check=True, env=env
    )
    return env


# --- the mail ------------------------------------------------------------------------------

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def _photo(rng: random.Random) -> bytes:
    return PNG_HEADER + rng.randbytes(rng.randint(20_000, 120_000))


def build_mails(count: int, seed: int = 20261126) -> list[bytes]:
    from email.message import EmailMessage
    from email.utils import formatdate

    from aftercare.demo.content import GIVEN_NAMES, PROBLEMS, SURNAMES

    rng = random.Random(seed)
    problems = [p for items in PROBLEMS.values() for p in items]
    sent: list[tuple[str, str, str]] = []  # (sender, message id, subject) of first mails
    mails = []
    for index in range(count):
        message = EmailMessage()
        message_id = f"bench-{seed}-{index}@client.example"
        if sent and rng.random() < 0.33:
            sender, parent, subject = rng.choice(sent)
            message["Subject"] = f"回复：{subject}"
            message["In-Reply-To"] = f"<{parent}>"
            message["References"] = f"<{parent}>"
            body = (
                "师傅明天上午在家，麻烦尽快安排。\n\n"
                "-----原始邮件-----\n发件人: 华宁售后 <service@huaning.example>\n"
                f"主题: {subject}\n\n我们已收到您的服务请求。"
            )
        else:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
            sender = f"{name} <user{index}@example.cn>"
            subject, body = rng.choice(problems)
            message["Subject"] = subject
            sent.append((sender, message_id, subject))
        message["From"] = sender
        message["To"] = "service@huaning.example"
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = f"<{message_id}>"
        message.set_content(body)
        if rng.random() < 0.3:
            message.add_alternative(f"<html><body><p>{body}</p></body></html>", subtype="html")
        if rng.random() < 0.2:
            message.add_attachment(
                _photo(rng), maintype="image", subtype="png", filename="故障照片.png"
            )
        mails.append(message.as_bytes())
    return mails


def big_mail(path: Path) -> int:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "张伟 <zhangwei@example.cn>"
    message["To"] = "service@huaning.example"
    message["Subject"] = "安装现场视频"
    message["Message-ID"] = "<bench-big@client.example>"
    message.set_content("安装过程的视频见附件。")
    message.add_attachment(
        os.urandom(ATTACHMENT_BYTES), maintype="video", subtype="mp4", filename="install.mp4"
    )
    path.write_bytes(message.as_bytes())
    return path.stat().st_size


# --- the measurement (child process, Django set up on the target database) -----------------


def child(target: str, count: int, workdir: Path) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from email import policy
    from email.parser import BytesParser
    from io import StringIO

    from django.core.management import call_command

    from aftercare.accounts.models import Team
    from aftercare.intake.models import InboundEmail, Mailbox
    from aftercare.tickets.models import Message, Ticket

    team = Team.objects.create(name="售后客服一组", slug="cs-1", department="customer_service")
    Mailbox.objects.create(name="service", address="service@huaning.example", team=team)
    mails = build_mails(count)
    mbox = workdir / "bench.mbox"
    box = mailboxes.mbox(str(mbox))
    for raw in mails:
        box.add(raw)
    box.flush()

    started = time.perf_counter()
    for raw in mails:
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        body = parsed.get_body(("plain", "html"))
        if body is not None:
            body.get_content()
    baseline_seconds = time.perf_counter() - started

    out = StringIO()
    started = time.perf_counter()
    call_command("mail_import", str(mbox), "--mailbox", "service", stdout=out)
    seconds = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for line in out.getvalue().splitlines():
        status = json.loads(line)["status"]
        statuses[status] = statuses.get(status, 0) + 1

    return {
        "target": target,
        "messages": count,
        "seconds": round(seconds, 2),
        "messages_per_second": round(count / seconds, 1),
        "stdlib_parse_seconds": round(baseline_seconds, 3),
        "pipeline_vs_parse_ratio": round(seconds / baseline_seconds, 1),
        "statuses": statuses,
        "tickets": Ticket.objects.count(),
        "messages_appended": Message.objects.count(),
        "inbound_rows": InboundEmail.objects.count(),
    }


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def child_big(workdir: Path) -> dict:
    """In a process of its own, so the growth of its peak RSS is this mail's alone."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import gc

    from aftercare.intake.inbound import receive_email

    big = workdir / "big.eml"
    raw_size = big.stat().st_size
    gc.collect()
    # Reset the kernel's high-water mark of resident memory (VmHWM) to the current size.
    Path("/proc/self/clear_refs").write_text("5")
    rss_before = _status_bytes("VmRSS")
    tracemalloc.start()
    with big.open("rb") as stream:
        started = time.perf_counter()
        result = receive_email(source=stream, via="import")
        big_seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = _status_bytes("VmHWM") - rss_before
    return {
        "attachment_bytes": ATTACHMENT_BYTES,
        "raw_bytes": raw_size,
        "status": result.status,
        "seconds": round(big_seconds, 2),
        "peak_python_bytes": peak,
        "peak_vs_attachment": round(peak / ATTACHMENT_BYTES, 2),
        # Growth of the process's peak resident size: everything, C buffers included.
        "peak_rss_growth_bytes": rss_growth,
        "rss_growth_vs_attachment": round(rss_growth / ATTACHMENT_BYTES, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--targets", default="postgres,sqlite")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "big":
        print(json.dumps(child_big(Path(args.workdir))))
        return
    if args.child:
        print(json.dumps(child(args.child, args.messages, Path(args.workdir))))
        return

    runs = []
    for target in args.targets.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
            workdir = Path(tmp)
            env = _prepare(target, workdir)
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    target,
                    "--messages",
                    str(args.messages),
                    "--workdir",
                    tmp,
                ],
                cwd=REPO_DIR,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            run = json.loads(done.stdout.strip().splitlines()[-1])
            big_mail(workdir / "big.eml")
            done = subprocess.run(
                [sys.executable, __file__, "--child", "big", "--workdir", tmp],
                cwd=REPO_DIR,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            run["big_mail"] = json.loads(done.stdout.strip().splitlines()[-1])
            runs.append(run)
    report = {
        "machine": machine_info(),
        "git": git_info(),
        "target_rate": TARGET_RATE,
        "runs": runs,
    }
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")

    print("| database | messages | seconds | msg/s (goal ≥50) | × stdlib parse | outcome |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        outcome = ", ".join(f"{k} {v}" for k, v in sorted(run["statuses"].items()))
        print(
            f"| {run['target']} | {run['messages']} | {run['seconds']} | "
            f"{run['messages_per_second']} | {run['pipeline_vs_parse_ratio']} | {outcome} |"
        )
    print()
    print(
        "| database | 25 MB attachment: status | seconds | peak Python allocations "
        "| growth of peak RSS | × attachment (goal <2) |"
    )
    print("|---|---|---|---|---|---|")
    for run in runs:
        big = run["big_mail"]
        print(
            f"| {run['target']} | {big['status']} | {big['seconds']} | "
            f"{big['peak_python_bytes'] / 1048576:.1f} MB | "
            f"{big['peak_rss_growth_bytes'] / 1048576:.1f} MB | "
            f"{big['peak_vs_attachment']} / {big['rss_growth_vs_attachment']} |"
        )


if __name__ == "__main__":
    main()
