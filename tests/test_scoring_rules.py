"""A scoring model's definition: every mistake is a clear error at its place."""

import copy

import pytest

from scoring.rules import DEFAULT_DEFINITION, DefinitionError, compile_definition
from tests.conftest import CURRENT_TIME
from tests.scoring_helpers import SIMPLE


def _errors(definition):
    with pytest.raises(DefinitionError) as caught:
        compile_definition(definition, now=CURRENT_TIME, custom={})
    return caught.value.errors


def _with(change):
    definition = copy.deepcopy(SIMPLE)
    change(definition)
    return definition


def test_the_default_and_the_sample_definitions_compile():
    compile_definition(DEFAULT_DEFINITION, now=CURRENT_TIME, custom={})
    compile_definition(SIMPLE, now=CURRENT_TIME, custom={})


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda d: d["rules"][0].update(field="shoe_size"), "rules.0.field", "Unknown field"),
        (lambda d: d["rules"][0].update(points="lots"), "rules.0.points", "number"),
        (lambda d: d["rules"][1].update(min="big"), "rules.1.min", "number"),
        (lambda d: d["rules"][1].update(min=3000), "rules.1.max", "below the minimum"),
        (lambda d: d["rules"][0].update(op="range"), "rules.0.op", "Use one of"),
        (lambda d: d["rules"][0].update(name=""), "rules.0.name", "name"),
        (lambda d: d["rules"][0].update(applies_to="mood"), "rules.0.applies_to", "fit or"),
        (lambda d: d["engagement"][0].update(event="tweet"), "engagement.0.event", "Unknown event"),
        (lambda d: d["engagement"][0].update(cap=-1), "engagement.0.cap", "from 0 to 10,000"),
        (lambda d: d["grades"][1].update(min_fit=50), "grades.1.min_fit", "overlap"),
        (lambda d: d["grades"][1].update(grade="A"), "grades.1.grade", "in order"),
        (lambda d: d["grades"][0].update(min_fit=None), "grades.0.min_fit", "last band"),
        (lambda d: d.update(half_life_days=0), "half_life_days", "from 1 to 3,650"),
        (lambda d: d["mql"].update(min_engagement="fifty"), "mql.min_engagement", "number"),
        (lambda d: d["mql"].update(min_grade="E"), "mql.min_grade", "A, B, C or D"),
        # Numbers that once passed and then stopped the scoring statement, or made no sense.
        (lambda d: d["rules"][0].update(points=1e10), "rules.0.points", "from -1,000 to 1,000"),
        (lambda d: d["rules"][0].update(points="1e10"), "rules.0.points", "-1,000 to 1,000"),
        (lambda d: d["engagement"][0].update(points=-5000), "engagement.0.points", "-1,000"),
        (lambda d: d["engagement"][0].update(cap=1e9), "engagement.0.cap", "0 to 10,000"),
        (lambda d: d["rules"][1].update(min=1e20), "rules.1.min", "number from"),
        (lambda d: d["rules"][1].update(max=-1e20), "rules.1.max", "number from"),
        (lambda d: d["grades"][0].update(min_fit=1e9), "grades.0.min_fit", "number from"),
        (lambda d: d.update(half_life_days=0.001), "half_life_days", "from 1 to 3,650"),
        (lambda d: d.update(half_life_days=1e6), "half_life_days", "from 1 to 3,650"),
        (lambda d: d["mql"].update(min_engagement=1e9), "mql.min_engagement", "0 to 100,000"),
        (lambda d: d["mql"].update(min_engagement=-1), "mql.min_engagement", "0 to 100,000"),
        # Shapes: each part is an object, a list or a value as the definition describes.
        (lambda d: d.update(mql=[1]), "mql", "Expected an object"),
        (lambda d: d.update(grades=5), "grades", "Expected a list"),
        (lambda d: d.update(rules=5), "rules", "Expected a list"),
        (lambda d: d.update(rules="VP"), "rules", "Expected a list"),
        (lambda d: d.update(engagement={"event": "page_view"}), "engagement", "Expected a list"),
        (lambda d: d.update(disqualify=True), "disqualify", "Expected a list"),
        (lambda d: d["rules"].append(5), "rules.5", "Expected an object"),
        (lambda d: d["grades"].__setitem__(0, "A"), "grades.0", "Expected an object"),
        (lambda d: d["mql"].update(need_known="yes"), "mql.need_known", "true or false"),
        (lambda d: d["mql"].update(min_grade=["A"]), "mql.min_grade", "A, B, C or D"),
        # Required keys, and no unknown ones (a typo would otherwise be silently ignored).
        (lambda d: d["rules"][0].pop("points"), "rules.0.points", "Give the points"),
        (lambda d: d["rules"][0].pop("field"), "rules.0.field", "Choose a field"),
        (lambda d: d["rules"][0].pop("op"), "rules.0.op", "Choose a test"),
        (lambda d: d["engagement"][0].pop("points"), "engagement.0.points", "Give the points"),
        (lambda d: d["engagement"][0].pop("event"), "engagement.0.event", "Choose an event"),
        (lambda d: d["grades"][0].pop("grade"), "grades.0.grade", "A, B, C or D"),
        (lambda d: d["rules"][0].update(pts=15), "rules.0.pts", "Unknown key"),
        (lambda d: d["engagement"][0].update(capp=5), "engagement.0.capp", "Unknown key"),
        (lambda d: d["grades"][0].update(fit=5), "grades.0.fit", "Unknown key"),
        (lambda d: d["mql"].update(grade="A"), "mql.grade", "Unknown key"),
        (lambda d: d["disqualify"][0].update(points=5), "disqualify.0.points", "Unknown key"),
        (lambda d: d.update(rulez=[]), "rulez", "Unknown key"),
        # Text: a name is text, and nothing PostgreSQL cannot store (a NUL character).
        (lambda d: d["rules"][0].update(name=5), "rules.0.name", "name"),
        (lambda d: d["rules"][0].update(name="VP\x00"), "rules.0.name", "NUL"),
        (lambda d: d["rules"][0].update(value="V\x00P"), "rules.0.value", "NUL"),
        (lambda d: d["rules"][0].update(value="V" * 201), "rules.0.value", "200 characters"),
        (lambda d: d["disqualify"][0].update(name=["x"]), "disqualify.0.name", "name"),
        (lambda d: d["rules"].extend([d["rules"][0]] * 200), "rules", "at most 200"),
    ],
)
def test_bad_definitions_name_the_problem_and_its_place(change, path, words):
    errors = _errors(_with(change))
    assert path in errors, errors
    assert words.lower() in errors[path].lower()


@pytest.mark.parametrize("definition", [[SIMPLE], "SIMPLE", 5, None])
def test_a_definition_that_is_not_an_object_is_one_error(definition):
    assert set(_errors(definition)) == {"definition"}


def test_a_date_rule_needs_a_date():
    from leads.models import CustomField

    custom = {"renewal": CustomField(name="renewal", label="Renewal", type="date")}
    rule = {"name": "Renews", "field": "custom.renewal", "op": "equals", "value": "", "points": 5}
    definition = _with(lambda d: d["rules"].append(rule))
    with pytest.raises(DefinitionError) as caught:
        compile_definition(definition, now=CURRENT_TIME, custom=custom)
    assert "date" in caught.value.errors["rules.5.value"]


def test_every_problem_is_reported_at_once():
    def break_two(d):
        d["rules"][0]["field"] = "nope"
        d["grades"][2]["min_fit"] = 30

    assert {"rules.0.field", "grades.2.min_fit"} <= set(_errors(_with(break_two)))
