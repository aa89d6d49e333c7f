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
        (lambda d: d["engagement"][0].update(cap=-1), "engagement.0.cap", "negative"),
        (lambda d: d["grades"][1].update(min_fit=50), "grades.1.min_fit", "overlap"),
        (lambda d: d["grades"][1].update(grade="A"), "grades.1.grade", "in order"),
        (lambda d: d["grades"][0].update(min_fit=None), "grades.0.min_fit", "last band"),
        (lambda d: d.update(half_life_days=0), "half_life_days", "more than 0"),
        (lambda d: d["mql"].update(min_engagement="fifty"), "mql.min_engagement", "number"),
        (lambda d: d["mql"].update(min_grade="E"), "mql.min_grade", "A, B, C or D"),
    ],
)
def test_bad_definitions_name_the_problem_and_its_place(change, path, words):
    errors = _errors(_with(change))
    assert path in errors, errors
    assert words.lower() in errors[path].lower()


def test_every_problem_is_reported_at_once():
    def break_two(d):
        d["rules"][0]["field"] = "nope"
        d["grades"][2]["min_fit"] = 30

    assert {"rules.0.field", "grades.2.min_fit"} <= set(_errors(_with(break_two)))
