"""The stage rules have one reading: over leads in every stage (one in a handoff, one a
person took out of disqualified) the what-if of the active model predicts exactly the
moves a rescoring then makes, and the explanation says a lead meets the MQL rule
exactly when the rules make (or keep) it MQL."""

import copy
from datetime import timedelta
from decimal import Decimal

import pytest

from leads.models import Lead, StageChange
from leads.services import move_stage, record_event
from leads.services.stages import set_in_handoff
from scoring import selectors, services
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead
from tests.scoring_helpers import SIMPLE, activate

T0 = CURRENT_TIME
NOW = T0 + timedelta(hours=1)

# Under SIMPLE: fit 45 (grade A), need known, 60 engagement points: meets the MQL rule.
QUALIFIED = {"title": "VP Sales", "company_size": 500, "budget": Decimal(1), "need": "Routing"}
UNQUALIFIED = {"title": "CTO"}  # fit 0 (grade D), no events
STUDENT = {**QUALIFIED, "title": "VP Student"}  # meets the MQL rule, and the Students rule

# name: (profile, the stages a person moves it through, in a handoff)
LEADS = {
    "new, meets": (QUALIFIED, [], False),
    "new, below": (UNQUALIFIED, [], False),
    "nurturing, meets": (QUALIFIED, ["nurturing"], False),
    "nurturing, below": (UNQUALIFIED, ["nurturing"], False),
    "mql, meets": (QUALIFIED, ["mql"], False),
    "mql, below": (UNQUALIFIED, ["mql"], False),
    "new student": (STUDENT, [], False),
    "mql student": (STUDENT, ["mql"], False),
    "student a person took out of disqualified": (STUDENT, ["disqualified", "nurturing"], False),
    "disqualified by a person, meets": (QUALIFIED, ["disqualified"], False),
    "in a handoff, new, meets": (QUALIFIED, [], True),
    "in a handoff, mql, below": (UNQUALIFIED, ["mql"], True),
    "in a handoff, student": (STUDENT, [], True),
    "sal, meets": (QUALIFIED, ["mql", "sal"], False),
    "sal student": (STUDENT, ["mql", "sal"], False),
    "sql, below": (UNQUALIFIED, ["mql", "sal", "sql"], False),
    "opportunity, meets": (QUALIFIED, ["mql", "sal", "sql", "opportunity"], False),
    "won, below": (UNQUALIFIED, ["mql", "sal", "sql", "opportunity", "won"], False),
    "lost, meets": (QUALIFIED, ["mql", "sal", "lost"], False),
}
LOOSER = copy.deepcopy(SIMPLE)  # no disqualification rules, and every lead meets the MQL rule
LOOSER.update(disqualify=[])
LOOSER["mql"] = {"min_grade": "D", "min_engagement": 0, "need_known": False}
# What the rules do to each lead (the rest stay where they are).
MOVES = {
    "simple": {
        "new, meets": "mql",
        "nurturing, meets": "mql",
        "mql, below": "nurturing",
        "new student": "disqualified",
        "mql student": "disqualified",
        "student a person took out of disqualified": "mql",
    },
    "looser": {
        "new, meets": "mql",
        "new, below": "mql",
        "nurturing, meets": "mql",
        "nurturing, below": "mql",
        "new student": "mql",
        "student a person took out of disqualified": "mql",
    },
}


def _leads_in_every_stage(marketer, owner) -> dict[str, int]:
    ids = {}
    for name, (profile, path, in_handoff) in LEADS.items():
        lead = make_lead(owner=owner, now=T0 - timedelta(days=2), **profile)
        if profile is not UNQUALIFIED:
            for minute, kind in enumerate(["demo_request", "pricing_page_view"] * 2):
                at = T0 + timedelta(minutes=minute)
                record_event(lead_id=lead.pk, type=kind, occurred_at=at, now=at)
        for stage in path:
            move_stage(lead_id=lead.pk, to_stage=stage, by=marketer, reason="By hand", now=T0)
        if in_handoff:
            set_in_handoff(lead_ids=[lead.pk], in_handoff=True)
        ids[name] = lead.pk
    services.rank_events()  # the events are ranked; no lead is scored yet
    return ids


def _predicted_moves(definition) -> dict[int, str]:
    outcome = selectors.what_if(definition, now=NOW)
    to_stage = {"newly_mql": "mql", "leave_mql": "nurturing", "disqualified": "disqualified"}
    moves = {}
    for change, result in outcome.items():
        assert result["count"] == len(result["examples"])  # every lead named
        moves.update({example["id"]: to_stage[change] for example in result["examples"]})
    return moves


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "definition"), [("simple", SIMPLE), ("looser", LOOSER)])
def test_the_what_if_the_moves_and_the_explanation_read_the_stage_rules_alike(
    name, definition, marketer, rep_ann, monkeypatch
):
    monkeypatch.setattr(selectors, "EXAMPLES", len(LEADS))  # the what-if names every lead
    activate(definition)
    ids = _leads_in_every_stage(marketer, rep_ann)
    before = dict(Lead.objects.values_list("pk", "stage"))
    predicted = _predicted_moves(definition)
    meets = {
        pk: selectors.explain(Lead.objects.get(pk=pk), now=NOW)["mql"]["meets"]
        for pk in ids.values()
    }

    services.rescore_all(now=NOW)
    made = dict(
        StageChange.objects.filter(changed_at=NOW, changed_by=None).values_list(
            "lead_id", "to_stage"
        )
    )
    assert made == predicted
    assert made == {ids[lead]: stage for lead, stage in MOVES[name].items()}
    after = dict(Lead.objects.values_list("pk", "stage"))
    handoff = set(Lead.objects.filter(in_handoff=True).values_list("pk", flat=True))
    assert len(handoff) == 3 and not handoff & set(made)
    for lead, pk in ids.items():
        explanation = selectors.explain(Lead.objects.get(pk=pk), now=NOW)
        assert explanation["mql"]["meets"] is meets[pk], lead  # the same before and after
        assert after[pk] == made.get(pk, before[pk]), lead  # no other move happened
        if pk not in handoff and after[pk] in ("new", "nurturing", "mql"):
            # A stage the MQL rule decides: MQL exactly when it meets the rule.
            assert (after[pk] == "mql") is meets[pk], lead
    assert (
        meets[ids["in a handoff, new, meets"]] and after[ids["in a handoff, new, meets"]] == "new"
    )

    # After the moves the rules call for none: a second reading changes nothing.
    assert _predicted_moves(definition) == {}
    assert services.rescore_all(now=NOW) == services.ScoreCounts(scored=len(ids))
