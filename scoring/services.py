"""Scoring: every change of scores, set-based.

One SQL statement computes fit, engagement, grade and score for a set of leads (all,
a range of ids, or one lead) from the active model's compiled rules and the ranked
events (ranks depend on no model, so a model change only reruns that statement); the
same statement serves a full rescoring, the decay pass of the tick, the incremental
update after one event and the what-if of a draft, so they cannot disagree. Stage
moves that follow (disqualification rules, crossing the MQL rule either way) are
conditional UPDATEs re-checked under the row lock, so a lead moves exactly once
however many events race.
"""

# SQL here is assembled from this app's own fragments and compiled rules; every value
# from a person travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max
from django.db.models.functions import Least
from django.utils import timezone

from leads.models import EVENT_TYPES
from scoring.models import RescoreRun, ScoringModel
from scoring.rules import Compiled, Sql, compile_definition

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Stages scoring may move a lead out of: before a rep has accepted it.
PRE_HANDOFF = ("new", "nurturing", "mql")
BATCH = 100_000
# A score change this big (or a grade change) is kept in the score history.
MEANINGFUL = 5
DAY = 86400.0


def active_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(is_active=True).first()


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


def compiled_model(now: datetime) -> tuple[ScoringModel, Compiled] | None:
    model = active_model()
    if model is None:
        return None
    return model, compile_definition(model.definition, now=now)


# --- Ranked events -----------------------------------------------------------------------

BUCKET_SQL = "floor(date_part('epoch', {at}) / 86400 / 30)::int"


def _ranks_select(where: Sql) -> Sql:
    """SELECT of every behavioural event `a` matching `where` with its bucket and its
    rank within its lead, type and bucket, in (occurred_at, id) order."""
    bucket = BUCKET_SQL.format(at="a.occurred_at")
    text = f"""
        SELECT a.id, a.lead_id, a.kind, {bucket}, a.occurred_at,
               row_number() OVER (PARTITION BY a.lead_id, a.kind, {bucket}
                                  ORDER BY a.occurred_at, a.id)
        FROM leads_activity a
        WHERE a.kind = ANY(%s) AND {where.text}
    """
    return Sql(text, [[str(kind) for kind in EVENT_TYPES], *where.params])


_INSERT_RANKS = (
    "INSERT INTO scoring_scoredevent (activity_id, lead_id, event_type, bucket, occurred_at, rank) "
)


def rank_events(*, lead_ids: list[int] | None = None) -> None:
    """Rebuild the ranked events of the given leads (or of all): after a bulk load, a
    merge moving events between leads, or to sweep up after a crash."""
    with transaction.atomic(), connection.cursor() as cursor:
        if lead_ids is None:
            cursor.execute("TRUNCATE scoring_scoredevent")
            select = _ranks_select(Sql("true", []))
        else:
            # Rows ranked under another lead (events a merge moved) go too.
            cursor.execute(
                "DELETE FROM scoring_scoredevent WHERE lead_id = ANY(%s) OR activity_id IN "
                "(SELECT id FROM leads_activity WHERE lead_id = ANY(%s))",
                [lead_ids, lead_ids],
            )
            select = _ranks_select(Sql("a.lead_id = ANY(%s)", [lead_ids]))
        cursor.execute(_INSERT_RANKS + select.text, select.params)


def rank_event(*, lead_id: int, activity_id: int) -> None:
    """Incremental: re-rank only the events of this event's lead, type and bucket."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, {BUCKET_SQL.format(at='occurred_at')} FROM leads_activity "
            "WHERE id = %s AND lead_id = %s",
            [activity_id, lead_id],
        )
        row = cursor.fetchone()
        if row is None or row[0] not in EVENT_TYPES:
            return
        kind, bucket = row
        cursor.execute(
            "DELETE FROM scoring_scoredevent WHERE lead_id = %s AND event_type = %s "
            "AND bucket = %s",
            [lead_id, kind, bucket],
        )
        select = _ranks_select(
            Sql(
                f"a.lead_id = %s AND a.kind = %s AND {BUCKET_SQL.format(at='a.occurred_at')} = %s",
                [lead_id, kind, bucket],
            )
        )
        cursor.execute(_INSERT_RANKS + select.text, select.params)


def points_sql(compiled: Compiled) -> Sql:
    """SELECT lead_id, event_type, occurred_at, points of every ranked event the model
    gives points: its type's points, or under a cap what is left of the cap by its rank
    (10 points capped at 25: 10, 10, 5, 0, ...)."""
    if not compiled.engagement:
        nothing = (
            "SELECT NULL::bigint AS lead_id, NULL AS event_type, "
            "NULL::timestamptz AS occurred_at, NULL::float AS points WHERE false"
        )
        return Sql(nothing, [])
    values = ", ".join("(%s, %s::float, %s::float)" for _ in compiled.engagement)
    params = [
        p for event, (points, cap) in compiled.engagement.items() for p in (event, points, cap)
    ]
    text = f"""
        SELECT e.lead_id, e.event_type, e.occurred_at,
               CASE WHEN r.cap IS NULL THEN r.pts
                    ELSE LEAST(r.pts, GREATEST(0, r.cap - (e.rank - 1) * r.pts)) END AS points
        FROM scoring_scoredevent e JOIN (VALUES {values}) AS r(kind, pts, cap)
             ON r.kind = e.event_type
    """
    return Sql(text, params)


# --- Scores -------------------------------------------------------------------------------


def _within(where: Sql, span: tuple[int, int] | None) -> Sql:
    if span is None:
        return where
    return Sql(f"({where.text}) AND l.id BETWEEN %s AND %s", [*where.params, *span])


def scores_sql(
    compiled: Compiled, *, where: Sql, now: datetime, span: tuple[int, int] | None = None
) -> Sql:
    """SELECT id, fit, engagement, grade, score (and the old values) for leads `l` matching
    `where`: the arithmetic every scoring path (and the what-if of a draft) shares.
    `span` (lowest, highest lead id) narrows both the leads and the ranked events read,
    by index: a batch of a rescoring reads only its own leads' events."""
    fit = compiled.sum_sql("fit")
    adjust = compiled.sum_sql("engagement")
    grade = compiled.grade_sql("c.fit")
    source = points_sql(compiled)
    if span is not None:
        source = Sql(f"SELECT * FROM ({source.text}) p WHERE p.lead_id BETWEEN %s AND %s",
                     [*source.params, *span])  # fmt: skip
        where = _within(where, span)
    text = f"""
        WITH eng AS (
            SELECT w.lead_id,
                   sum(w.points * power(0.5, date_part('epoch', (%s::timestamptz - w.occurred_at))
                                             / (86400 * %s))) AS e
            FROM ({source.text}) w JOIN leads_lead l ON l.id = w.lead_id
            WHERE {where.text}
            GROUP BY w.lead_id
        ), c AS (
            SELECT l.id, l.stage, l.need, l.score AS old_score, l.grade AS old_grade,
                   l.fit AS old_fit, l.engagement AS old_engagement,
                   round({fit.text})::int AS fit,
                   round(GREATEST(0, coalesce(eng.e, 0) + {adjust.text})::numeric, 2)::float
                       AS engagement
            FROM leads_lead l LEFT JOIN eng ON eng.lead_id = l.id
            WHERE {where.text} AND l.merged_into_id IS NULL
        )
        SELECT c.*, {grade.text} AS grade, round(c.engagement)::int AS score FROM c
    """
    params = [now, compiled.half_life_days, *source.params, *where.params, *fit.params,
              *adjust.params, *where.params, *grade.params]  # fmt: skip
    return Sql(text, params)


@dataclass
class ScoreCounts:
    scored: int = 0
    disqualified: int = 0
    became_mql: int = 0
    left_mql: int = 0

    def __add__(self, other: ScoreCounts) -> ScoreCounts:
        return ScoreCounts(
            scored=self.scored + other.scored,
            disqualified=self.disqualified + other.disqualified,
            became_mql=self.became_mql + other.became_mql,
            left_mql=self.left_mql + other.left_mql,
        )


def score_leads(
    compiled: Compiled,
    *,
    version: int,
    where: Sql,
    now: datetime,
    span: tuple[int, int] | None = None,
) -> ScoreCounts:
    """Write fit/engagement/grade/score (and history points) for the leads `where` (and
    `span`, see scores_sql) selects, then apply disqualification rules and the MQL rule.
    One transaction. A lead whose scores did not change is not rewritten (unless it was
    never scored or was edited since), so a decay pass writes only what decayed."""
    scores = scores_sql(compiled, where=where, now=now, span=span)
    # `where` again on the updated table: the same rows, and lets PostgreSQL find them by
    # index rather than hashing the whole table for each batch.
    where = _within(where, span)
    counts = ScoreCounts()
    with transaction.atomic(), connection.cursor() as cursor:
        if span is not None:  # a batch of a rescoring: room to aggregate in memory
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(
            f"""
            WITH s AS ({scores.text}),
            upd AS (
                UPDATE leads_lead l
                SET fit = s.fit, engagement = s.engagement, grade = s.grade, score = s.score,
                    scored_at = %s
                FROM s WHERE l.id = s.id AND {where.text}
                  AND (l.scored_at IS NULL OR l.updated_at > l.scored_at
                       OR (l.fit, l.engagement, l.grade, l.score)
                          IS DISTINCT FROM (s.fit, s.engagement, s.grade, s.score))
            ),
            history AS (
                INSERT INTO scoring_scorepoint
                    (lead_id, at, fit, engagement, score, grade, model_version)
                SELECT s.id, %s, s.fit, s.engagement, s.score, s.grade, %s FROM s
                WHERE abs(s.score - s.old_score) >= %s OR s.grade IS DISTINCT FROM s.old_grade
            )
            SELECT count(*) FROM s
            """,
            [*scores.params, now, *where.params, now, version, MEANINGFUL],
        )
        counts.scored = cursor.fetchone()[0]
        counts.disqualified = _disqualify(cursor, compiled, where=where, version=version, now=now)
        counts.became_mql, counts.left_mql = _mql_moves(cursor, compiled, where, version, now)
    return counts


def _move(cursor, *, select: Sql, to_stage: str, now: datetime) -> int:
    """Move the leads `select` returns (id, stage, reason) to `to_stage`, recording each move.
    The UPDATE re-checks each lead's stage once it holds the row lock (PostgreSQL
    re-evaluates the condition on the newest row version), so a move that raced another
    one is skipped, never doubled."""
    cursor.execute(
        f"""
        WITH target AS ({select.text}),
        moved AS (
            UPDATE leads_lead l SET stage = %s, updated_at = %s, scored_at = %s
            FROM target t WHERE l.id = t.id AND l.stage = t.stage AND t.stage <> %s
            RETURNING l.id, t.stage AS from_stage, t.reason
        )
        INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, reason)
        SELECT id, from_stage, %s, %s, reason FROM moved
        """,
        [*select.params, to_stage, now, now, to_stage, to_stage, now],
    )
    return cursor.rowcount


def _disqualify(cursor, compiled: Compiled, *, where: Sql, version: int, now: datetime) -> int:
    matches, first_name = compiled.disqualify_sql()
    if not compiled.disqualify:
        return 0
    select = Sql(
        f"""
        SELECT l.id, l.stage,
               'Disqualification rule “' || {first_name.text} || '” (model v' || %s || ')'
               AS reason
        FROM leads_lead l
        WHERE {where.text} AND l.merged_into_id IS NULL AND l.stage = ANY(%s) AND {matches.text}
          AND NOT EXISTS (  -- a person took it out of disqualified: respect that
              SELECT 1 FROM leads_stagechange h WHERE h.lead_id = l.id
              AND h.from_stage = 'disqualified' AND h.changed_by_id IS NOT NULL)
        """,
        [*first_name.params, version, *where.params, list(PRE_HANDOFF), *matches.params],
    )
    return _move(cursor, select=select, to_stage="disqualified", now=now)


def _mql_moves(cursor, compiled: Compiled, where: Sql, version: int, now: datetime):
    meets = compiled.mql_sql("l.grade", "l.engagement")
    up = Sql(
        f"""
        SELECT l.id, l.stage, 'Met the MQL rule (model v' || %s || ')' AS reason
        FROM leads_lead l
        WHERE {where.text} AND l.merged_into_id IS NULL AND l.stage IN ('new', 'nurturing')
          AND {meets.text}
        """,
        [version, *where.params, *meets.params],
    )
    became = _move(cursor, select=up, to_stage="mql", now=now)
    down = Sql(
        f"""
        SELECT l.id, l.stage, 'Fell below the MQL rule (model v' || %s || ')' AS reason
        FROM leads_lead l
        WHERE {where.text} AND l.merged_into_id IS NULL AND l.stage = 'mql'
          AND NOT {meets.text}
        """,
        [version, *where.params, *meets.params],
    )
    left = _move(cursor, select=down, to_stage="nurturing", now=now)
    return became, left


def score_lead(*, lead_id: int, now: datetime) -> ScoreCounts | None:
    """Rescore one lead under the active model (after an edit or an event)."""
    found = compiled_model(now)
    if found is None:
        return None
    model, compiled = found
    return score_leads(compiled, version=model.version, where=Sql("l.id = %s", [lead_id]), now=now)


def record_event_points(*, lead_id: int, activity_id: int, now: datetime) -> None:
    """Incremental engagement after one event: rank it (and the later events of its
    lead, type and bucket), then rescore the lead. Events are ranked even with no active
    model, so the first model scores them at once."""
    found = compiled_model(now)
    with transaction.atomic():
        # One lead's scoring at a time: concurrent events of a lead queue up here.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM leads_lead WHERE id = %s FOR UPDATE", [lead_id])
        rank_event(lead_id=lead_id, activity_id=activity_id)
        if found is not None:
            model, compiled = found
            where = Sql("l.id = %s", [lead_id])
            score_leads(compiled, version=model.version, where=where, now=now)


def events_moved(*, lead_ids: list[int], now: datetime) -> None:
    """Events changed leads (a merge or its undo): re-rank those leads', rescore them."""
    rank_events(lead_ids=lead_ids)
    for lead_id in lead_ids:
        score_lead(lead_id=lead_id, now=now)


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


DECAY_EVERY_SECONDS = 3600
MANY_LOCK_ID = 0x5C0E  # the advisory lock key of scoring's passes over many leads


RECENT_ACTIVITIES = 100_000


def _sweep_ranks(*, recent_only: bool = False) -> list[int]:
    """Re-rank the events a crash left unranked, ranked under another lead, or ranked
    though deleted; the leads concerned. `recent_only` looks at the newest
    RECENT_ACTIVITIES activities only (by primary key: cheap every minute), where an
    event whose reaction was lost in a crash is found at the next tick."""
    low, deleted = 0, "NOT EXISTS (SELECT 1 FROM leads_activity a WHERE a.id = e.activity_id)"
    with transaction.atomic(), connection.cursor() as cursor:
        if recent_only:  # both sides by primary-key range
            cursor.execute("SELECT coalesce(max(id), 0) FROM leads_activity")
            low = cursor.fetchone()[0] - RECENT_ACTIVITIES
            deleted = "false"  # rank rows of deleted events: the full sweep
        cursor.execute(
            f"""
            WITH wrong AS (
                SELECT a.lead_id, e.lead_id AS ranked_under
                FROM leads_activity a LEFT JOIN scoring_scoredevent e
                     ON e.activity_id = a.id AND e.activity_id > %s
                WHERE a.kind = ANY(%s) AND a.id > %s
                  AND (e.activity_id IS NULL OR e.lead_id <> a.lead_id)
                UNION ALL
                SELECT NULL, e.lead_id FROM scoring_scoredevent e WHERE {deleted}
            )
            SELECT DISTINCT v.id FROM wrong, LATERAL (VALUES (lead_id), (ranked_under)) v(id)
            WHERE v.id IS NOT NULL
            """,
            [low, [str(kind) for kind in EVENT_TYPES], low],
        )
        lead_ids = [row[0] for row in cursor.fetchall()]
        if lead_ids:
            rank_events(lead_ids=lead_ids)
    return lead_ids


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
    swept = _sweep_ranks(recent_only=not hourly)
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
