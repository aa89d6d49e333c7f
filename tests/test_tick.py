"""`manage.py tick [--at]` and beat's task call the same run_tick(now)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from leadflow import scheduler
from leadflow.models import TickRun
from leadflow.tasks import tick


@pytest.mark.django_db
def test_tick_at_an_instant_records_a_run_as_of_that_instant(capsys):
    call_command("tick", "--at", "2026-11-25T09:00:00Z")
    run = TickRun.objects.get()
    assert run.as_of == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert run.ok
    assert "done" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["2026-11-25T09:00", "yesterday"])
def test_tick_refuses_an_instant_without_zone_or_not_iso(value):
    with pytest.raises(CommandError):
        call_command("tick", "--at", value)
    assert TickRun.objects.count() == 0


@pytest.mark.django_db
def test_beat_schedules_the_task_that_runs_the_same_pass():
    entry = settings.CELERY_BEAT_SCHEDULE["tick"]
    assert entry["task"] == tick.name == "leadflow.tasks.tick"
    summary = tick(at="2026-11-25T09:00:00+01:00")
    assert TickRun.objects.get(pk=summary["id"]).as_of == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_failing_job_is_recorded_and_does_not_stop_the_others(monkeypatch):
    ran = []
    jobs = {
        "boom": lambda now: 1 / 0,
        "after": lambda now: ran.append(now) or "fine",
    }
    monkeypatch.setattr(scheduler, "_jobs", jobs)
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    run = scheduler.run_tick(now)
    assert run.errors == {"boom": "ZeroDivisionError: division by zero"}
    assert run.results == {"after": "fine"}
    assert ran == [now]
    with pytest.raises(CommandError, match="1 job"):
        call_command("tick", "--at", now.isoformat())


@pytest.mark.django_db
def test_the_tick_log_keeps_a_week(now):
    old = scheduler.run_tick(now - timedelta(days=8))
    TickRun.objects.filter(pk=old.pk).update(started_at=now - timedelta(days=8))
    recent = scheduler.run_tick(now - timedelta(days=1))
    TickRun.objects.filter(pk=recent.pk).update(started_at=now - timedelta(days=1))
    run = scheduler.run_tick(now)
    assert run.results["leadflow.prune_tick_log"] == {"deleted": 1}
    assert set(TickRun.objects.values_list("pk", flat=True)) == {recent.pk, run.pk}


@pytest.mark.django_db(transaction=True)
def test_a_pass_is_skipped_while_another_holds_the_lock(now):
    import psycopg2
    from django.db import connection

    db = connection.settings_dict
    other = psycopg2.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
    )
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [scheduler._TICK_LOCK_ID])
        assert scheduler.run_tick(now) is None
        assert TickRun.objects.count() == 0
        with other.cursor() as cur:  # released now (closing lets the server finish later)
            cur.execute("SELECT pg_advisory_unlock(%s)", [scheduler._TICK_LOCK_ID])
    finally:
        other.close()
    assert scheduler.run_tick(now) is not None


def test_run_tick_refuses_a_naive_time():
    with pytest.raises(ValueError, match="aware"):
        scheduler.run_tick(datetime(2026, 11, 25, 9, 0))  # noqa: DTZ001
