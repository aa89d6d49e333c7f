"""Rescoring runs out of the tick: the hourly decay is handed to a worker on commit (run
in place by `manage.py tick`), and a run whose worker was lost is noticed by its lease,
resumed from the spans not done, or failed after LOST_BEFORE_FAILING lost workers."""

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from leadflow.tasks import tick
from leads.models import Lead
from leads.services import record_event
from scoring import services
from scoring.models import RescoreRun
from scoring.services import passes
from scoring.tasks import rescore
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead
from tests.scoring_helpers import activate

T0 = CURRENT_TIME
SECOND = timedelta(seconds=1)


class WorkerKilled(BaseException):
    """What SIGKILL does to a worker mid-run: nothing after it runs (no except clause
    marks the run failed), only the batches it committed remain."""


def kill():
    raise WorkerKilled


class Batches:
    """Stands in for score_leads to record the spans a run scores, and to do `at[n]()`
    as batch number n (1-based) starts: kill its worker, say."""

    def __init__(self, monkeypatch):
        self.spans: list[tuple[int, int]] = []
        self.at: dict[int, Callable[[], None]] = {}
        self._real = passes.score_leads
        monkeypatch.setattr(passes, "score_leads", self)

    def __call__(self, *args, **kwargs):
        if action := self.at.pop(len(self.spans) + 1, None):
            action()
        self.spans.append(kwargs["span"])
        return self._real(*args, **kwargs)


@pytest.fixture
def sent(monkeypatch):
    """The run ids handed to the rescore task (through the broker, in production)."""
    ids: list[int] = []
    monkeypatch.setattr(rescore, "delay", ids.append)
    return ids


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """committed(fn, ...) calls fn as its own transaction would: its on-commit callbacks
    run as it returns (the test's transaction never commits)."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return call


@pytest.fixture
def five_leads(monkeypatch):
    """Five leads in three spans of two ids, with events that decay."""
    monkeypatch.setattr(passes, "BATCH", 2)
    activate()
    leads = [make_lead(title="VP", now=T0 - timedelta(days=40)) for _ in range(5)]
    for lead in leads:
        record_event(lead_id=lead.pk, type="demo_request", occurred_at=T0 - timedelta(days=30),
                     now=T0 - timedelta(days=30))  # fmt: skip
    Lead.objects.update(scored_at=None)  # none scored yet: every span rewrites its leads
    return sorted(lead.pk for lead in leads)


def _unscored() -> list[int]:
    return sorted(Lead.objects.filter(scored_at__isnull=True).values_list("pk", flat=True))


def _lost_worker_run(batches, *, killed_at: int) -> RescoreRun:
    """A run claimed by a worker that was killed as it started batch `killed_at`."""
    run = RescoreRun.objects.create(model=services.active_model(), created_at=T0)
    batches.at[killed_at] = kill
    with pytest.raises(WorkerKilled):
        services.run_rescore(run_id=run.pk, now=T0)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_beats_pass_hands_the_hourly_rescoring_to_a_worker_on_commit(five_leads, sent, committed):
    summary = committed(tick, at=T0.isoformat())  # beat's task
    run = RescoreRun.objects.get()
    assert summary["results"]["scoring.decay"] == {"enqueued": run.pk}
    assert (run.kind, run.status, run.leads_done) == ("decay", "pending", 0)  # not run here
    assert sent == [run.pk]
    a_minute_later = committed(tick, at=(T0 + timedelta(minutes=1)).isoformat())
    assert a_minute_later["results"]["scoring.decay"]["skipped"].startswith("not due until")
    assert sent == [run.pk] and RescoreRun.objects.count() == 1
    assert rescore(run.pk) == {"id": run.pk, "status": "done", "leads": 5}  # the worker
    an_hour_later = committed(tick, at=(T0 + timedelta(hours=1)).isoformat())
    again = RescoreRun.objects.exclude(pk=run.pk).get()
    assert an_hour_later["results"]["scoring.decay"] == {"enqueued": again.pk}
    assert sent == [run.pk, again.pk]


@pytest.mark.django_db
def test_a_rolled_back_decay_sends_nothing(five_leads, sent, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks(execute=True)
    with capture, pytest.raises(RuntimeError), transaction.atomic():
        assert "enqueued" in passes.decay(T0)
        raise RuntimeError("whatever fails next in the same transaction")
    assert sent == [] and not RescoreRun.objects.exists()


@pytest.mark.django_db
def test_manage_py_tick_rescores_everyone_itself(five_leads, sent, capsys):
    call_command("tick", "--at", T0.isoformat())
    run = RescoreRun.objects.get()
    assert (run.kind, run.status, run.leads_done) == ("decay", "done", 5)
    assert f"scoring.decay: {{'run': {run.pk}, 'decayed': 5}}" in capsys.readouterr().out
    assert sent == []
    engagement = list(Lead.objects.values_list("engagement", flat=True))
    assert engagement == [pytest.approx(20, abs=0.1)] * 5  # 40 points, one half-life ago


@pytest.mark.django_db
def test_no_rescoring_is_added_while_one_is_under_way(five_leads, sent, committed):
    queued = RescoreRun.objects.create(model=services.active_model(), created_at=T0)
    skipped = committed(passes.decay, T0)
    assert skipped == {"skipped": f"rescoring run {queued.pk} is under way"}
    assert sent == [] and RescoreRun.objects.count() == 1
    assert passes.decay(T0, inline=True) == {"run": queued.pk, "decayed": 5}  # workers down


@pytest.mark.django_db
def test_a_run_whose_worker_was_lost_is_resumed_from_the_spans_not_done(
    five_leads, sent, committed, monkeypatch, client, marketer
):
    first, second, third = [(five_leads[0], five_leads[1]), (five_leads[2], five_leads[3]),
                            (five_leads[4], five_leads[4])]  # fmt: skip
    batches = Batches(monkeypatch)
    run = _lost_worker_run(batches, killed_at=2)
    assert batches.spans == [first] and _unscored() == five_leads[2:]
    assert (run.status, run.claims, run.spans_done, run.leads_done) == (
        "running", 1, [first[0]], 2,
    )  # fmt: skip
    nothing = {"resumed": [], "failed": [], "resent": []}
    assert committed(passes.resume_lost_runs, run.lease_until - SECOND) == nothing  # alive?
    noticed = committed(passes.resume_lost_runs, run.lease_until + SECOND)
    assert noticed == {**nothing, "resumed": [run.pk]} and sent == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.workers_lost) == ("pending", 1)
    client.force_login(marketer)
    assert "Resumed after its worker was lost" in client.get(f"/scoring/runs/{run.pk}/").text
    assert rescore(run.pk)["status"] == "done"  # the next worker
    assert batches.spans == [first, second, third] and _unscored() == []
    run.refresh_from_db()
    assert (run.status, run.claims, run.leads_done, run.lease_until) == ("done", 2, 5, None)
    assert sorted(run.spans_done) == [first[0], second[0], third[0]]
    page = client.get(f"/scoring/runs/{run.pk}/").text
    assert "Resumed after its worker was lost" in page and "hx-get" not in page


@pytest.mark.django_db
def test_a_run_that_keeps_losing_its_worker_ends_failed(
    five_leads, sent, committed, monkeypatch, client, marketer
):
    batches = Batches(monkeypatch)
    run = _lost_worker_run(batches, killed_at=1)
    for lost in (1, 2):
        assert committed(passes.resume_lost_runs, run.lease_until + SECOND)["resumed"] == [run.pk]
        batches.at[len(batches.spans) + 1] = kill
        with pytest.raises(WorkerKilled):
            rescore(run.pk)
        run.refresh_from_db()
        assert (run.status, run.workers_lost, run.claims) == ("running", lost, lost + 1)
    assert committed(passes.resume_lost_runs, run.lease_until + SECOND)["failed"] == [run.pk]
    run.refresh_from_db()
    assert (run.status, run.workers_lost, run.lease_until) == ("failed", 3, None)
    assert run.error.startswith("The worker running this was lost 3 times")
    assert sent == [run.pk, run.pk]
    assert rescore(run.pk) == {"id": run.pk, "skipped": True}  # a late delivery: nothing
    client.force_login(marketer)
    page = client.get(f"/scoring/runs/{run.pk}/").text
    assert "Rescoring failed: The worker running this was lost 3 times" in page
    assert "hx-get" not in page  # no polling a run that will not move again


@pytest.mark.django_db(transaction=True)
def test_a_worker_given_up_on_cannot_write_over_the_next(five_leads, monkeypatch, settings):
    """A worker that was only slow: once its run was handed on (committed by another
    connection, as the tick would), its batch rolls back and it stops, leaving the run
    to the worker that holds it now."""
    settings.RESCORE_CONNECTIONS = 1
    monkeypatch.setattr(rescore, "delay", lambda run_id: None)
    run = RescoreRun.objects.create(model=services.active_model(), created_at=T0)
    taken = []

    def handed_on():
        def elsewhere():
            try:
                lease = RescoreRun.objects.get(pk=run.pk).lease_until
                passes.resume_lost_runs(lease + SECOND)
                taken.append(passes.claim_rescore(run_id=run.pk, now=T0))
            finally:
                connection.close()

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()

    batches = Batches(monkeypatch)
    batches.at[2] = handed_on
    assert services.run_rescore(run_id=run.pk, now=T0) is None  # the slow worker stops
    assert taken[0].claims == 2
    assert _unscored() == five_leads[2:]  # its second batch rolled back
    run.refresh_from_db()
    assert (run.status, run.claims, run.spans_done) == ("running", 2, [five_leads[0]])


@pytest.mark.django_db
def test_a_queued_run_no_worker_took_up_is_sent_again(five_leads, sent, committed):
    assert "enqueued" in committed(passes.decay, T0)
    run = RescoreRun.objects.get()
    assert committed(passes.resume_lost_runs, run.lease_until - SECOND)["resent"] == []
    assert committed(passes.resume_lost_runs, run.lease_until + SECOND)["resent"] == [run.pk]
    assert sent == [run.pk, run.pk]
    assert RescoreRun.objects.get().lease_until > run.lease_until
    assert rescore(run.pk)["status"] == "done" and rescore(run.pk)["skipped"]  # one of two


@pytest.mark.django_db
def test_manage_py_tick_resumes_a_lost_run_itself(five_leads, sent, monkeypatch):
    batches = Batches(monkeypatch)
    run = _lost_worker_run(batches, killed_at=3)
    call_command("tick", "--at", (run.lease_until + SECOND).isoformat())
    run.refresh_from_db()
    assert (run.status, run.workers_lost, run.claims, run.leads_done) == ("done", 1, 2, 5)
    assert _unscored() == [] and sent == []
