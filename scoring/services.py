"""Scoring: every change of scores, set-based.

One SQL statement computes fit, engagement, grade and score for a set of leads (all,
a range of ids, or one lead) from the active model's compiled rules and the
engagement awards; the same statement serves a full rescoring, the decay pass of the
tick and the incremental update after one event, so they cannot disagree. Stage
moves that follow (disqualification rules, crossing the MQL rule either way) are
conditional UPDATEs on the stage with row locks, so a lead moves exactly once however
many events race.
"""

# SQL here is assembled from this app's own fragments and compiled rules; every value
# from a person travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from scoring.models import RescoreRun, ScoringModel
from scoring.rules import Compiled, Sql, compile_definition

logger = logging.getLogger(__name__)

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


# --- Engagement awards --------------------------------------------------------------------


def _awards_select(compiled: Compiled, where: Sql) -> Sql:
    """SELECT of every matching event's award: capped per lead, type and 30-day bucket,
    in (occurred_at, id) order."""
    if not compiled.engagement:
        return Sql("SELECT NULL::bigint, NULL::bigint, NULL, NULL::int, NULL::timestamptz, "
                   "NULL::float WHERE false", [])  # fmt: skip
    values = ", ".join("(%s, %s::float, %s::float)" for _ in compiled.engagement)
    params = [
        p for event, (points, cap) in compiled.engagement.items() for p in (event, points, cap)
    ]
    text = f"""
        SELECT id, lead_id, kind, bucket, occurred_at,
               CASE WHEN cap IS NULL THEN pts
                    ELSE LEAST(pts, GREATEST(0, cap - (rn - 1) * pts)) END
        FROM (
            SELECT a.id, a.lead_id, a.kind, a.occurred_at, r.pts, r.cap,
                   floor(date_part('epoch', a.occurred_at) / 86400 / 30)::int AS bucket,
                   row_number() OVER (
                       PARTITION BY a.lead_id, a.kind,
                                    floor(date_part('epoch', a.occurred_at) / 86400 / 30)
                       ORDER BY a.occurred_at, a.id) AS rn
            FROM leads_activity a JOIN (VALUES {values}) AS r(kind, pts, cap) ON r.kind = a.kind
            WHERE {where.text}
        ) ranked
    """
    return Sql(text, [*params, *where.params])


def recompute_awards(compiled: Compiled, *, lead_ids: list[int] | None = None) -> None:
    """Rebuild the awards of the given leads (or of all), e.g. after a model change."""
    where = Sql("a.lead_id = ANY(%s)", [lead_ids]) if lead_ids is not None else Sql("true", [])
    select = _awards_select(compiled, where)
    with connection.cursor() as cursor:
        if lead_ids is None:
            cursor.execute("TRUNCATE scoring_engagementaward")
        else:
            cursor.execute(
                "DELETE FROM scoring_engagementaward WHERE lead_id = ANY(%s)", [lead_ids]
            )
        cursor.execute(
            "INSERT INTO scoring_engagementaward "
            "(activity_id, lead_id, event_type, bucket, occurred_at, points) " + select.text,
            select.params,
        )


def award_event(compiled: Compiled, *, lead_id: int, activity_id: int) -> None:
    """Incremental: re-award only the events of this event's lead, type and bucket."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, floor(date_part('epoch', occurred_at) / 86400 / 30)::int "
            "FROM leads_activity WHERE id = %s",
            [activity_id],
        )
        row = cursor.fetchone()
        if row is None or row[0] not in compiled.engagement:
            return
        kind, bucket = row
        where = Sql(
            "a.lead_id = %s AND a.kind = %s "
            "AND floor(date_part('epoch', a.occurred_at) / 86400 / 30)::int = %s",
            [lead_id, kind, bucket],
        )
        cursor.execute(
            "DELETE FROM scoring_engagementaward WHERE lead_id = %s AND event_type = %s "
            "AND bucket = %s",
            [lead_id, kind, bucket],
        )
        select = _awards_select(compiled, where)
        cursor.execute(
            "INSERT INTO scoring_engagementaward "
            "(activity_id, lead_id, event_type, bucket, occurred_at, points) " + select.text,
            select.params,
        )


# --- Scores -------------------------------------------------------------------------------


def scores_sql(compiled: Compiled, *, where: Sql, now: datetime, awards: Sql | None = None) -> Sql:
    """SELECT id, fit, engagement, grade, score (and the old values) for leads `l` matching
    `where`: the arithmetic every scoring path shares. `awards` (a SELECT of lead_id,
    points, occurred_at) replaces the stored awards, for a what-if."""
    fit = compiled.sum_sql("fit")
    adjust = compiled.sum_sql("engagement")
    grade = compiled.grade_sql("c.fit")
    source = awards or Sql("SELECT lead_id, points, occurred_at FROM scoring_engagementaward", [])
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


def score_leads(compiled: Compiled, *, version: int, where: Sql, now: datetime) -> ScoreCounts:
    """Write fit/engagement/grade/score (and history points) for the leads `where`
    selects, then apply disqualification rules and the MQL rule. One transaction."""
    scores = scores_sql(compiled, where=where, now=now)
    counts = ScoreCounts()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH s AS ({scores.text}),
            upd AS (
                UPDATE leads_lead l
                SET fit = s.fit, engagement = s.engagement, grade = s.grade, score = s.score,
                    scored_at = %s
                FROM s WHERE l.id = s.id
                RETURNING l.id
            ),
            history AS (
                INSERT INTO scoring_scorepoint
                    (lead_id, at, fit, engagement, score, grade, model_version)
                SELECT s.id, %s, s.fit, s.engagement, s.score, s.grade, %s FROM s
                WHERE abs(s.score - s.old_score) >= %s OR s.grade IS DISTINCT FROM s.old_grade
            )
            SELECT count(*) FROM upd
            """,
            [*scores.params, now, now, version, MEANINGFUL],
        )
        counts.scored = cursor.fetchone()[0]
        counts.disqualified = _disqualify(cursor, compiled, where=where, version=version, now=now)
        counts.became_mql, counts.left_mql = _mql_moves(cursor, compiled, where, version, now)
    return counts


def _move(cursor, *, select: Sql, to_stage: str, now: datetime) -> int:
    """Move the leads `select` returns (id, reason) to `to_stage`, recording each move;
    rows are locked and the stage re-checked, so a concurrent move is never doubled."""
    cursor.execute(
        f"""
        WITH target AS ({select.text}),
        locked AS (
            SELECT l.id, l.stage, t.reason FROM leads_lead l JOIN target t ON t.id = l.id
            WHERE l.stage <> %s FOR UPDATE OF l
        ),
        moved AS (
            UPDATE leads_lead l SET stage = %s, updated_at = %s, scored_at = %s
            FROM locked WHERE l.id = locked.id AND l.stage = locked.stage
            RETURNING l.id, locked.stage AS from_stage, locked.reason
        )
        INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, reason)
        SELECT id, from_stage, %s, %s, reason FROM moved
        """,
        [*select.params, to_stage, to_stage, now, now, to_stage, now],
    )
    return cursor.rowcount


def _disqualify(cursor, compiled: Compiled, *, where: Sql, version: int, now: datetime) -> int:
    matches, first_name = compiled.disqualify_sql()
    if not compiled.disqualify:
        return 0
    select = Sql(
        f"""
        SELECT l.id, 'Disqualification rule “' || {first_name.text} || '” (model v' || %s || ')'
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
        SELECT l.id, 'Met the MQL rule (model v' || %s || ')' AS reason FROM leads_lead l
        WHERE {where.text} AND l.merged_into_id IS NULL AND l.stage IN ('new', 'nurturing')
          AND {meets.text}
        """,
        [version, *where.params, *meets.params],
    )
    became = _move(cursor, select=up, to_stage="mql", now=now)
    down = Sql(
        f"""
        SELECT l.id, 'Fell below the MQL rule (model v' || %s || ')' AS reason FROM leads_lead l
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
    """Incremental engagement after one event: its bucket's awards, then the lead."""
    found = compiled_model(now)
    if found is None:
        return
    model, compiled = found
    with transaction.atomic():
        # One lead's scoring at a time: concurrent events of a lead queue up here.
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM leads_lead WHERE id = %s FOR UPDATE", [lead_id])
        award_event(compiled, lead_id=lead_id, activity_id=activity_id)
        score_leads(compiled, version=model.version, where=Sql("l.id = %s", [lead_id]), now=now)


def rescore_all(
    *, now: datetime, run: RescoreRun | None = None, awards: bool = True
) -> ScoreCounts:
    """Rescore every lead in id batches (each its own transaction, progress recorded)."""
    found = compiled_model(now)
    total = ScoreCounts()
    if found is None:
        return total
    model, compiled = found
    if awards:
        with transaction.atomic():
            recompute_awards(compiled)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), count(*) FROM leads_lead")
        low, high, count = cursor.fetchone()
    if run is not None:
        RescoreRun.objects.filter(pk=run.pk).update(leads_total=count, leads_done=0)
    if low is None:
        return total
    for start in range(low, high + 1, BATCH):
        where = Sql("l.id BETWEEN %s AND %s", [start, start + BATCH - 1])
        counts = score_leads(compiled, version=model.version, where=where, now=now)
        total.scored += counts.scored
        total.disqualified += counts.disqualified
        total.became_mql += counts.became_mql
        total.left_mql += counts.left_mql
        if run is not None:
            RescoreRun.objects.filter(pk=run.pk).update(
                leads_done=min(count, total.scored), became_mql=total.became_mql,
                left_mql=total.left_mql, disqualified=total.disqualified,
            )  # fmt: skip
    return total


def run_rescore(*, run_id: int, now: datetime, awards: bool = True) -> RescoreRun | None:
    """The task's work: claim the run (pending → running), rescore as of `now` (its
    started_at), record the outcome. `awards=False` keeps the awards (a decay pass)."""
    claimed = RescoreRun.objects.filter(pk=run_id, status=RescoreRun.Status.PENDING).update(
        status=RescoreRun.Status.RUNNING, started_at=now
    )
    if not claimed:
        return None  # done, running elsewhere, or unknown
    run = RescoreRun.objects.get(pk=run_id)
    try:
        rescore_all(now=now, run=run, awards=awards)
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


def tick(now: datetime) -> dict:
    """The scheduler's scoring job: award any events a crash left unawarded, rescore the
    leads changed since they were scored, and once an hour decay everyone."""
    found = compiled_model(now)
    if found is None:
        return {"skipped": "no active scoring model"}
    model, compiled = found
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT a.lead_id FROM leads_activity a "
            "LEFT JOIN scoring_engagementaward w ON w.activity_id = a.id "
            "WHERE w.activity_id IS NULL AND a.kind = ANY(%s)",
            [list(compiled.engagement)],
        )
        unawarded = [row[0] for row in cursor.fetchall()]
        if unawarded:
            recompute_awards(compiled, lead_ids=unawarded)
    stale = Sql(
        "(l.scored_at IS NULL OR l.updated_at > l.scored_at OR l.id = ANY(%s))", [unawarded]
    )
    counts = score_leads(compiled, version=model.version, where=stale, now=now)
    result = {"rescored": counts.scored, "mql": counts.became_mql, "left_mql": counts.left_mql,
              "disqualified": counts.disqualified}  # fmt: skip
    last = RescoreRun.objects.filter(status=RescoreRun.Status.DONE).order_by("-started_at").first()
    if last is None or abs((now - last.started_at).total_seconds()) >= DECAY_EVERY_SECONDS:
        run = RescoreRun.objects.create(model=model, created_at=now)
        done = run_rescore(run_id=run.pk, now=now, awards=False)
        result["decayed"] = done.leads_done if done else 0
    return result
