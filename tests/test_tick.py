"""`manage.py tick [--at]` and beat's task call the same run_tick(now); each job runs
under a lock of its own, when it is due."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from leadflow import scheduler
from leadflow.models import JobState, TickRun
from leadflow.tasks import tick

T = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def tick_job(monkeypatch):
    """scheduler.tick_job over a registry of the test's own jobs only."""
    monkeypatch.setattr(scheduler, "_jobs", {})
    return scheduler.tick_job


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
def test_a_failing_job_is_recorded_and_does_not_stop_the_others(tick_job):
    ran = []
    tick_job("boom")(lambda now: 1 / 0)
    tick_job("after")(lambda now: ran.append(now) or "fine")
    run = scheduler.run_tick(T)
    assert run.errors == {"boom": "ZeroDivisionError: division by zero"}
    assert run.results == {"after": "fine"}
    assert ran == [T]
    with pytest.raises(CommandError, match="1 job"):
        call_command("tick", "--at", T.isoformat())


@pytest.mark.django_db
def test_the_tick_log_keeps_a_week(now):
    old = scheduler.run_tick(now - timedelta(days=8))
    TickRun.objects.filter(pk=old.pk).update(started_at=now - timedelta(days=8))
    recent = scheduler.run_tick(now - timedelta(days=1))
    TickRun.objects.filter(pk=recent.pk).update(started_at=now - timedelta(days=1))
    run = scheduler.run_tick(now)
    assert run.results["leadflow.prune_tick_log"] == {"deleted": 1}
    assert set(TickRun.objects.values_list("pk", flat=True)) == {recent.pk, run.pk}


@pytest.mark.django_db
def test_a_job_runs_when_due_and_not_before(tick_job):
    ran = []
    tick_job("hourly", every=timedelta(hours=1))(ran.append)
    tick_job("every pass")(lambda now: "ran")
    passes = [T, T + timedelta(seconds=30), T + timedelta(minutes=59), T + timedelta(hours=1)]
    runs = [scheduler.run_tick(at) for at in passes]
    assert ran == [T, T + timedelta(hours=1)]
    assert runs[1].results["hourly"] == {"skipped": f"not due until {runs[3].as_of.isoformat()}"}
    assert [run.results["every pass"] for run in runs] == ["ran"] * 4
    # A pass a moment early for the next slot (beat's jitter) still runs it, on time.
    scheduler.run_tick(T + timedelta(hours=2, seconds=-2))
    scheduler.run_tick(T + timedelta(hours=2, seconds=30))
    assert ran[2:] == [T + timedelta(hours=2, seconds=-2)]
    state = JobState.objects.get(name="hourly")
    assert state.last_as_of == T + timedelta(hours=2, seconds=-2)
    assert state.consecutive_failures == 0 and state.last_finished_at is not None


@pytest.mark.django_db
def test_every_is_also_seconds_and_a_failed_run_is_due_again_at_the_next_pass(tick_job):
    outcomes = iter([ValueError("down"), None, None])

    def flaky(now):
        if error := next(outcomes):
            raise error
        return "ok"

    tick_job("flaky", every=90)(flaky)
    assert scheduler.run_tick(T).errors == {"flaky": "ValueError: down"}
    state = JobState.objects.get(name="flaky")
    assert (state.last_as_of, state.consecutive_failures) == (None, 1)
    assert state.last_error == "ValueError: down"
    assert scheduler.run_tick(T + timedelta(seconds=30)).results == {"flaky": "ok"}
    state.refresh_from_db()
    assert (state.last_as_of, state.consecutive_failures, state.last_error) == (
        T + timedelta(seconds=30), 0, "",
    )  # fmt: skip
    assert "skipped" in scheduler.run_tick(T + timedelta(seconds=100)).results["flaky"]
    assert scheduler.run_tick(T + timedelta(seconds=120)).results == {"flaky": "ok"}


@pytest.mark.django_db
def test_the_command_has_jobs_do_their_heavy_work_inline_and_beats_task_does_not(tick_job):
    seen = []

    @tick_job("heavy")
    def heavy(now, *, inline=False):
        seen.append(inline)

    call_command("tick", "--at", T.isoformat())
    tick(at=(T + timedelta(minutes=1)).isoformat())
    assert seen == [True, False]


@pytest.mark.django_db(transaction=True)
def test_a_job_running_in_another_pass_is_skipped_there_while_the_others_run(tick_job):
    """Two real passes on two connections: the first is stuck in its slow job (holding
    that job's lock); the second skips only that job, then the slow job runs again once
    the first pass has let go of it."""
    started, release = threading.Event(), threading.Event()
    quick = []

    @tick_job("slow")
    def slow(now):
        if now == T:
            started.set()
            assert release.wait(timeout=60), "the test never released the slow job"
        return "slow done"

    tick_job("quick")(quick.append)

    first: list[TickRun] = []

    def first_pass():
        try:
            first.append(scheduler.run_tick(T))
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=first_pass)
    thread.start()
    try:
        assert started.wait(timeout=60)
        second = scheduler.run_tick(T + timedelta(minutes=1))
    finally:
        release.set()
        thread.join()
    assert second.results == {
        "slow": {"skipped": "running elsewhere"},
        "quick": None,
    }
    assert first[0].results == {"slow": "slow done", "quick": None}
    assert sorted(quick) == [T, T + timedelta(minutes=1)]
    assert scheduler.run_tick(T + timedelta(minutes=2)).results["slow"] == "slow done"


def test_run_tick_refuses_a_naive_time():
    with pytest.raises(ValueError, match="aware"):
        scheduler.run_tick(datetime(2026, 11, 25, 9, 0))  # noqa: DTZ001
