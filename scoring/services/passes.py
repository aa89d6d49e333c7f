"""Passes over many leads: a new model version and its rescoring run, the pass over
changed leads (after an import, and in every tick), and the tick itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.db.models.functions import Least
from django.utils import timezone

from scoring.models import RescoreRun, ScoringModel
from scoring.rules import Sql, compile_definition
from scoring.services.events import sweep_ranks
from scoring.services.scores import ScoreCounts, active_model, compiled_model, score_leads

logger = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 100_000  # leads per batch of a rescoring (its progress step)
DECAY_EVERY_SECONDS = 3600
MANY_LOCK_ID = 0x5C0E  # the advisory lock key of scoring's passes over many leads


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
        run = RescoreRun.objects.create(model=model, created_at=now)
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
    """Rescore every lead in id batches (over_spans), each its own transaction, progress
    recorded after each."""
    found = compiled_model(now)
    if found is None:
        return ScoreCounts()
    model, compiled = found
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(id), max(id), count(*) FILTER (WHERE merged_into_id IS NULL) "
            "FROM leads_lead"
        )
        low, high, count = cursor.fetchone()
    if run is not None:
        RescoreRun.objects.filter(pk=run.pk).update(leads_total=count, leads_done=0)
    if low is None:
        return ScoreCounts()
    everyone = Sql("true", [])

    def batch(span: tuple[int, int]) -> ScoreCounts:
        with transaction.atomic():
            _lock_many(exclusive=False)
            counts = score_leads(compiled, version=model.version, where=everyone, now=now,
                                 span=span)  # fmt: skip
        if run is not None:
            RescoreRun.objects.filter(pk=run.pk).update(
                leads_done=Least(F("leads_done") + counts.scored, count),
                became_mql=F("became_mql") + counts.became_mql,
                left_mql=F("left_mql") + counts.left_mql,
                disqualified=F("disqualified") + counts.disqualified,
            )
        return counts

    return sum(over_spans(batch, low, high), ScoreCounts())


def run_rescore(*, run_id: int, now: datetime) -> RescoreRun | None:
    """The task's work: claim the run (pending → running), rescore as of `now` (its
    started_at), record the outcome."""
    claimed = RescoreRun.objects.filter(pk=run_id, status=RescoreRun.Status.PENDING).update(
        status=RescoreRun.Status.RUNNING, started_at=now
    )
    if not claimed:
        return None  # done, running elsewhere, or unknown
    run = RescoreRun.objects.get(pk=run_id)
    try:
        rescore_all(now=now, run=run)
    except Exception as exc:
        logger.exception("rescoring run %s failed", run_id)
        RescoreRun.objects.filter(pk=run_id).update(
            status=RescoreRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    RescoreRun.objects.filter(pk=run_id).update(
        status=RescoreRun.Status.DONE, finished_at=timezone.now()
    )
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
            "SELECT id FROM leads_lead WHERE merged_into_id IS NULL AND (scored_at IS NULL "
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
    """The scheduler's scoring job: rank any recent events a crash left unranked (once an
    hour: all events), rescore the leads changed since they were scored, and once an
    hour decay everyone."""
    last = RescoreRun.objects.filter(status=RescoreRun.Status.DONE).order_by("-started_at").first()
    hourly = last is None or abs((now - last.started_at).total_seconds()) >= DECAY_EVERY_SECONDS
    swept = sweep_ranks(recent_only=not hourly)
    counts = score_changed(now=now, lead_ids=swept)
    if counts is None:
        return {"skipped": "no active scoring model", "reranked": len(swept)}
    model = active_model()
    result = {"rescored": counts.scored, "mql": counts.became_mql, "left_mql": counts.left_mql,
              "disqualified": counts.disqualified, "reranked": len(swept)}  # fmt: skip
    if hourly:
        run = RescoreRun.objects.create(model=model, created_at=now)
        done = run_rescore(run_id=run.pk, now=now)
        result["decayed"] = done.leads_done if done else 0
    return result
