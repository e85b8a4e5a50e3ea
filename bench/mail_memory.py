#!/usr/bin/env python3
"""Memory of `aftercare.intake.mime.parse_message` on mail with one large attachment.

Issue #6 asks that "a 25 MB attachment [is] processed with peak memory below twice its size".
For each size a message (short text body + one base64 attachment of random bytes) is written
to a temporary file, then parsed twice under tracemalloc:

``file``   the message given as an open binary file (how the IMAP fetcher, the webhook's
           uploaded-file and mail_import hand it over);
``bytes``  the message given as one bytes object, already in memory before measuring (the
           input itself is not counted, only what the parser allocates on top).

Seconds = one parse without tracemalloc. Peak = tracemalloc's peak of Python allocations
during a second parse, including the spooled attachment while it is still below the 1 MB spill
threshold. The parsed attachment is checked (size and MD5 equal to the generated data). Run::

    .venv/bin/python bench/mail_memory.py                 # 1, 5, 25 and 50 MB
    .venv/bin/python bench/mail_memory.py --sizes 25

Writes bench/results/mail_memory.json and prints a table.
"""

import argparse
import base64
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MB = 1024 * 1024


def write_message(path: Path, size: int) -> str:
    """Write a message with a `size`-byte attachment to `path`; return the data's MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("wb") as out:
        out.write(
            b"From: =?utf-8?B?5byg5LiJ?= <zhangsan@example.com>\r\n"
            b"To: service@example.com\r\n"
            b"Subject: =?utf-8?B?5oql5L+u77ya6KeG6aKR6ZmE5Lu2?=\r\n"
            b"Message-ID: <large-attachment@example.com>\r\n"
            b"MIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + "设备故障视频见附件。\r\n".encode()
            + b"--b1\r\nContent-Type: video/mp4; name=fault.mp4\r\n"
            b"Content-Disposition: attachment; filename=fault.mp4\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 57 * 4096))  # whole 76-character lines
            remaining -= len(chunk)
            digest.update(chunk)
            encoded = base64.encodebytes(chunk).replace(b"\n", b"\r\n")
            out.write(encoded)
        out.write(b"--b1--\r\n")
    return digest.hexdigest()


def measure(path: Path, expected_md5: str, size: int, mode: str) -> dict[str, object]:
    from aftercare.intake.mime import ParsedMail, parse_message

    data = path.read_bytes() if mode == "bytes" else None

    def parse() -> "ParsedMail":
        if data is not None:
            return parse_message(data)
        with path.open("rb") as source:
            return parse_message(source)

    # Time without tracemalloc (it slows allocation-heavy code several times over).
    started = time.perf_counter()
    parse().close()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    parsed = parse()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    attachment = parsed.attachments[0]
    ok = attachment.size == size and attachment.md5 == expected_md5
    parsed.close()
    return {
        "attachment_mb": round(size / MB, 1),
        "message_mb": round(path.stat().st_size / MB, 1),
        "input": mode,
        "peak_mb": round(peak / MB, 2),
        "ratio": round(peak / size, 3),
        "seconds": round(seconds, 2),
        "attachment_ok": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 5, 25, 50])
    parser.add_argument("--out", type=Path, default=REPO_DIR / "bench/results/mail_memory.json")
    args = parser.parse_args()

    import django

    os.environ.setdefault("AFTERCARE_ALLOW_DEV_SECRET", "1")
    django.setup()

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size_mb in args.sizes:
            size = int(size_mb * MB)
            path = Path(folder) / f"mail-{size}.eml"
            md5 = write_message(path, size)
            for mode in ("file", "bytes"):
                rows.append(measure(path, md5, size, mode))
            path.unlink()

    print("| attachment MB | message MB | input | peak MB | peak / attachment | seconds | ok |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for row in rows:
        print(
            f"| {row['attachment_mb']} | {row['message_mb']} | {row['input']} | "
            f"{row['peak_mb']} | {row['ratio']} | {row['seconds']} | {row['attachment_ok']} |"
        )
    result = {
        "benchmark": "mail_memory",
        "goal": "25 MB attachment parsed with peak memory < 2 x its size (50 MB)",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if not all(row["attachment_ok"] for row in rows):
        sys.exit("attachment data did not round-trip")


if __name__ == "__main__":
    main()
