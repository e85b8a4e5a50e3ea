"""The task queue as deployed: embedded (SQLite file) by default, Redis when REDIS_URL is set.
Each case runs in a fresh process with its own database and queue."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_roundtrip(tmp_path: Path, **env: str) -> dict:
    environment = {
        **os.environ,
        "AFTERCARE_VAR_DIR": str(tmp_path),
        "AFTERCARE_ALLOW_DEV_SECRET": "1",
        "HUEY_IMMEDIATE": "0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("queue_roundtrip.py"))],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_queue_delivers_acknowledgement_once(tmp_path):
    outcome = run_roundtrip(tmp_path, REDIS_URL="")
    assert outcome == {
        "queue": "SqliteHuey",
        "pending_before": 1,
        "acknowledged": True,
        "ack_events": 1,
        "outbox": 1,
    }


def test_redis_queue_delivers_acknowledgement_once(tmp_path):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (CI starts it)")
    # A database number of our own keeps parallel runs apart.
    outcome = run_roundtrip(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/14",
        AFTERCARE_QUEUE_NAME=f"test-{uuid.uuid4().hex[:8]}",
    )
    assert outcome == {
        "queue": "RedisHuey",
        "pending_before": 1,
        "acknowledged": True,
        "ack_events": 1,
        "outbox": 1,
    }
