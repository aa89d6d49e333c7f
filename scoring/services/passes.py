"""Passes over many leads: a new model version and its rescoring run, the pass over
changed leads (after an import, and in every tick), and scoring's tick jobs.

A rescoring run is leased: `run_rescore` claims it (pending → running) under a lease
that each of its batches renews, and the tick job `resume_lost_runs` hands a run whose
lease passed to another worker, which goes on from the spans not yet done (rescoring a
lead twice is harmless), or fails it once LOST_BEFORE_FAILING workers were lost on it.
Leases are stamped with the clock, like started and finished times, since they measure
how long a worker has been quiet; whether one has passed is decided as of the tick's
`now`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models, transaction
from django.db.models import F, Func, Max, Value
from django.db.models.functions import Least
from django.utils import timezone

from scoring.models import RescoreRun, ScoringModel
from scoring.rules import Sql, compile_definition
from scoring.services.events import sweep_ranks
from scoring.services.scores import ScoreCounts, active_model, compiled_model, score_leads

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 100_000  # leads per batch of a rescoring (its progress step)
DECAY_EVERY_SECONDS = 3600  # the tick job scoring.decay's interval
MANY_LOCK_ID = 0x5C0E  # the advisory lock key of scoring's passes over many leads
# A batch takes seconds (bench/rescore.py): a run whose worker was quiet this long
# lost it.
LEASE = timedelta(minutes=5)
# A queued run that no worker took up in this time is sent again (its message was
# lost, e.g. the broker was down as it was sent); another copy of it does no harm.
QUEUED_FOR = timedelta(hours=1)
LOST_BEFORE_FAILING = 3  # lost workers after which a run is marked failed
LOST = (
    "The worker running this was lost {times} times, so it was stopped. "
    "The hourly rescoring brings every lead up to date."
)

Status, Kind = RescoreRun.Status, RescoreRun.Kind


class RunTakenOver(Exception):
    """This worker's claim on a rescoring run was given up (its lease passed) and the run
    handed to another worker: this one stops, and its current batch rolls back."""


def _lease(length: timedelta) -> datetime:
    return timezone.now() + length


def create_version(*, definition: dict, by, note: str = "", now: datetime) -> ScoringModel:
    """Save `definition` as the next version, make it the active one and rescore every
    lead in the background (a RescoreRun with progress)."""
    from scoring.tasks import rescore

    compile_definition(definition, now=now)  # refuse a bad definition before writing
    with transaction.atomic():
        ScoringModel.objects.select_for_update().filter(is_active=True).update(is_active=False)
        version = (ScoringModel.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        model = ScoringModel.objects.create(
            version=version, definition=definition, is_active=True, note=note[:300],
            created_by=by, created_at=now,
        )  # fmt: skip
        run = RescoreRun.objects.create(model=model, created_at=now, lease_until=_lease(QUEUED_FOR))
        rescore.delay_on_commit(run.pk)
    return model


def over_spans(work: Callable[[tuple[int, int]], T], low: int, high: int) -> list[T]:
    """`work(span)` for every span of BATCH lead ids from `low` to `high`, results in span
    order. PostgreSQL runs one statement on one core, so RESCORE_CONNECTIONS spans run
    side by side, each on its own connection (one at a time inside an open transaction,
    whose uncommitted rows other connections could not see)."""
    spans = [(start, min(high, start + BATCH - 1)) for start in range(low, high + 1, BATCH)]
    if connection.in_atomic_block or settings.RESCORE_CONNECTIONS == 1 or len(spans) == 1:
        return [work(span) for span in spans]

    def on_own_connection(span: tuple[int, int]) -> T:
        try:
            return work(span)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(settings.RESCORE_CONNECTIONS) as pool:
        return list(pool.map(on_own_connection, spans))


def rescore_all(*, now: datetime, run: RescoreRun | None = None) -> ScoreCounts:
    """Rescore every lead in id batches (over_spans), each its own transaction. For a
    claimed `run`: only the spans it has not done yet, each recorded (progress, span
    done, lease renewed) in the batch's own transaction, so a span counts as done
    exactly when its scores are written."""
    found = compiled_model(now)
    if found is None:
        return ScoreCounts()
    model, compiled = found
    low, high = _span_of(run)
    if low is None:
        return ScoreCounts()
    done = set(run.spans_done) if run is not None else set()
    everyone = Sql("true", [])

    def batch(span: tuple[int, int]) -> ScoreCounts:
        if span[0] in done:
            return ScoreCounts()  # an earlier worker of this run rescored it
        with transaction.atomic():
            _lock_many(exclusive=False)
            counts = score_leads(compiled, version=model.version, where=everyone, now=now,
                                 span=span)  # fmt: skip
            if run is not None:
                _hold(
                    run,
                    spans_done=Func(F("spans_done"), Value(span[0]), function="array_append",
                                    output_field=ArrayField(models.BigIntegerField())),
                    leads_done=Least(F("leads_done") + counts.scored, F("leads_total")),
                    became_mql=F("became_mql") + counts.became_mql,
                    left_mql=F("left_mql") + counts.left_mql,
                    disqualified=F("disqualified") + counts.disqualified,
                )  # fmt: skip
        return counts

    return sum(over_spans(batch, low, high), ScoreCounts())


def _span_of(run: RescoreRun | None) -> tuple[int | None, int | None]:
    """The lead ids to walk: every lead's, or the run's as fixed when it first started
    (so a resumption walks the same spans)."""
    if run is not None and run.span_high is not None:
        return run.span_low, run.span_high
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), count(*) FILTER (WHERE merged_into_id IS NULL) "
            "FROM leads_lead"
        )
        low, high, count = cursor.fetchone()
    if run is not None:
        _hold(run, span_low=low, span_high=high, leads_total=count, leads_done=0)
    return low, high


def _hold(run: RescoreRun, **fields) -> None:
    """Write `fields` on `run` and renew its lease, while the run is still this worker's."""
    held = RescoreRun.objects.filter(pk=run.pk, status=Status.RUNNING, claims=run.claims)
    if not held.update(lease_until=_lease(LEASE), **fields):
        raise RunTakenOver(f"rescoring run {run.pk} was handed to another worker")


def claim_rescore(*, run_id: int, now: datetime) -> RescoreRun | None:
    """Take up run `run_id` (pending → running) under a new lease: the run as claimed,
    or None when it is not pending (done, failed, another worker's, or unknown). Its
    started_at stays that of its first start."""
    with transaction.atomic():
        run = RescoreRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != Status.PENDING:
            return None
        run.status, run.claims, run.lease_until = Status.RUNNING, run.claims + 1, _lease(LEASE)
        run.started_at = run.started_at or now
        run.save(update_fields=["status", "claims", "lease_until", "started_at"])
    return run


def run_rescore(*, run_id: int, now: datetime) -> RescoreRun | None:
    """The task's work (and the inline tick's): claim the run, rescore as of `now` the
    spans not done yet (a decay run first re-ranks every event: the hourly sweep),
    record the outcome. None when the run was not the caller's to do, or was handed to
    another worker meanwhile."""
    run = claim_rescore(run_id=run_id, now=now)
    if run is None:
        return None
    mine = RescoreRun.objects.filter(pk=run_id, status=Status.RUNNING, claims=run.claims)
    try:
        if run.kind == Kind.DECAY and not run.spans_done:
            sweep_ranks()  # events a crash left unranked, merged away or deleted
            _hold(run)
        rescore_all(now=now, run=run)
    except RunTakenOver:
        logger.warning("rescoring run %s was handed to another worker; this one stops", run_id)
        return None
    except Exception as exc:
        logger.exception("rescoring run %s failed", run_id)
        mine.update(status=Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now(),
                    lease_until=None)  # fmt: skip
        raise
    if not mine.update(status=Status.DONE, finished_at=timezone.now(), lease_until=None):
        return None  # given up on just now: its next worker finds every span done
    run.refresh_from_db()
    return run


def score_changed(*, now: datetime, lead_ids: list[int] | None = None) -> ScoreCounts | None:
    """Score, in one set-based pass, every lead never scored or changed since it was
    (and `lead_ids`): after an import, and in every tick."""
    found = compiled_model(now)
    if found is None:
        return None
    model, compiled = found
    # The ids first: scoring a lead sets scored_at, so the condition would no longer
    # select it for the stage moves that follow in the same transaction.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM leads_lead WHERE merged_into_id IS NULL AND erased_at IS NULL "
            "AND (scored_at IS NULL "
            "OR updated_at > scored_at OR id = ANY(%s)) ORDER BY id",
            [lead_ids or []],
        )
        ids = [row[0] for row in cursor.fetchall()]
    total = ScoreCounts()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        with transaction.atomic():
            _lock_many(exclusive=True)
            where = Sql("l.id = ANY(%s)", [chunk])
            span = (chunk[0], chunk[-1])
            total += score_leads(compiled, version=model.version, where=where, now=now, span=span)
    return total


def _lock_many(*, exclusive: bool) -> None:
    """Passes writing many leads' scores at once hold this transaction lock: the batches
    of a rescoring (disjoint: shared) or a pass over changed leads (exclusive), so two
    passes never lock the same rows in different orders (a deadlock)."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [MANY_LOCK_ID])


def tick(now: datetime) -> dict:
    """Scoring's tick job, every pass (cheap): rank the recent events a crash left
    unranked and score the leads changed since they were scored."""
    swept = sweep_ranks(recent_only=True)
    counts = score_changed(now=now, lead_ids=swept)
    if counts is None:
        return {"skipped": "no active scoring model", "reranked": len(swept)}
    return {"rescored": counts.scored, "mql": counts.became_mql, "left_mql": counts.left_mql,
            "disqualified": counts.disqualified, "reranked": len(swept)}  # fmt: skip


def decay(now: datetime, *, inline: bool = False) -> dict:
    """Scoring's hourly tick job: rescore every lead as of now (engagement decays with
    time), first re-ranking every event; a RescoreRun handed to a worker on commit, or
    run here when `inline` (manage.py tick). A rescoring already under way does the
    same: none is added."""
    from scoring.tasks import rescore

    model = active_model()
    if model is None:
        return {"skipped": "no active scoring model"}
    run = RescoreRun.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).first()
    if run is None:
        run = RescoreRun.objects.create(model=model, kind=Kind.DECAY, created_at=now,
                                        lease_until=_lease(QUEUED_FOR))  # fmt: skip
        if not inline:
            rescore.delay_on_commit(run.pk)
            return {"enqueued": run.pk}
    elif not inline:
        return {"skipped": f"rescoring run {run.pk} is under way"}
    done = run_rescore(run_id=run.pk, now=now)
    if done is None:
        return {"skipped": f"rescoring run {run.pk} is running elsewhere"}
    return {"run": done.pk, "decayed": done.leads_done}


def resume_lost_runs(now: datetime, *, inline: bool = False) -> dict[str, list[int]]:
    """Scoring's tick job for lost workers, every pass: a running rescoring whose lease
    passed as of `now` is taken back (a conditional UPDATE: a worker that renewed its
    lease meanwhile keeps it) and queued again, to go on from the spans not yet done,
    or marked failed at its LOST_BEFORE_FAILING-th lost worker. A queued run that no
    worker took up within QUEUED_FOR is sent again. With `inline` (manage.py tick) they
    run here instead."""
    from scoring.tasks import rescore

    outcome: dict[str, list[int]] = {"resumed": [], "failed": [], "resent": []}
    for run in RescoreRun.objects.filter(status=Status.RUNNING, lease_until__lt=now):
        lost = run.workers_lost + 1
        expired = RescoreRun.objects.filter(pk=run.pk, status=Status.RUNNING, lease_until__lt=now)
        if lost >= LOST_BEFORE_FAILING:
            if expired.update(
                status=Status.FAILED,
                workers_lost=lost,
                lease_until=None,
                error=LOST.format(times=lost),
                finished_at=timezone.now(),
            ):
                outcome["failed"].append(run.pk)
        elif expired.update(
            status=Status.PENDING, workers_lost=lost, lease_until=_lease(QUEUED_FOR)
        ):
            outcome["resumed"].append(run.pk)
    for run in RescoreRun.objects.filter(status=Status.PENDING, lease_until__lt=now):
        waiting = RescoreRun.objects.filter(pk=run.pk, status=Status.PENDING, lease_until__lt=now)
        if waiting.update(lease_until=_lease(QUEUED_FOR)):
            outcome["resent"].append(run.pk)
    for run_id in outcome["resumed"] + outcome["resent"]:
        if inline:
            run_rescore(run_id=run_id, now=now)
        else:
            rescore.delay_on_commit(run_id)
    return outcome
