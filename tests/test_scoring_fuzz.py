"""Random definitions: the validator refuses them with DefinitionError, or they run.

Whatever JSON reaches `compile_definition` (from the API, the editor, or a stored
version), it either raises DefinitionError naming its places or compiles to a model that
the what-if, saving, a rescoring and the explanation all run without another exception.
"""

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from leads.models import EVENT_TYPES, Lead
from leads.services import define_custom_field, record_event
from scoring import selectors, services
from scoring.conditions import FIELDS, OPS, OPS_BY_TYPE, VALUE
from scoring.rules import (
    CAP,
    DEFAULT_DEFINITION,
    GRADES,
    HALF_LIFE_DAYS,
    KEYS,
    MIN_ENGAGEMENT,
    POINTS,
    DefinitionError,
    compile_definition,
)
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead
from tests.scoring_helpers import SIMPLE

NOW = CURRENT_TIME
ALL_KEYS = sorted({key for keys in KEYS.values() for key in keys})
CUSTOM = ["custom.plan", "custom.seats", "custom.partner", "custom.renewal", "custom.notes"]
WORDS = [*FIELDS, *CUSTOM, "custom.nope", *OPS, *GRADES, *(str(e) for e in EVENT_TYPES),
         "fit", "engagement", "1e10", "0.001", "-5", "2026-03-01", "true", "", "\x00"]  # fmt: skip
WITH_CUSTOM = {
    **copy.deepcopy(SIMPLE),
    "rules": [
        {"name": "Gold plan", "field": "custom.plan", "op": "in", "value": ["Gold"], "points": 5},
        {"name": "Seats", "field": "custom.seats", "op": "range", "min": 10, "points": 5},
        {"name": "Partner", "field": "custom.partner", "op": "equals", "value": True,
         "points": 5},
        {"name": "Renews", "field": "custom.renewal", "op": "range", "min": "2026-01-01",
         "points": 5, "applies_to": "engagement"},
        {"name": "Notes", "field": "custom.notes", "op": "contains", "value": "hot", "points": 1},
    ],
}  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),  # NaN, infinities, subnormals
    st.text(max_size=6),
    st.sampled_from(WORDS),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(ALL_KEYS) | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=12,
)


# Values near what a definition holds, the bounds included, so many drawn definitions
# compile and the scoring statement runs with them.
small = st.integers(0, 100) | st.floats(0, 100)
numbers = st.one_of(
    small,
    small.map(lambda n: -n),
    st.integers(-1100, 1100),
    st.sampled_from([0, 1, -1000, 1000, 1000.5, 3650, 3651, 10_000, 100_000, 10**12, 1e-300]),
    st.integers(-1100, 1100).map(str),
)
values = st.one_of(
    numbers,
    st.booleans(),
    st.sampled_from(["VP", "student", "withdrawn", "Gold", "2026-03-01", "1990-01-01", "hot"]),
    st.lists(st.sampled_from(["Software", "Gold", 5, "x"]), min_size=1, max_size=3),
)
KINDS = {**{name: kind for name, (_, kind, *_) in FIELDS.items()},
         "custom.plan": "text", "custom.seats": "number", "custom.partner": "bool",
         "custom.renewal": "date", "custom.notes": "text"}  # fmt: skip


def _within(bounds, *edges):
    """Numbers within `bounds`, its ends (as numbers and as text) more often than not."""
    low, high = bounds
    return st.integers(low, high) | st.sampled_from([low, high, str(high), *edges])


VALID = {
    "points": _within(POINTS, 0, 15, 999.5),
    "cap": st.none() | _within(CAP, 30),
    "half_life_days": _within(HALF_LIFE_DAYS, 30, 1.5),
    "min_engagement": _within(MIN_ENGAGEMENT, 50),
    "min_fit": st.sampled_from([[100_000, 0, -99_999, None], [40, 25, 10, None], [-100_000]]),
    "number": _within(VALUE, 0, 200, 2000.5),
    "text": st.sampled_from(["VP", "student", "withdrawn", "Gold", "hot", "Software", "É%_\\"]),
    "bool": st.booleans(),
    "date": st.sampled_from(["2026-03-01", "1990-01-01", "9999-12-31", "01.03.2026"]),
    "name": st.sampled_from(["VP title", "Students", "É"]),
}
ANY = {
    **{part: drawn | values for part, drawn in VALID.items()},
    "points": numbers,
    "cap": st.none() | small | numbers,
    "half_life_days": st.integers(1, 3650) | numbers,
    "min_engagement": small | numbers,
    "min_fit": VALID["min_fit"] | st.lists(numbers | st.none(), max_size=5),
    "name": VALID["name"] | st.text(min_size=1, max_size=5),
}


@st.composite
def rule(draw, drawn: dict, *, scored=True):
    """A rule whose test (mostly, or for `VALID` always) fits its field's type."""
    field = draw(st.sampled_from(sorted(KINDS)))
    kind = KINDS[field]
    ops = st.sampled_from(OPS_BY_TYPE[kind])
    op = draw(ops if drawn is VALID else ops | st.sampled_from(OPS))
    made = {"name": draw(drawn["name"]), "field": field, "op": op}
    if op == "in":
        made["value"] = draw(st.lists(drawn[kind], min_size=1, max_size=3))
    elif op == "range":
        low, high = sorted(draw(st.lists(drawn[kind], min_size=2, max_size=2)), key=str)
        if drawn is VALID and kind == "number":
            low, high = sorted([float(low), float(high)])
        if drawn is VALID and kind == "date":
            low, high = "1990-01-01", "2030-01-01"
        made.update({"min": low, "max": high})
        if draw(st.booleans()):
            del made[draw(st.sampled_from(["min", "max"]))]
    elif op != "is_set":
        made["value"] = draw(drawn[kind])
    if scored:
        made["points"] = draw(drawn["points"])
        if draw(st.booleans()):
            applies_to = ["fit", "engagement"] if drawn is VALID else ["fit", "engagement", "mood"]
            made["applies_to"] = draw(st.sampled_from(applies_to))
    return made


def definitions(drawn: dict):
    """Whole definitions from parts drawn from `drawn` (VALID: each part valid)."""
    events = [str(e) for e in EVENT_TYPES]
    grades = drawn["min_fit"].map(
        lambda minimums: [
            {"grade": g, "min_fit": m} for g, m in zip(GRADES, minimums, strict=False)
        ]
    )
    rules = st.lists(rule(drawn), max_size=4)
    if drawn is VALID:  # as many rules as allowed, each with the most points
        rules |= rule(drawn).map(lambda r: [{**r, "points": 1000, "applies_to": "fit"}] * 200)
    return st.fixed_dictionaries(
        {
            "rules": rules,
            "engagement": st.lists(
                st.fixed_dictionaries(
                    {"event": st.sampled_from(events), "points": drawn["points"].filter(
                        lambda p: drawn is not VALID or float(p) > 0)},
                    optional={"cap": drawn["cap"]},
                ),
                max_size=4,
                unique_by=lambda e: e["event"],
            ),
            "grades": grades if drawn is VALID else grades | st.just([]),
            "mql": st.fixed_dictionaries(
                {"min_grade": st.sampled_from(GRADES), "min_engagement": drawn["min_engagement"],
                 "need_known": st.booleans()}
            ),
            "disqualify": st.lists(rule(drawn, scored=False), max_size=2),
        },
        optional={"half_life_days": drawn["half_life_days"]},
    )  # fmt: skip


@st.composite
def mutated(draw):
    """A working definition with a few of its parts replaced, removed or added."""
    definition = copy.deepcopy(draw(st.sampled_from([SIMPLE, DEFAULT_DEFINITION, WITH_CUSTOM])))
    for _ in range(draw(st.integers(1, 3))):
        node = definition
        while True:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
                node = node[key]
                continue
            action = draw(st.sampled_from(["replace", "remove", "add"]))
            if action == "replace":
                node[key] = draw(json_values)
            elif action == "remove":
                del node[key]
            elif isinstance(node, dict):
                node[draw(st.sampled_from(ALL_KEYS))] = draw(json_values)
            else:
                node.append(draw(json_values))
            break
    return definition


@pytest.fixture
def leads(db):
    define_custom_field(name="plan", label="Plan", type="choice", choices=["Gold", "Silver"])
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    define_custom_field(name="partner", label="Partner", type="bool", choices=[])
    define_custom_field(name="renewal", label="Renewal", type="date", choices=[])
    define_custom_field(name="notes", label="Notes", type="text", choices=[])
    made = [
        make_lead(title="VP Sales", company_size=500, budget=Decimal("10000"), need="CRM",
                  custom={"plan": "Gold", "seats": 40, "partner": True, "renewal": "2026-06-01",
                          "notes": "hot lead"}, now=NOW - timedelta(days=40)),
        make_lead(email="kid@gmail.com", title="Student", now=NOW - timedelta(days=3)),
        make_lead(title="Head of Ops", industry="Software", now=NOW - timedelta(days=400)),
    ]  # fmt: skip
    for lead, kind, days in [(made[0], "demo_request", 1), (made[0], "demo_request", 2),
                             (made[0], "pricing_page_view", 35), (made[1], "unsubscribe", 1),
                             (made[2], "page_view", 300)]:  # fmt: skip
        at = NOW - timedelta(days=days)
        record_event(lead_id=lead.pk, type=kind, occurred_at=at, now=at)
    services.rank_events()
    return made


def _runs(definition, *, lead, by):
    """The what-if, saving, a rescoring and the explanation under `definition`, in a
    savepoint rolled back (each example starts from the same leads)."""
    with transaction.atomic():
        selectors.what_if(definition, now=NOW)
        services.create_version(definition=definition, by=by, now=NOW)
        services.rescore_all(now=NOW)
        selectors.explain(Lead.objects.get(pk=lead.pk), now=NOW)
        transaction.set_rollback(True)


EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.django_db
@EXAMPLES
@given(definition=st.one_of(definitions(ANY), mutated(), json_values))
def test_a_random_definition_is_refused_with_its_places_or_runs(leads, marketer, definition):
    try:
        compile_definition(copy.deepcopy(definition), now=NOW)
    except DefinitionError as refused:
        assert refused.errors and all(isinstance(p, str) for p in refused.errors)
        event("refused")
        return
    event("compiled")
    _runs(definition, lead=leads[0], by=marketer)


@pytest.mark.django_db
@EXAMPLES
@given(definition=definitions(VALID))
def test_a_definition_within_every_bound_compiles_and_runs(leads, marketer, definition):
    """The bounds are where the scoring statement still works: 200 rules of 1,000 points,
    a one-day half-life, the widest numbers a rule compares with."""
    compile_definition(copy.deepcopy(definition), now=NOW)
    _runs(definition, lead=leads[0], by=marketer)
