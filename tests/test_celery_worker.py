"""Tasks travel through the real Redis broker to real Celery worker processes, and their
effect is read back from PostgreSQL; a worker killed mid-run is noticed and its run
resumed by another."""

import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from django.db import connection

from leadflow.models import TickRun
from leadflow.tasks import tick
from leads.models import Lead
from scoring.models import RescoreRun
from scoring.services import BATCH, active_model, passes
from scoring.tasks import rescore
from tests.helpers import database_url, make_lead
from tests.scoring_helpers import activate

ROOT = Path(__file__).resolve().parent.parent


def _connect():
    """A connection of the test's own to the test database, beside Django's."""
    db = connection.settings_dict
    return psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"],
                            password=db["PASSWORD"], dbname=db["NAME"])  # fmt: skip


@pytest.fixture
def start_worker(settings):
    """start_worker(queue): a real `celery worker` on `queue`, pointed at the test
    database, in a session of its own (so a test can kill exactly it)."""
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL}
    started: list[subprocess.Popen] = []

    def start(queue: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "leadflow", "worker",
                "--queues", queue, "--pool", "solo", "--loglevel", "warning",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )  # fmt: skip
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.terminate()  # nothing for one already killed and reaped
        proc.wait(timeout=30)


@pytest.fixture
def queue():
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def run_changes():
    """run_changes(predicate) blocks until a committed change of a RescoreRun row
    satisfies predicate({"id", "status", "spans_done"}) and returns it: a trigger NOTIFYs
    on every update, so the test waits on events, never on a clock."""
    listener = _connect()
    listener.autocommit = True
    with listener.cursor() as cur:
        cur.execute(
            """
            CREATE FUNCTION test_run_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('rescore_run', json_build_object('id', NEW.id,
                    'status', NEW.status, 'spans_done', cardinality(NEW.spans_done))::text);
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_run_changed AFTER UPDATE ON scoring_rescorerun
                FOR EACH ROW EXECUTE FUNCTION test_run_changed();
            LISTEN rescore_run;
            """
        )

    def wait_for(predicate, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while True:
            while listener.notifies:
                change = json.loads(listener.notifies.pop(0).payload)
                if predicate(change):
                    return change
            left = deadline - time.monotonic()
            assert left > 0, "the run never changed as expected"
            select.select([listener], [], [], left)  # wakes on the next notification
            listener.poll()

    try:
        yield wait_for
    finally:
        with listener.cursor() as cur:
            cur.execute(
                "DROP TRIGGER test_run_changed ON scoring_rescorerun; "
                "DROP FUNCTION test_run_changed();"
            )
        listener.close()


@pytest.mark.django_db(transaction=True)
def test_a_tick_sent_through_redis_runs_in_a_real_worker_and_writes_postgres(start_worker, queue):
    start_worker(queue)
    as_of = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    result = tick.apply_async(kwargs={"at": as_of.isoformat()}, queue=queue)
    # Blocks on the Redis result backend until the worker answers (no sleeping).
    summary = result.get(timeout=90)
    assert summary["errors"] == {}
    run = TickRun.objects.get(pk=summary["id"])
    assert run.as_of == as_of
    assert run.finished_at is not None
    assert "leadflow.prune_tick_log" in run.results


def _leads_one_per_batch(count: int) -> list[int]:
    """`count` leads BATCH ids apart: a rescoring walks them in `count` batches."""
    ids = [make_lead(title="VP").pk]
    with connection.cursor() as cursor:
        for _ in range(count - 1):
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), %s)",
                [ids[-1] + BATCH - 1],
            )
            ids.append(make_lead(title="VP").pk)
    return ids


@pytest.mark.django_db(transaction=True)
def test_a_rescoring_whose_worker_is_killed_is_noticed_and_resumed_by_another_worker(
    start_worker, queue, run_changes, monkeypatch
):
    activate()
    ids = _leads_one_per_batch(3)
    Lead.objects.update(scored_at=None)  # every batch has leads to write
    run = RescoreRun.objects.create(model=active_model())
    # The later batches' leads are held, so the worker is inside its run, its first batch
    # committed and the others waiting, when it is killed.
    blocker = _connect()
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT id FROM leads_lead WHERE id = ANY(%s) FOR UPDATE", [ids[1:]])
        first = start_worker(queue)
        rescore.apply_async(args=[run.pk], queue=queue)
        run_changes(lambda change: change["id"] == run.pk and change["spans_done"] == 1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        blocker.rollback()
        blocker.close()
    run.refresh_from_db()
    assert (run.status, run.claims, run.spans_done) == ("running", 1, [ids[0]])
    assert list(Lead.objects.filter(scored_at__isnull=True).order_by("pk")
                .values_list("pk", flat=True)) == ids[1:]  # fmt: skip

    # Were the first batch rescored again, this lead's fit would be rewritten.
    Lead.objects.filter(pk=ids[0]).update(fit=-1)

    # The tick notices once the lease has passed, and hands the run to a worker again
    # (sent to this test's queue; in production the default one).
    monkeypatch.setattr(rescore, "delay", lambda run_id: rescore.apply_async([run_id], queue=queue))
    assert passes.resume_lost_runs(run.lease_until - timedelta(seconds=1))["resumed"] == []
    assert passes.resume_lost_runs(run.lease_until + timedelta(seconds=1))["resumed"] == [run.pk]
    start_worker(queue)
    run_changes(lambda change: change["id"] == run.pk and change["status"] == "done")
    run.refresh_from_db()
    assert (run.claims, run.workers_lost, run.leads_done, run.leads_total) == (2, 1, 3, 3)
    assert sorted(run.spans_done) == ids  # each batch's first id: one lead per batch
    assert not Lead.objects.filter(scored_at__isnull=True).exists()
    assert Lead.objects.get(pk=ids[0]).fit == -1  # resumed after the batch done, not redone
    assert Lead.objects.get(pk=ids[2]).fit == 15
