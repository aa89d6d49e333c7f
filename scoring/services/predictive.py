"""The predictive score: training runs, activation, and scoring open leads with it.

A training run (`request_training`: the page, `POST /api/v1/predictive/train/`, the
daily tick job) is one row, at most one pending or running at a time; the worker claims
it with a conditional UPDATE, records its progress as it goes and never raises: too few
outcomes end it as refused with the reason, any other error as failed. A trained model
is kept either way; it becomes the active one only when it beats the rule score on the
held-out outcomes (`learn.Trained.beats_rules`), and then every open lead is scored with
it in id spans (one query a span, numpy, one UPDATE from arrays). A lead that changes
is scored again by the debounced `score_changed` task (`score_pending`).
"""

# SQL here is assembled from this module's own fragments; values travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from leads.idsets import among
from scoring import outcomes
from scoring.conditions import Sql
from scoring.models import PredictiveModel, ScoringModel, TrainingRun
from scoring.services.passes import over_spans

logger = logging.getLogger(__name__)
Status = TrainingRun.Status

LEASE = timedelta(minutes=10)  # a run whose worker was quiet this long lost it
EVERY = timedelta(days=1)  # the scheduled training's interval (tick job scoring.predictive)
PENDING_BATCH = 10_000
LOST = "The worker training this was lost; train again (the daily training will too)."
OPEN = Sql("NOT (l.stage = ANY(%s))", [list(outcomes.CLOSED)])
# A bulk scoring over more lead ids than this drops the sort index and builds it again.
REBUILD_PAST = 50_000
SORT_INDEX = "lead_predictive_idx"
# As leads.models.Lead.Meta declares it (migration 0018): the same expression and name.
SORT_INDEX_ON = 'ON leads_lead ((COALESCE("predictive_score", -1)), "id")'


def request_training(*, by, now: datetime) -> TrainingRun:
    """A pending training run, handed to a worker on commit; the one pending or running
    already, if there is one (two trainings never run at once)."""
    from scoring.tasks import train_predictive

    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                requested_by=by, created_at=now, lease_until=timezone.now() + LEASE
            )
    except IntegrityError:
        under_way = TrainingRun.objects.filter(status__in=[Status.PENDING, Status.RUNNING]).first()
        if under_way is not None:
            return under_way
        raise
    train_predictive.delay_on_commit(run.pk)
    return run


def claim_training(*, run_id: int, now: datetime) -> TrainingRun | None:
    """Take up run `run_id` (pending → running): the run, or None when it was not
    pending (another worker has it, it ended, or there is no such run)."""
    taken = TrainingRun.objects.filter(pk=run_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=now, lease_until=timezone.now() + LEASE,
        progress=1, step="Reading the outcomes",
    )  # fmt: skip
    return TrainingRun.objects.get(pk=run_id) if taken else None


def _progress(run: TrainingRun, progress: int, step: str) -> None:
    TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
        progress=progress, step=step, lease_until=timezone.now() + LEASE
    )


def _finish(run: TrainingRun, status: str, message: str, model=None) -> None:
    TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
        status=status, message=message[:2000], model=model, progress=100, step="",
        finished_at=timezone.now(), lease_until=None,
    )  # fmt: skip


def run_training(*, run_id: int, now: datetime) -> TrainingRun | None:
    """The task's work: claim the run, learn from the outcomes known `now`, keep the
    model, activate it if it beats the rule score, score every open lead with it. Never
    raises for the data: too few outcomes end the run refused, any error failed."""
    from scoring.predictive import learn

    run = claim_training(run_id=run_id, now=now)
    if run is None:
        return None
    try:
        model = train(now=now, progress=lambda pct, step: _progress(run, pct, step))
    except learn.TooFewOutcomes as exc:
        _finish(run, Status.REFUSED, str(exc))
    except Exception as exc:
        logger.exception("training run %s failed", run_id)
        _finish(run, Status.FAILED, f"Training failed: {exc}")
    else:
        if model.is_active:
            message = (f"Active: AUC {model.auc:.3f} on {model.held_out:,} held-out leads "
                       f"against the rule score's {model.rule_auc:.3f}.")  # fmt: skip
        else:
            message = model.note
        _finish(run, Status.DONE, message, model=model)
    run.refresh_from_db()
    return run


def _read(spec, *, where: Sql, now: datetime, labelled: bool):
    """Every lead matching `where` as one Frame, read span by span."""
    from scoring.predictive import features

    low, high = _ids()
    if low is None:
        return features.concat([], len(spec.columns))

    def span(bounds):
        inside = Sql(f"l.id BETWEEN %s AND %s AND ({where.text})", [*bounds, *where.params])
        return features.read(spec, where=inside, now=now, labelled=labelled)

    return features.concat(over_spans(span, low, high), len(spec.columns))


def _ids() -> tuple[int | None, int | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM leads_lead")
        return cursor.fetchone()


def train(*, now: datetime, progress=lambda pct, step: None, score: bool = True) -> PredictiveModel:
    """Learn from every outcome known `now` and keep the model (active only if it beats
    the rule score on the held-out leads), then score every open lead with it (unless
    `score` is False). TooFewOutcomes when there are too few."""
    from scoring.predictive import features, learn, suggestions

    spec = features.Spec.every_column()
    frame = _read(spec, where=Sql("true", []), now=now, labelled=True)
    progress(30, f"Learning from {len(frame):,} outcomes")
    trained = learn.train(spec, frame)
    progress(70, "Looking for rule suggestions")
    rules = ScoringModel.objects.filter(is_active=True).values_list("definition", flat=True)
    definition = rules.first()
    hints = suggestions.suggest(definition, now=now) if definition else []
    beats = trained.beats_rules
    note = "" if beats else (
        f"Not used: its AUC of {trained.auc:.3f} on {trained.held_out:,} held-out leads does "
        f"not beat the rule score's {trained.rule_auc:.3f} by {learn.BEAT_BY} (and reach "
        f"{learn.MIN_AUC})."
    )  # fmt: skip
    with transaction.atomic():
        if beats:
            PredictiveModel.objects.filter(is_active=True).update(is_active=False)
        model = PredictiveModel.objects.create(
            is_active=beats, trained_at=now, outcomes=trained.outcomes,
            positives=trained.positives, held_out=trained.held_out, split=trained.split,
            auc=trained.auc, rule_auc=trained.rule_auc, brier=trained.brier,
            calibration=trained.calibration, factors=trained.factors(),
            spec=trained.spec.as_json(), ignored=trained.ignored, suggestions=hints,
            fitted=trained.dumps(), note=note,
        )  # fmt: skip
    if beats and score:
        progress(80, "Scoring every open lead")
        score_open_leads(now=now)
    return model


def active() -> PredictiveModel | None:
    return PredictiveModel.objects.filter(is_active=True).defer("fitted").first()


@lru_cache(maxsize=4)
def loaded(model_id: int):
    """The fitted model of PredictiveModel `model_id` (rows never change: cached by id)."""
    from scoring.predictive.learn import Loaded

    blob = PredictiveModel.objects.values_list("fitted", flat=True).get(pk=model_id)
    return Loaded.loads(blob)


def _write(ids: np.ndarray, scores: np.ndarray) -> int:
    """Write `scores` on leads `ids` (ascending) where they differ. The id range keeps
    the join to those leads: planned for 100,000 rows from unnest, PostgreSQL would
    otherwise hash every lead of the table for each span (bench/predictive.py)."""
    if not len(ids):
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE leads_lead l SET predictive_score = v.score
               FROM unnest(%s::bigint[], %s::smallint[]) AS v(id, score)
               WHERE l.id = v.id AND l.id BETWEEN %s AND %s
               AND l.predictive_score IS DISTINCT FROM v.score""",
            [ids.tolist(), scores.tolist(), int(ids[0]), int(ids[-1])],
        )
        return cursor.rowcount


def score_open_leads(*, now: datetime) -> int:
    """Score every open lead with the active model (span by span, each span read, scored
    and written on its own connection), and clear the scores of closed leads. The
    number of leads scored."""
    from scoring.predictive import features

    model = active()
    low, high = _ids()
    if model is None or low is None:
        return 0
    fitted = loaded(model.pk)

    def span(bounds) -> int:
        where = Sql(f"l.id BETWEEN %s AND %s AND {OPEN.text}", [*bounds, *OPEN.params])
        frame = features.read(fitted.spec, where=where, now=now, labelled=False, span=bounds)
        _write(frame.ids, fitted.scores(frame.X))
        return len(frame)

    if high - low < REBUILD_PAST or connection.in_atomic_block:
        scored = sum(over_spans(span, low, high))
    else:
        with _sort_index_rebuilt():
            scored = sum(over_spans(span, low, high))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead l SET predictive_score = NULL WHERE predictive_score IS NOT NULL "
            f"AND NOT ({OPEN.text})",
            OPEN.params,
        )
    return scored


@contextmanager
def _sort_index_rebuilt():
    """Write many predictive scores with the list's sort index (lead_predictive_idx)
    dropped, and build it again after. A write that changes an indexed column puts a
    new entry in every index of the lead (the search's GIN index among them); with none
    on the score it is an update in place (HOT, the lead's fillfactor): 100,000 scores
    took 39 s with the index and 4 s without, and building it again takes about a
    second per 300,000 leads (bench/predictive.py). Meanwhile sorting by the score
    reads the table. Built again whatever happened; a lost worker's missing index is
    built by the next bulk scoring or `ensure_sort_index`. Outside a transaction only
    (the index is dropped and built CONCURRENTLY, never locking the leads)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {SORT_INDEX}")
    try:
        yield
    finally:
        ensure_sort_index()


def ensure_sort_index() -> None:
    """Build lead_predictive_idx (migration 0018 of leads) if it is missing or was left
    invalid by an interrupted build."""
    concurrently = "" if connection.in_atomic_block else " CONCURRENTLY"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [SORT_INDEX],
        )
        found = cursor.fetchone()
        if found is not None and found[0]:
            return
        if found is not None:
            cursor.execute(f"DROP INDEX{concurrently} IF EXISTS {SORT_INDEX}")
        cursor.execute(f"CREATE INDEX{concurrently} IF NOT EXISTS {SORT_INDEX} {SORT_INDEX_ON}")


def score_leads(*, lead_ids: list[int], now: datetime) -> int:
    """Score these leads again with the active model (open ones; closed ones lose it)."""
    from scoring.predictive import features

    model = active()
    if model is None or not lead_ids:
        return 0
    fitted = loaded(model.pk)
    where = Sql(f"{among('l.id')} AND {OPEN.text}", [list(lead_ids), *OPEN.params])
    frame = features.read(fitted.spec, where=where, now=now, labelled=False)
    _write(frame.ids, fitted.scores(frame.X))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE leads_lead l SET predictive_score = NULL WHERE {among('id')} "
            f"AND predictive_score IS NOT NULL AND NOT ({OPEN.text})",
            [list(lead_ids), *OPEN.params],
        )
    return len(frame)


def score_pending(*, now: datetime) -> int:
    """Score the leads that changed since the last pass (their ids are collected by
    scoring/handlers.py); with no active model the ids are dropped."""
    from scoring.handlers import PREDICTIVE_PENDING, _redis

    client, scored = _redis(), 0
    while True:
        ids = [int(i) for i in client.spop(PREDICTIVE_PENDING, PENDING_BATCH) or []]
        if not ids:
            return scored
        scored += score_leads(lead_ids=ids, now=now)


def explain(lead, *, now: datetime) -> dict | None:
    """The lead's predictive score and the factors that moved it most, in words; None
    while no model is active."""
    from scoring.predictive import features

    model = active()
    if model is None:
        return None
    fitted = loaded(model.pk)
    frame = features.read(fitted.spec, where=Sql("l.id = %s", [lead.pk]), now=now,
                          labelled=False)  # fmt: skip
    if not len(frame):
        return None
    return {
        "score": int(fitted.scores(frame.X)[0]),
        "factors": fitted.explain(frame.X),
        "model": model,
        "open": lead.stage not in outcomes.CLOSED,
    }


def scheduled(now: datetime, *, inline: bool = False) -> dict:
    """The tick job scoring.predictive (daily): a training run, done here when `inline`
    (manage.py tick) and on a worker otherwise; first, a run whose worker was lost is
    marked failed so that this one may start."""
    lost = TrainingRun.objects.filter(
        status__in=[Status.PENDING, Status.RUNNING], lease_until__lt=now
    ).update(status=Status.FAILED, message=LOST, finished_at=now, lease_until=None)
    ensure_sort_index()  # in case a lost worker left it dropped
    run = request_training(by=None, now=now)
    if inline and run.status == Status.PENDING:
        run = run_training(run_id=run.pk, now=now) or run
    return {"run": run.pk, "status": run.status, "lost": lost}
