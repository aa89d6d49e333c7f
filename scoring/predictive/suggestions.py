"""Rule suggestions: where the outcomes and the scoring model's points disagree most.

For every rule of the active lead definition, and for every source, the outcomes say
how much better (or worse) its leads converted than the others: a smoothed log odds
ratio, turned into points at POINTS_PER_DOUBLING points for twice the odds. Where
those points and the rule's differ most (a source that converts far better than its
points say, a rule that gives points to leads that never convert), marketing sees a
suggestion; applying one opens the editor's what-if with the changed definition, and
saving it is a new model version like any other edit.
"""

# SQL here is assembled from compiled rules; values travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

import copy
import math
from datetime import datetime

from django.db import connection

from leads.models import Source
from scoring import outcomes
from scoring.rules import POINTS, compile_definition

POINTS_PER_DOUBLING = 10
MIN_LEADS = 20  # leads on each side (matching, not) a suggestion needs
MIN_DIFFERENCE = 10  # points between the rule's and the outcomes' that make a suggestion
SHOWN = 6


def _points(converted: int, not_converted: int, others_converted: int, others_not: int) -> int:
    ratio = math.log((converted + 0.5) / (not_converted + 0.5)) - math.log(
        (others_converted + 0.5) / (others_not + 0.5)
    )
    points = POINTS_PER_DOUBLING * ratio / math.log(2)
    return int(max(-40, min(40, 5 * round(points / 5))))


def _rate(converted: int, total: int) -> str:
    return f"{100 * converted / total:.0f}%" if total else "–"


def suggest(definition: dict, *, now: datetime) -> list[dict]:
    """The suggestions for `definition` from the outcomes known now, largest
    disagreement first: each with its words (`text`), the rule's points and the
    outcomes', and the `change` that applies it (see `apply`)."""
    compiled = compile_definition(definition, now=now)
    label = outcomes.label_sql()
    tests = [(r.name, r.condition, r.points) for r in compiled.rules]
    counts = ", ".join(
        f"count(*) FILTER (WHERE ({c.text}) AND o.y = 1), count(*) FILTER (WHERE ({c.text}) "
        "AND o.y = 0)"
        for _, c, _ in tests
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE o.y = 1), count(*) FILTER (WHERE o.y = 0)
                       {", " + counts if counts else ""}
                FROM leads_lead l CROSS JOIN LATERAL (SELECT {label} AS y) o
                WHERE l.merged_into_id IS NULL AND o.y IS NOT NULL""",
            [p for _, c, _ in tests for p in (*c.params, *c.params)],
        )
        row = cursor.fetchone()
        cursor.execute(
            f"""SELECT l.source, count(*) FILTER (WHERE o.y = 1), count(*) FILTER (WHERE o.y = 0)
                FROM leads_lead l CROSS JOIN LATERAL (SELECT {label} AS y) o
                WHERE l.merged_into_id IS NULL AND o.y IS NOT NULL GROUP BY l.source"""
        )
        sources = cursor.fetchall()
    positives, negatives = row[0], row[1]
    found = []
    for i, (name, _condition, points) in enumerate(tests):
        a, b = row[2 + 2 * i], row[3 + 2 * i]
        c, d = positives - a, negatives - b
        if min(a + b, c + d) < MIN_LEADS:
            continue
        learned = _points(a, b, c, d)
        if abs(learned - points) < MIN_DIFFERENCE:
            continue
        found.append({
            "key": f"rule:{name}", "current": points, "suggested": learned,
            "text": (f"Rule “{name}” gives {points:+g}, but {_rate(a, a + b)} of its "
                     f"{a + b:,} leads with an outcome converted against {_rate(c, c + d)} of "
                     f"the others: set it to {learned:+d}."),
            "change": {"kind": "points", "rule": name, "points": learned},
        })  # fmt: skip
    tested = {
        r.get("value")
        for r in definition.get("rules") or []
        if r.get("field") == "source" and r.get("op") == "equals"
    }
    labels = dict(Source.choices)
    for source, a, b in sources:
        c, d = positives - a, negatives - b
        if source in tested or min(a + b, c + d) < MIN_LEADS:
            continue
        learned = _points(a, b, c, d)
        if abs(learned) < MIN_DIFFERENCE:
            continue
        shown = labels.get(source, source)
        found.append({
            "key": f"source:{source}", "current": 0, "suggested": learned,
            "text": (f"Source {shown}: {_rate(a, a + b)} of its {a + b:,} leads with an "
                     f"outcome converted against {_rate(c, c + d)} of the others, and no rule "
                     f"gives it points: add a rule giving {learned:+d}."),
            "change": {"kind": "add", "rule": {
                "name": f"Source: {shown}", "field": "source", "op": "equals", "value": source,
                "points": learned, "applies_to": "fit"}},
        })  # fmt: skip
    found.sort(key=lambda s: -abs(s["suggested"] - s["current"]))
    return found[:SHOWN]


def apply(definition: dict, change: dict) -> dict:
    """`definition` with a suggestion's `change` made (a copy; checked when saved)."""
    changed = copy.deepcopy(definition)
    rules = changed.setdefault("rules", [])
    if change["kind"] == "points":
        for rule in rules:
            if rule.get("name") == change["rule"]:
                rule["points"] = max(POINTS[0], min(POINTS[1], change["points"]))
    elif change["kind"] == "add":
        rules.append(dict(change["rule"]))
    return changed
