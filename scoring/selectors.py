"""Reads of scoring: a lead's explanation, the what-if of a draft model, and what
changed between two versions of the lead definition.

Both run the scoring statement and the compiled forms of the model (its rules, the
decay, the MQL rule, the stage moves) that rescoring writes and moves with.
"""

# SQL here is assembled from this app's own fragments and compiled rules; every value
# from a person travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial

from django.db import connection, transaction

from leads.models import Activity, Stage
from scoring.models import ScorePoint
from scoring.rules import DEFAULTS, KEYS, Compiled, Sql, compile_definition
from scoring.services import automatic_from, compiled_model, over_spans, points_sql, scores_sql

EXAMPLES = 5


def explain(lead, *, now: datetime) -> dict | None:
    """Which rule gave which points, the events behind engagement, the grade, and how
    far the lead is from the MQL rule — as of `now`, under the active model. The scores,
    the rules that matched and each condition of the MQL rule come from one query: the
    scoring statement and the model's compiled forms, as rescoring runs them."""
    found = compiled_model(now)
    if found is None:
        return None
    model, compiled = found
    score = scores_sql(compiled, where=Sql("l.id = %s", [lead.pk]), now=now)
    mql = compiled.mql_sql("s")
    verdict = [mql.grade, mql.engagement, mql.need, mql.meets, mql.engagement_gap]
    columns = [*verdict, *(r.condition for r in compiled.rules)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT s.fit, s.engagement, s.grade, s.score, {", ".join(c.text for c in columns)}
            FROM ({score.text}) s JOIN leads_lead l ON l.id = s.id
            """,
            [*(p for c in columns for p in c.params), *score.params],
        )
        row = cursor.fetchone()
        fit, engagement, grade, total, grade_ok, engagement_ok, need_ok, meets, gap = row[:9]
        matched = row[9:]
        contributions = [
            {"rule": r.name, "points": r.points, "applies_to": r.applies_to, **NOT_CAPPED}
            for r, hit in zip(compiled.rules, matched, strict=True)
            if hit
        ]
        points = points_sql(compiled)
        decayed = compiled.decayed_sql("points", "occurred_at", now)
        cursor.execute(
            f"""
            SELECT event_type, count(*), sum(points), sum({decayed.text}), max(occurred_at)
            FROM ({points.text}) p WHERE lead_id = %s
            GROUP BY event_type ORDER BY 4 DESC
            """,
            [*decayed.params, *points.params, lead.pk],
        )
        for event_type, count, raw, decayed_points, last in cursor.fetchall():
            label = Activity.Kind(event_type).label
            contributions.append(
                {
                    "rule": f"{label} × {count}",
                    "points": round(decayed_points, 1),
                    "applies_to": "engagement",
                    **_capping(compiled, event_type, count, raw, decayed_points),
                    "events": {"count": count, "points_before_decay": raw, "last": last},
                }
            )
    missing = []
    if not grade_ok:
        missing.append(f"needs grade {compiled.mql_min_grade} or better (is {grade or '–'})")
    if not engagement_ok:
        missing.append(f"needs {gap:.0f} more engagement points")
    if not need_ok:
        missing.append("needs its BANT need known")
    return {
        "score": total,
        "grade": grade,
        "fit": fit,
        "engagement": engagement,
        "contributions": contributions,
        "mql": {"meets": meets, "missing": missing},
        "model_version": model.version,
    }


# A rule's contribution is never capped (caps are per event type).
NOT_CAPPED = {"capped": False, "cap": None, "held_back": 0, "note": ""}


def _amount(points: float) -> str:
    return f"{round(points, 1):,.1f}".removesuffix(".0")


def _capping(compiled: Compiled, event_type: str, count: int, raw: float, decayed: float) -> dict:
    """Whether the event type's cap held points back (`held_back`: before decay, what its
    `count` events would have given uncapped less what they gave), and a `note` saying
    so and how much decay took."""
    each, cap = compiled.engagement[event_type]
    held_back = round(count * each - raw, 1) if cap is not None else 0
    notes = []
    if held_back > 0:
        held = f"{_amount(held_back)} points held back"
        notes.append(f"capped at {_amount(cap)} per 30 days ({held})")
    if round(raw, 1) != round(decayed, 1):
        notes.append(f"{_amount(raw)} before decay")
    return {"capped": held_back > 0, "cap": cap, "held_back": held_back, "note": "; ".join(notes)}


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


# The what-if's names for the moves the stage rules call for.
WHAT_IF_CHANGES = {"mql": "newly_mql", "nurturing": "leave_mql", "disqualified": "disqualified"}


def _could_move(compiled: Compiled) -> Sql:
    """The leads a stage rule could move at all, whatever their scores: in no handoff and
    in a stage some move of stage_move_sql starts from (the stage machine's automatic
    moves to disqualified, to MQL, and MQL's own move back). stage_move_sql is NULL for
    every other lead, so the what-if need not score them."""
    stages = {*automatic_from(Stage.MQL.value), Stage.MQL.value}
    if compiled.disqualify:
        stages |= {*automatic_from(Stage.DISQUALIFIED.value)}
    return Sql("NOT l.in_handoff AND l.stage = ANY(%s)", [sorted(stages)])


def _what_if_span(compiled: Compiled, now: datetime, span: tuple[int, int]) -> list[tuple]:
    """(change, count, first examples) for the leads of `span`: the stage move the draft's
    rules call for (Compiled.stage_move_sql, as rescoring moves) over the draft's scores,
    computed only for the leads a move could take (_could_move)."""
    scores = scores_sql(compiled, where=_could_move(compiled), now=now, span=span)
    move = compiled.stage_move_sql("s", automatic_from=automatic_from)
    sql = f"""
        WITH s AS ({scores.text}),
        outcome AS (
            SELECT l.id, l.first_name, l.last_name, l.email, {move.to_stage.text} AS move
            FROM s JOIN leads_lead l ON l.id = s.id
            WHERE l.id BETWEEN %s AND %s
        )
        SELECT move, count(*),
               (array_agg(json_build_array(id, trim(first_name || ' ' || last_name), email)
                          ORDER BY id))[1:{EXAMPLES}]
        FROM outcome WHERE move IS NOT NULL GROUP BY move
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # as a batch of a rescoring has
        cursor.execute(sql, [*scores.params, *move.to_stage.params, *span])
        return [(WHAT_IF_CHANGES[to], count, examples) for to, count, examples in cursor]


# The listed parts of a definition and the key that tells their items apart.
LISTED_PARTS = (("rules", "name"), ("engagement", "event"), ("grades", "grade"),
                ("disqualify", "name"))  # fmt: skip


def plain_value(value):
    """A definition's value as versions compare it: the editor saves numbers as text, so
    "40", 40 and 40.0 are the same."""
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return value.strip()
        return plain_value(number) if number.is_finite() else value.strip()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if not math.isfinite(value):
            return value
        return int(value) if value == int(value) else float(value)
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    return value


def _by_key(items, key: str) -> dict[str, dict]:
    """A part's items by their key; a repeated name gets its place ("VP title #2")."""
    found: dict[str, dict] = {}
    seen: Counter[str] = Counter()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = str(item.get(key))
            seen[name] += 1
            found[name if seen[name] == 1 else f"{name} #{seen[name]}"] = item
    return found


def _field_changes(old: dict, new: dict, keys) -> list[dict]:
    return [
        {"field": key, "old": before, "new": after}
        for key in keys
        if (before := plain_value(old.get(key, DEFAULTS.get(key))))
        != (after := plain_value(new.get(key, DEFAULTS.get(key))))
    ]


def definition_changes(old: dict, new: dict) -> list[dict]:
    """What changed from the definition `old` to `new`, part by part: each rule, event
    type, grade band and disqualification rule `added`, `removed` or `changed` (with
    `fields`: each key's `old` → `new`, and the `item` as it is in `new`, or was in `old`
    when removed); then the half-life and the MQL rule as a whole. Values compare as
    they count (a number saved as text is the same number, a default left out is the
    default)."""
    changes = []
    for part, key in LISTED_PARTS:
        before, after = _by_key(old.get(part), key), _by_key(new.get(part), key)
        keys = [k for k in KEYS[part] if k != key]
        for name, item in after.items():
            if name not in before:
                changes.append({"part": part, "change": "added", "name": name, "item": item,
                                "fields": []})  # fmt: skip
            elif fields := _field_changes(before[name], item, keys):
                changes.append({"part": part, "change": "changed", "name": name, "item": item,
                                "fields": fields})  # fmt: skip
        changes += [
            {"part": part, "change": "removed", "name": name, "item": item, "fields": []}
            for name, item in before.items()
            if name not in after
        ]
    for part, was, now, keys in [
        ("half_life_days", old, new, ["half_life_days"]),
        ("mql", _part(old, "mql"), _part(new, "mql"), KEYS["mql"]),
    ]:
        if fields := _field_changes(was, now, keys):
            changes.append({"part": part, "change": "changed", "name": part, "item": None,
                            "fields": fields})  # fmt: skip
    return changes


def _part(definition: dict, part: str) -> dict:
    found = definition.get(part)
    return found if isinstance(found, dict) else {}


def predictive_status() -> dict:
    """The predictive model as the page and `GET /api/v1/predictive/` show it: `status`
    (training, active, inactive, too_few, no_outcomes, failed, untrained), the latest
    model's evaluation (`auc`, `rule_auc`, `trained_at`, `factors`, calibration ...),
    whether a model is `active` (scores shown), the outcomes by kind (the latest model's,
    or before any model those known now), and the latest training run with its
    progress."""
    from scoring import outcomes
    from scoring.models import PredictiveModel, TrainingRun
    from scoring.predictive.learn import MIN_PER_CLASS

    run = TrainingRun.objects.select_related("requested_by").first()
    latest = PredictiveModel.objects.defer("fitted").first()
    in_use = PredictiveModel.objects.defer("fitted").filter(is_active=True).first()
    refused = run is not None and run.status == TrainingRun.Status.REFUSED
    if latest is not None and not refused:  # what it learned from (counting reads all)
        converted, not_converted = latest.positives, latest.outcomes - latest.positives
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE y = 1), count(*) FILTER (WHERE y = 0) FROM "
                f"(SELECT {outcomes.label_sql()} AS y FROM leads_lead l "
                "WHERE l.merged_into_id IS NULL) o"
            )
            converted, not_converted = cursor.fetchone()
    enough = min(converted, not_converted) >= MIN_PER_CLASS
    if run is not None and run.under_way:
        status = "training"
    elif run is not None and run.status == TrainingRun.Status.FAILED:
        status = "failed"
    elif latest is not None and not refused:
        status = "active" if latest.is_active else "inactive"
    elif converted + not_converted == 0:
        status = "no_outcomes"
    elif not enough:
        status = "too_few"
    else:
        status = "untrained"
    return {
        "status": status,
        "outcomes": latest.outcomes if latest else converted + not_converted,
        "auc": latest.auc if latest else None,
        "rule_auc": latest.rule_auc if latest else None,
        "trained_at": latest.trained_at if latest else None,
        "active": in_use is not None,
        "factors": [
            {"feature": f["feature"], "weight": f["weight"]} for f in (latest.factors or [])
        ]
        if latest
        else [],
        "model": latest,
        "in_use": in_use,
        "run": run,
        "converted_now": converted,
        "not_converted_now": not_converted,
        "enough": enough,
        "minimum": MIN_PER_CLASS,
        "sources": outcomes.sources(),
    }
