"""A task travels through the real Redis broker to a real Celery worker process,
and its effect is read back from PostgreSQL."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from leadflow.models import TickRun
from leadflow.tasks import tick

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(settings):
    """A real `celery worker` on a queue of its own, pointed at the test database."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "leadflow", "worker",
            "--queues", queue, "--pool", "solo", "--loglevel", "warning",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    try:
        yield queue
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_tick_sent_through_redis_runs_in_a_real_worker_and_writes_postgres(worker):
    as_of = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    result = tick.apply_async(kwargs={"at": as_of.isoformat()}, queue=worker)
    # Blocks on the Redis result backend until the worker answers (no sleeping).
    summary = result.get(timeout=90)
    assert summary["errors"] == {}
    run = TickRun.objects.get(pk=summary["id"])
    assert run.as_of == as_of
    assert run.finished_at is not None
    assert "leadflow.prune_tick_log" in run.results
