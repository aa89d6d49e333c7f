"""The scoring model editor's form: rows of inputs to and from a definition dict.

Rows are named `<section>-<index>-<attribute>`; a row whose name (or event) is left
empty is dropped, so clearing a row removes the rule and blank rows add new ones.
"""

from __future__ import annotations

import copy

from scoring.rules import GRADES

BLANK_ROWS = 3
RULE_KEYS = ("name", "field", "op", "value", "min", "max", "points", "applies_to")


def _value_for_form(rule: dict) -> str:
    value = rule.get("value")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def rows(definition: dict) -> dict:
    """Form rows for a definition, plus blank rows to add rules."""
    definition = copy.deepcopy(definition)
    rules = [{**r, "value": _value_for_form(r)} for r in definition.get("rules", [])]
    disqualify = [{**r, "value": _value_for_form(r)} for r in definition.get("disqualify", [])]
    engagement = list(definition.get("engagement", []))
    bands = {b["grade"]: b.get("min_fit") for b in definition.get("grades", [])}
    return {
        "rules": rules + [{} for _ in range(BLANK_ROWS)],
        "engagement": engagement + [{} for _ in range(2)],
        "disqualify": disqualify + [{} for _ in range(2)],
        "grades": [{"grade": g, "min_fit": bands.get(g)} for g in GRADES],
        "half_life_days": definition.get("half_life_days", 30),
        "mql": definition.get("mql", {}),
    }


def parse_value(op: str, raw: str):
    raw = raw.strip()
    if op == "in":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if raw.lower() in ("true", "yes"):
        return True
    if raw.lower() in ("false", "no"):
        return False
    return raw


def _indexed(post, prefix: str) -> list[int]:
    found = set()
    for key in post:
        if key.startswith(prefix + "-"):
            index = key.split("-")[1]
            if index.isdigit():
                found.add(int(index))
    return sorted(found)


def _blank_to_none(raw: str):
    raw = (raw or "").strip()
    return raw or None


def definition_from_post(post) -> dict:
    """The definition the editor's form describes (validated later by compile_definition)."""
    rules = []
    for i in _indexed(post, "rule"):
        name = post.get(f"rule-{i}-name", "").strip()
        if not name:
            continue
        op = post.get(f"rule-{i}-op", "")
        rule = {
            "name": name,
            "field": post.get(f"rule-{i}-field", ""),
            "op": op,
            "points": _blank_to_none(post.get(f"rule-{i}-points")),
            "applies_to": post.get(f"rule-{i}-applies_to") or "fit",
        }
        if op == "range":
            rule["min"] = _blank_to_none(post.get(f"rule-{i}-min"))
            rule["max"] = _blank_to_none(post.get(f"rule-{i}-max"))
        elif op != "is_set":
            rule["value"] = parse_value(op, post.get(f"rule-{i}-value", ""))
        rules.append(rule)
    engagement = []
    for i in _indexed(post, "eng"):
        event = post.get(f"eng-{i}-event", "")
        if not event:
            continue
        engagement.append(
            {
                "event": event,
                "points": _blank_to_none(post.get(f"eng-{i}-points")),
                "cap": _blank_to_none(post.get(f"eng-{i}-cap")),
            }
        )
    disqualify = []
    for i in _indexed(post, "dq"):
        name = post.get(f"dq-{i}-name", "").strip()
        if not name:
            continue
        op = post.get(f"dq-{i}-op", "")
        rule = {"name": name, "field": post.get(f"dq-{i}-field", ""), "op": op}
        if op != "is_set":
            rule["value"] = parse_value(op, post.get(f"dq-{i}-value", ""))
        disqualify.append(rule)
    grades = [{"grade": g, "min_fit": _blank_to_none(post.get(f"grade-{g}"))} for g in GRADES]
    return {
        "rules": rules,
        "engagement": engagement,
        "half_life_days": _blank_to_none(post.get("half_life_days")),
        "grades": grades,
        "mql": {
            "min_grade": post.get("mql-min_grade", "B"),
            "min_engagement": _blank_to_none(post.get("mql-min_engagement")) or 0,
            "need_known": post.get("mql-need_known") == "on",
        },
        "disqualify": disqualify,
    }


# How the editor names the rows an error's path points at.
ROW_NAMES = {"rules": "Rule", "engagement": "Event", "disqualify": "Disqualification"}
PLACE_NAMES = {
    "half_life_days": "Half-life",
    "mql.min_grade": "MQL minimum grade",
    "mql.min_engagement": "MQL minimum engagement",
    "mql.need_known": "MQL: BANT need known",
}


def error_places(errors: dict[str, str]) -> list[dict]:
    """DefinitionError's errors with the place as the editor names it: `rules.2.points`
    is "Rule 3 points" (rows count from 1, as their labels do), `grades.1.min_fit`
    "Grade B minimum fit"."""
    places = []
    for path, message in errors.items():
        part, _, rest = path.partition(".")
        index, _, key = rest.partition(".")
        if part == "grades" and index.isdigit() and int(index) < len(GRADES):
            place = f"Grade {GRADES[int(index)]} {'minimum fit' if key == 'min_fit' else key}"
        elif part in ROW_NAMES and index.isdigit():
            place = f"{ROW_NAMES[part]} {int(index) + 1} {key.replace('_', ' ')}"
        else:
            place = PLACE_NAMES.get(path, path)
        places.append({"path": path, "place": place.strip(), "message": message})
    return places
