"""The shape of a scoring model's definition, its validation, and its compilation to SQL.

A definition (JSON, stored on ScoringModel.definition):

    {
      "rules": [                      # fit, negative and engagement adjustments
        {"name": "VP title", "field": "title", "op": "contains", "value": "VP",
         "points": 15, "applies_to": "fit"},
        {"name": "Mid-size", "field": "company_size", "op": "range", "min": 200,
         "max": 2000, "points": 10},
        {"name": "Unsubscribed", "field": "consent_status", "op": "equals",
         "value": "withdrawn", "points": -20, "applies_to": "engagement"}
      ],
      "engagement": [                 # points per behavioural event, capped per 30 days
        {"event": "pricing_page_view", "points": 10, "cap": 30}
      ],
      "half_life_days": 30,           # engagement decays by half every N days
      "grades": [{"grade": "A", "min_fit": 60}, {"grade": "B", "min_fit": 40},
                 {"grade": "C", "min_fit": 20}, {"grade": "D", "min_fit": null}],
      "mql": {"min_grade": "B", "min_engagement": 50, "need_known": true},
      "disqualify": [{"name": "Students", "field": "title", "op": "contains",
                      "value": "student"}]
    }

Every rule compiles to one SQL condition over the lead row `l`, and the model to one
SQL form of each thing computed from them: the decay of an event's points
(`Compiled.decayed_sql`), the MQL rule and each of its conditions (`mql_sql`) and the
stage move the rules call for (`stage_move_sql`). Rescoring, the explanation and the
what-if all use these same forms, so they cannot disagree.
"""

# SQL here is assembled from this module's own fragments; every value from a person
# travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leads.models import EVENT_TYPES, CustomField, Stage
from leads.services import FUTURE_TOLERANCE_SECONDS
from scoring.conditions import (  # the condition language, shared with other apps' rules
    DefinitionError,
    Sql,
    condition_sql,
    is_blank,
    read_number,
    read_text,
)

GRADES = ("A", "B", "C", "D")
APPLIES_TO = ("fit", "engagement")
# An event this many half-lives old counts 0. Its factor would be below 1e-301, far
# under what a score shows, and past ~1075 half-lives PostgreSQL's power() underflows
# to an error, not to 0: one event from year 1 (or a half-life of minutes) would stop
# the scoring statement for every lead.
DECAY_HORIZON_HALF_LIVES = 1000

# Bounds on a definition's numbers: wide for any real model, narrow enough that no sum
# of them overflows a score's column (fit and score are 32-bit integers; MAX_RULES rules
# of the most points are 200,000).
POINTS = (-1000, 1000)  # a rule's or an event type's points
CAP = (0, 10_000)  # an event type's points per 30 days
MIN_FIT = (-100_000, 100_000)  # a grade band's minimum fit
MIN_ENGAGEMENT = (0, 100_000)  # the MQL rule's minimum engagement (engagement is never < 0)
HALF_LIFE_DAYS = (1, 3650)
MAX_RULES = 200  # rules, and disqualification rules
MAX_NAME = 100

# What a key left out of a definition means.
DEFAULTS = {
    "applies_to": "fit",
    "half_life_days": 30,
    "min_grade": "B",
    "min_engagement": 0,
    "need_known": False,
}
# The keys each part of a definition may have.
KEYS = {
    "definition": ("rules", "engagement", "half_life_days", "grades", "mql", "disqualify"),
    "rules": ("name", "field", "op", "value", "min", "max", "points", "applies_to"),
    "engagement": ("event", "points", "cap"),
    "grades": ("grade", "min_fit"),
    "mql": ("min_grade", "min_engagement", "need_known"),
    "disqualify": ("name", "field", "op", "value", "min", "max"),
}


def _unknown_keys(part: dict, allowed: tuple[str, ...], path: str, errors: dict) -> None:
    for key in part:
        if key not in allowed:
            place = f"{path}.{key}" if path else str(key)
            errors[place] = f"Unknown key {key!r}: use {', '.join(allowed)}."


def _objects(definition: dict, section: str, errors: dict, *, limit: int) -> list[tuple[int, dict]]:
    """The objects listed under `section` with their indexes (each with only its known
    keys); a part of the wrong shape is an error at its place and left out."""
    raw = definition.get(section)
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors[section] = "Expected a list."
        return []
    if len(raw) > limit:
        errors[section] = f"Give at most {limit}."
        return []
    found = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            errors[f"{section}.{i}"] = "Expected an object."
            continue
        _unknown_keys(item, KEYS[section], f"{section}.{i}", errors)
        found.append((i, item))
    return found


def _storable(definition: dict, errors: dict) -> None:
    """An error at every place JSONB cannot store (a NUL character, NaN, an infinity),
    also where the definition holds a value that no rule reads."""
    stack: list[tuple[str, Any]] = [("", definition)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, inner in value.items():
                place = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and "\x00" in key:
                    errors.setdefault(place, "Remove the NUL character (\\x00).")
                stack.append((place, inner))
        elif isinstance(value, list):
            stack += [(f"{path}.{i}", inner) for i, inner in enumerate(value)]
        elif isinstance(value, str) and "\x00" in value:
            errors.setdefault(path, "Remove the NUL character (\\x00).")
        elif isinstance(value, float) and not math.isfinite(value):
            errors.setdefault(path, "Enter a number.")


def _namedcondition_sql(rule: dict, path: str, custom, now, errors: dict):
    """A rule's name and its test (what scoring and disqualification rules share)."""
    name = read_text(
        rule.get("name"), f"{path}.name", errors, missing="Give the rule a name.", limit=MAX_NAME
    )
    return name, condition_sql(rule, path, custom, now, errors)


@dataclass
class CompiledRule:
    name: str
    condition: Sql
    points: float
    applies_to: str


@dataclass
class Compiled:
    """A validated definition, ready for SQL."""

    rules: list[CompiledRule]
    engagement: dict[str, tuple[float, float | None]]  # event → (points, cap)
    half_life_days: float
    grades: list[tuple[str, float | None]]  # descending min_fit; None = the rest
    mql_min_grade: str
    mql_min_engagement: float
    mql_need_known: bool
    disqualify: list[tuple[str, Sql]]
    definition: dict[str, Any]

    def sum_sql(self, applies_to: str) -> Sql:
        parts = [r for r in self.rules if r.applies_to == applies_to]
        if not parts:
            return Sql("0", [])
        return Sql(
            "("
            + " + ".join(f"(CASE WHEN {r.condition.text} THEN %s ELSE 0 END)" for r in parts)
            + ")",
            [p for r in parts for p in (*r.condition.params, r.points)],
        )

    def grade_sql(self, fit: str) -> Sql:
        whens, params = [], []
        for grade, minimum in self.grades:
            if minimum is None:
                whens.append("ELSE %s")
                params.append(grade)
            else:
                whens.append(f"WHEN {fit} >= %s THEN %s")
                params += [minimum, grade]
        if not whens[-1].startswith("ELSE"):
            whens.append("ELSE ''")
        # One band with no minimum (everyone has its grade) is a CASE with no WHEN.
        return Sql("(CASE WHEN false THEN '' " + " ".join(whens) + " END)", params)

    def decayed_sql(self, points: str, occurred_at: str, now: datetime) -> Sql:
        """`points` of an event at `occurred_at`, halved every half-life up to `now`: the one
        decay formula. Total over any stored date: an event ahead of `now` counts as if at
        most FUTURE_TOLERANCE_SECONDS ahead (what record_event accepts; an earlier `now`,
        as `tick --at` gives, never multiplies points), one past the horizon counts 0."""
        halves = (
            f"(GREATEST(%s, date_part('epoch', (%s::timestamptz - {occurred_at}))) / (86400 * %s))"
        )
        params = [-FUTURE_TOLERANCE_SECONDS, now, self.half_life_days]
        return Sql(
            f"(CASE WHEN {halves} > %s THEN 0 ELSE {points} * power(0.5, {halves}) END)",
            [*params, DECAY_HORIZON_HALF_LIVES, *params],
        )

    def mql_sql(self, scores: str) -> MqlSql:
        """The MQL rule for the lead `l` whose grade and engagement are `{scores}.grade`,
        `{scores}.engagement` (the lead row itself, or a scoring statement's row)."""
        good = [g for g in GRADES if g <= self.mql_min_grade]
        grade = Sql(f"COALESCE({scores}.grade = ANY(%s), false)", [good])
        engagement = Sql(f"({scores}.engagement >= %s)", [self.mql_min_engagement])
        need = Sql("COALESCE(l.need <> '', false)" if self.mql_need_known else "true", [])
        parts = (grade, engagement, need)
        return MqlSql(
            grade=grade,
            engagement=engagement,
            need=need,
            meets=Sql(
                "(" + " AND ".join(p.text for p in parts) + ")",
                [p for part in parts for p in part.params],
            ),
            engagement_gap=Sql(f"GREATEST(0, %s - {scores}.engagement)", [self.mql_min_engagement]),
        )

    def stage_move_sql(
        self, scores: str, *, automatic_from: Callable[[str], Sequence[str]]
    ) -> StageMoveSql:
        """The stage the rules move the lead `l` with scores `scores` (see mql_sql) to, or
        NULL: disqualified by the first matching rule, unless a person took the lead out
        of disqualified; MQL on meeting the rule; back to nurturing on falling below it.
        Only from the stages `automatic_from(to_stage)` (the stage machine's automatic
        moves) and never a lead in a handoff. Scoring's moves and the what-if both read
        it; after its move a lead's answer is NULL (a second reading moves nobody)."""
        meets = self.mql_sql(scores).meets
        whens, params = ["WHEN l.in_handoff THEN NULL"], []
        if self.disqualify:
            matches = " OR ".join(c.text for _, c in self.disqualify)
            whens.append(
                f"""WHEN l.stage = ANY(%s) AND ({matches}) AND NOT EXISTS (
                        -- a person took it out of disqualified: respect that
                        SELECT 1 FROM leads_stagechange h WHERE h.lead_id = l.id
                        AND h.from_stage = %s AND h.changed_by_id IS NOT NULL)
                    THEN %s"""
            )
            params += [
                list(automatic_from(Stage.DISQUALIFIED.value)),
                *[p for _, c in self.disqualify for p in c.params],
                Stage.DISQUALIFIED.value,
                Stage.DISQUALIFIED.value,
            ]
        whens.append(f"WHEN l.stage = ANY(%s) AND {meets.text} THEN %s")
        params += [list(automatic_from(Stage.MQL.value)), *meets.params, Stage.MQL.value]
        whens.append(f"WHEN l.stage = %s AND NOT {meets.text} THEN %s")
        params += [Stage.MQL.value, *meets.params, Stage.NURTURING.value]
        if self.disqualify:
            rule = Sql(
                "CASE " + " ".join(f"WHEN {c.text} THEN %s" for _, c in self.disqualify) + " END",
                [p for name, c in self.disqualify for p in (*c.params, name)],
            )
        else:
            rule = Sql("NULL", [])
        return StageMoveSql(
            to_stage=Sql("(CASE " + " ".join(whens) + " END)", params), disqualified_by=rule
        )


@dataclass
class MqlSql:
    """The MQL rule as SQL booleans over `l` and its scores: each condition, and all."""

    grade: Sql
    engagement: Sql
    need: Sql
    meets: Sql
    engagement_gap: Sql  # engagement points short of the rule's minimum (0 when met)


@dataclass
class StageMoveSql:
    """The stage rules' one compiled form (Compiled.stage_move_sql)."""

    to_stage: Sql  # 'disqualified', 'mql', 'nurturing' or NULL
    disqualified_by: Sql  # the first matching disqualification rule's name, or NULL


def compile_definition(
    definition: Any, *, now, custom: dict[str, CustomField] | None = None
) -> Compiled:
    """Validate `definition` and compile it; DefinitionError lists every problem at once,
    each at its place (`rules.2.points`, `mql.min_grade`): the shape of every part, the
    keys each may have, and the bounds of every number."""
    errors: dict[str, str] = {}
    if not isinstance(definition, dict):
        raise DefinitionError({"definition": "Expected an object (rules, grades, mql, ...)."})
    custom = {f.name: f for f in CustomField.objects.all()} if custom is None else custom
    _unknown_keys(definition, KEYS["definition"], "", errors)
    _storable(definition, errors)

    rules = []
    for i, rule in _objects(definition, "rules", errors, limit=MAX_RULES):
        path = f"rules.{i}"
        name, condition = _namedcondition_sql(rule, path, custom, now, errors)
        points = read_number(
            rule.get("points"), f"{path}.points", errors, bounds=POINTS, missing="Give the points."
        )
        applies_to = (
            DEFAULTS["applies_to"] if is_blank(rule.get("applies_to")) else rule["applies_to"]
        )
        if applies_to not in APPLIES_TO:
            errors[f"{path}.applies_to"] = "Use fit or engagement."
        if condition is not None and points is not None and name:
            rules.append(CompiledRule(name, condition, points, applies_to))

    engagement = {}
    for i, item in _objects(definition, "engagement", errors, limit=len(EVENT_TYPES)):
        path = f"engagement.{i}"
        event = item.get("event")
        if is_blank(event):
            errors[f"{path}.event"] = "Choose an event type."
            continue
        if event not in EVENT_TYPES:
            errors[f"{path}.event"] = f"Unknown event type {event!r}."
            continue
        if event in engagement:
            errors[f"{path}.event"] = f"{event} has points already."
            continue
        points = read_number(
            item.get("points"), f"{path}.points", errors, bounds=POINTS, missing="Give the points."
        )
        cap = read_number(item.get("cap"), f"{path}.cap", errors, bounds=CAP, allow_none=True)
        if cap is not None and points is not None and points <= 0:
            errors[f"{path}.cap"] = "Only positive points can be capped."
        if points is not None:
            engagement[event] = (points, cap)

    half_life = read_number(
        definition.get("half_life_days", DEFAULTS["half_life_days"]),
        "half_life_days",
        errors,
        bounds=HALF_LIFE_DAYS,
    )

    grades = []
    bands = _objects(definition, "grades", errors, limit=len(GRADES))
    if not bands and "grades" not in errors:
        errors["grades"] = "Give the grade bands."
    previous = None
    for i, band in bands:
        path = f"grades.{i}"
        grade = band.get("grade")
        if not isinstance(grade, str) or grade not in GRADES:
            errors[f"{path}.grade"] = "Use A, B, C or D."
            continue
        if grades and grade <= grades[-1][0]:
            errors[f"{path}.grade"] = "List the grades in order, A first, each once."
        minimum = read_number(
            band.get("min_fit"), f"{path}.min_fit", errors, bounds=MIN_FIT, allow_none=True
        )
        if minimum is None and i != len(definition["grades"]) - 1:
            errors.setdefault(f"{path}.min_fit", "Only the last band may have no minimum.")
        if minimum is not None and previous is not None and minimum >= previous:
            errors[f"{path}.min_fit"] = "Bands overlap: each minimum must be below the one above."
        previous = minimum if minimum is not None else previous
        grades.append((grade, minimum))

    mql = definition.get("mql")
    if mql is None:
        mql = {}
    elif not isinstance(mql, dict):
        errors["mql"] = "Expected an object (min_grade, min_engagement, need_known)."
        mql = {}
    _unknown_keys(mql, KEYS["mql"], "mql", errors)
    min_grade = mql.get("min_grade", DEFAULTS["min_grade"])
    if not isinstance(min_grade, str) or min_grade not in GRADES:
        errors["mql.min_grade"] = "Use A, B, C or D."
    min_engagement = read_number(
        mql.get("min_engagement", DEFAULTS["min_engagement"]),
        "mql.min_engagement",
        errors,
        bounds=MIN_ENGAGEMENT,
    )
    need_known = mql.get("need_known", DEFAULTS["need_known"])
    if not isinstance(need_known, bool):
        errors["mql.need_known"] = "Use true or false."

    disqualify = []
    for i, rule in _objects(definition, "disqualify", errors, limit=MAX_RULES):
        name, condition = _namedcondition_sql(rule, f"disqualify.{i}", custom, now, errors)
        if condition is not None and name:
            disqualify.append((name, condition))

    if errors:
        raise DefinitionError(errors)
    return Compiled(
        rules=rules,
        engagement=engagement,
        half_life_days=half_life,
        grades=grades,
        mql_min_grade=min_grade,
        mql_min_engagement=min_engagement,
        mql_need_known=need_known,
        disqualify=disqualify,
        definition=definition,
    )


DEFAULT_DEFINITION = {
    "rules": [
        {"name": "Senior title", "field": "title", "op": "contains", "value": "VP", "points": 15},
        {"name": "C-level", "field": "title", "op": "contains", "value": "Chief", "points": 15},
        {"name": "Head of", "field": "title", "op": "contains", "value": "Head of", "points": 10},
        {"name": "Company size 200-2000", "field": "company_size", "op": "range",
         "min": 200, "max": 2000, "points": 10},
        {"name": "Company size over 2000", "field": "company_size", "op": "range",
         "min": 2001, "points": 15},
        {"name": "Budget confirmed", "field": "budget", "op": "is_set", "points": 20},
        {"name": "Decision maker", "field": "authority", "op": "equals", "value": True,
         "points": 10},
        {"name": "Need known", "field": "need", "op": "is_set", "points": 10},
        {"name": "Target industry", "field": "industry", "op": "in",
         "value": ["Software", "Financial services", "Healthcare", "Internet"], "points": 10},
        {"name": "Free-mail address", "field": "free_mail", "op": "equals", "value": True,
         "points": -10},
        {"name": "Student", "field": "title", "op": "contains", "value": "student",
         "points": -30},
        {"name": "Unsubscribed", "field": "consent_status", "op": "equals",
         "value": "withdrawn", "points": -20, "applies_to": "engagement"},
        {"name": "Inactive for 90 days", "field": "days_inactive", "op": "range", "min": 90,
         "points": -15, "applies_to": "engagement"},
    ],
    "engagement": [
        {"event": "page_view", "points": 1, "cap": 10},
        {"event": "pricing_page_view", "points": 10, "cap": 30},
        {"event": "content_download", "points": 8, "cap": 24},
        {"event": "webinar_registered", "points": 10, "cap": 20},
        {"event": "webinar_attended", "points": 20, "cap": 40},
        {"event": "form_submit", "points": 10, "cap": 30},
        {"event": "email_open", "points": 1, "cap": 5},
        {"event": "email_click", "points": 5, "cap": 20},
        {"event": "demo_request", "points": 40, "cap": 40},
        {"event": "unsubscribe", "points": -20, "cap": None},
        {"event": "bounce", "points": -10, "cap": None},
    ],
    "half_life_days": 30,
    "grades": [
        {"grade": "A", "min_fit": 40},
        {"grade": "B", "min_fit": 25},
        {"grade": "C", "min_fit": 10},
        {"grade": "D", "min_fit": None},
    ],
    "mql": {"min_grade": "B", "min_engagement": 50, "need_known": True},
    "disqualify": [
        {"name": "Students", "field": "title", "op": "contains", "value": "student"},
    ],
}  # fmt: skip
