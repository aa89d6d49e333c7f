"""Scores: the one statement computing fit, engagement, grade and score for a set of
leads, writing them with the history, and the stage moves that follow.
"""

# SQL here is assembled from this app's own fragments and compiled rules; every value
# from a person travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from leads.models import Stage
from leads.services import stages
from scoring.models import ScoringModel
from scoring.rules import Compiled, Sql, compile_definition
from scoring.services.events import points_sql, rank_event, rank_events

# A score change this big (or a grade change) is kept in the score history.
MEANINGFUL = 5


def active_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(is_active=True).first()


def compiled_model(now: datetime) -> tuple[ScoringModel, Compiled] | None:
    model = active_model()
    if model is None:
        return None
    return model, compile_definition(model.definition, now=now)


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
    decayed = compiled.decayed_sql("w.points", "w.occurred_at", now)
    text = f"""
        WITH eng AS (
            SELECT w.lead_id, sum({decayed.text}) AS e
            FROM ({source.text}) w JOIN leads_lead l ON l.id = w.lead_id
            WHERE {where.text}
            GROUP BY w.lead_id
        ), c AS (
            SELECT l.id, l.stage, l.need, l.updated_at,
                   l.score AS old_score, l.grade AS old_grade,
                   l.fit AS old_fit, l.engagement AS old_engagement,
                   round({fit.text})::int AS fit,
                   round(GREATEST(0, coalesce(eng.e, 0) + {adjust.text})::numeric, 2)::float
                       AS engagement
            FROM leads_lead l LEFT JOIN eng ON eng.lead_id = l.id
            WHERE {where.text} AND l.merged_into_id IS NULL AND l.erased_at IS NULL
        )
        SELECT c.*, {grade.text} AS grade, round(c.engagement)::int AS score FROM c
    """
    params = [*decayed.params, *source.params, *where.params, *fit.params,
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
    never scored or was edited since), so a decay pass writes only what decayed.

    The stage rules select their leads with `where` again, after the scores are written:
    `where` must not depend on what scoring writes (scores, scored_at, stage). Select by
    id (`l.id = ANY(...)`, a span) — score_changed picks its ids first for that reason."""
    scores = scores_sql(compiled, where=where, now=now, span=span)
    # `where` again on the updated table: the same rows, and lets PostgreSQL find them by
    # index rather than hashing the whole table for each batch.
    where = _within(where, span)
    counts = ScoreCounts()
    with transaction.atomic():
        counts.scored = _write_scores(scores, where=where, version=version, now=now, span=span)
        moved = _stage_moves(compiled, where=where, version=version, now=now)
        counts.disqualified = moved[Stage.DISQUALIFIED]
        counts.became_mql, counts.left_mql = moved[Stage.MQL], moved[Stage.NURTURING]
    return counts


def _write_scores(scores: Sql, *, where: Sql, version: int, now: datetime, span) -> int:
    with connection.cursor() as cursor:
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
                  -- Scores of the version read: a lead changed since (its UPDATE waited
                  -- for the change's commit, then re-checked this) stays changed.
                  AND l.updated_at = s.updated_at
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
        return cursor.fetchone()[0]


def _move(select: Sql, *, to_stage: str, now: datetime) -> int:
    """Move the leads `select` returns (id, reason) to `to_stage` through the stage machine
    (as an automatic rule: never a lead in a handoff), then mark them scored as of `now`:
    the move itself is no change scoring has to look at again."""
    moved = stages.move_stages(
        select=(select.text, select.params), to_stage=to_stage, reason=None, now=now,
        mover=stages.Mover.AUTOMATIC,
    )  # fmt: skip
    if moved.ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE leads_lead SET scored_at = %s WHERE id = ANY(%s)", [now, moved.ids]
            )
    return moved.count


def automatic_from(to_stage: str) -> list[str]:
    return stages.movable_from(to_stage, stages.Mover.AUTOMATIC)


def _stage_moves(
    compiled: Compiled, *, where: Sql, version: int, now: datetime
) -> dict[Stage, int]:
    """Make the moves the stage rules call for (Compiled.stage_move_sql over the scores
    just written) for the leads `where` selects; how many moved to each stage. Each
    lead has at most one move, so the order of the three does not matter."""
    move = compiled.stage_move_sql("l", automatic_from=automatic_from)
    rule = move.disqualified_by
    reasons = {
        Stage.DISQUALIFIED: Sql(
            f"'Disqualification rule “' || {rule.text} || '” (model v' || %s || ')'",
            [*rule.params, version],
        ),
        Stage.MQL: Sql("'Met the MQL rule (model v' || %s || ')'", [version]),
        Stage.NURTURING: Sql("'Fell below the MQL rule (model v' || %s || ')'", [version]),
    }
    if not compiled.disqualify:
        del reasons[Stage.DISQUALIFIED]
    moved = dict.fromkeys(Stage, 0)
    for to_stage, reason in reasons.items():
        # The stage machine's own guard first (move_stages applies it again under the
        # lock): cheap, it spares PostgreSQL the rules for leads no move could take.
        select = Sql(
            f"""
            SELECT l.id, {reason.text} AS reason FROM leads_lead l
            WHERE {where.text} AND l.merged_into_id IS NULL AND l.erased_at IS NULL
              AND NOT l.in_handoff AND l.stage = ANY(%s) AND {move.to_stage.text} = %s
            """,
            [*reason.params, *where.params, automatic_from(to_stage), *move.to_stage.params,
             to_stage.value],
        )  # fmt: skip
        moved[to_stage] = _move(select, to_stage=to_stage.value, now=now)
    return moved


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
    found = compiled_model(now)
    if found is not None:
        model, compiled = found
        where = Sql("l.id = ANY(%s)", [lead_ids])
        score_leads(compiled, version=model.version, where=where, now=now)
