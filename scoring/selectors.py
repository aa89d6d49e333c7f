"""Reads of scoring: a lead's explanation, and the what-if of a draft model.

Both run the same compiled SQL conditions that rescoring writes with.
"""

# SQL here is assembled from this app's own fragments and compiled rules; every value
# from a person travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.db import connection

from leads.models import Activity
from scoring.models import ScorePoint
from scoring.rules import GRADES, Compiled, Sql, compile_definition
from scoring.services import automatic_from, compiled_model, over_spans, points_sql, scores_sql

EXAMPLES = 5


def explain(lead, *, now: datetime) -> dict | None:
    """Which rule gave which points, the events behind engagement, the grade, and how
    far the lead is from the MQL rule — as of `now`, under the active model."""
    found = compiled_model(now)
    if found is None:
        return None
    model, compiled = found
    where = Sql("l.id = %s", [lead.pk])
    with connection.cursor() as cursor:
        score = scores_sql(compiled, where=where, now=now)
        cursor.execute(f"SELECT fit, engagement, grade, score FROM ({score.text}) s", score.params)
        fit, engagement, grade, total = cursor.fetchone()
        contributions = []
        if compiled.rules:
            columns = ", ".join(f"({r.condition.text})" for r in compiled.rules)
            params = [p for r in compiled.rules for p in r.condition.params]
            cursor.execute(
                f"SELECT {columns} FROM leads_lead l WHERE l.id = %s",
                [*params, lead.pk],
            )
            matched = cursor.fetchone()
            contributions = [
                {"rule": r.name, "points": r.points, "applies_to": r.applies_to}
                for r, hit in zip(compiled.rules, matched, strict=True)
                if hit
            ]
        points = points_sql(compiled)
        cursor.execute(
            f"""
            SELECT event_type, count(*), sum(points), sum(points * power(0.5,
                   date_part('epoch', (%s::timestamptz - occurred_at)) / (86400 * %s))),
                   max(occurred_at)
            FROM ({points.text}) p WHERE lead_id = %s
            GROUP BY event_type ORDER BY 4 DESC
            """,
            [now, compiled.half_life_days, *points.params, lead.pk],
        )
        for event_type, count, raw, decayed, last in cursor.fetchall():
            label = Activity.Kind(event_type).label
            contributions.append(
                {
                    "rule": f"{label} × {count}",
                    "points": round(decayed, 1),
                    "applies_to": "engagement",
                    "events": {"count": count, "points_before_decay": raw, "last": last},
                }
            )
    missing = []
    if grade not in [g for g in GRADES if g <= compiled.mql_min_grade]:
        missing.append(f"needs grade {compiled.mql_min_grade} or better (is {grade or '–'})")
    if engagement < compiled.mql_min_engagement:
        gap = compiled.mql_min_engagement - engagement
        missing.append(f"needs {gap:.0f} more engagement points")
    if compiled.mql_need_known and not lead.need:
        missing.append("needs its BANT need known")
    return {
        "score": total,
        "grade": grade,
        "fit": fit,
        "engagement": engagement,
        "contributions": contributions,
        "mql": {"meets": not missing, "missing": missing},
        "model_version": model.version,
    }


def score_history(lead, *, limit: int = 200):
    return list(ScorePoint.objects.filter(lead_id=lead.pk).order_by("-at")[:limit])[::-1]


def what_if(definition: dict, *, now: datetime) -> dict:
    """What saving `definition` would do to today's leads: how many would newly become
    MQL, drop out of MQL or be disqualified, with examples. The scoring statement itself
    run with the draft's rules (events are ranked independently of any model, so the
    draft's points and caps apply to them as they are), over spans of lead ids side by
    side like a rescoring."""
    compiled: Compiled = compile_definition(definition, now=now)
    result = {
        change: {"count": 0, "examples": []}
        for change in ("newly_mql", "leave_mql", "disqualified")
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM leads_lead")
        low, high = cursor.fetchone()
    if low is None:
        return result
    for rows in over_spans(partial(_what_if_span, compiled, now), low, high):
        for change, count, examples in rows:  # spans in id order: the first examples first
            result[change]["count"] += count
            result[change]["examples"] += [
                {"id": i, "name": name, "email": email} for i, name, email in examples
            ]
    for outcome in result.values():
        del outcome["examples"][EXAMPLES:]
    return result


def _what_if_span(compiled: Compiled, now: datetime, span: tuple[int, int]) -> list[tuple]:
    scores = scores_sql(compiled, where=Sql("true", []), now=now, span=span)
    meets = compiled.mql_sql("s.grade", "s.engagement")
    disq, _ = compiled.disqualify_sql()
    sql = f"""
        WITH s AS ({scores.text}),
        judged AS (
            SELECT l.id, l.first_name, l.last_name, l.email, l.stage,
                   {meets.text} AS meets,
                   (l.stage = ANY(%s) AND {disq.text} AND NOT EXISTS (
                        SELECT 1 FROM leads_stagechange h WHERE h.lead_id = l.id
                        AND h.from_stage = 'disqualified' AND h.changed_by_id IS NOT NULL))
                       AS disqualified
            FROM s JOIN leads_lead l ON l.id = s.id
            WHERE l.id BETWEEN %s AND %s
        ), outcome AS (
            SELECT *, CASE
                WHEN disqualified THEN 'disqualified'
                WHEN stage IN ('new', 'nurturing') AND meets THEN 'newly_mql'
                WHEN stage = 'mql' AND NOT meets THEN 'leave_mql'
            END AS change FROM judged
        )
        SELECT change, count(*),
               (array_agg(json_build_array(id, trim(first_name || ' ' || last_name), email)
                          ORDER BY id))[1:{EXAMPLES}]
        FROM outcome WHERE change IS NOT NULL GROUP BY change
    """
    params = [*scores.params, *meets.params, automatic_from("disqualified"), *disq.params, *span]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
