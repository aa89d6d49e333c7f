"""The stage machine: every allowed and refused move, for one lead and many, through the
services, the lead page, the API, bulk actions, imports and scoring."""

from collections import deque
from itertools import product

import pytest

from leads.exceptions import InvalidTransition, LeadFlowError
from leads.models import Lead, Stage, StageChange
from leads.services import capture_lead, move_stage
from leads.services.stages import MOVES, Mover, move_stages, needs_reason, set_in_handoff
from scoring import services as scoring
from tests.helpers import make_lead
from tests.scoring_helpers import activate

ALL_PAIRS = [(a, b) for a, b in product(Stage.values, Stage.values) if a != b]


def _path_to(stage: str) -> list[str]:
    """The shortest chain of allowed moves from new to `stage`."""
    seen, queue = {Stage.NEW: []}, deque([Stage.NEW])
    while queue:
        here = queue.popleft()
        for there in MOVES[here]:
            if there not in seen:
                seen[there] = [*seen[here], there]
                queue.append(there)
    return seen[stage]


def lead_in(stage: str, *, owner, now, **fields) -> Lead:
    """A lead walked to `stage` by allowed moves (as handoff's services would)."""
    lead = make_lead(owner=owner, now=now, **fields)
    for step in _path_to(stage):
        move_stage(lead_id=lead.pk, to_stage=step, by=owner, reason="set-up", now=now,
                   mover=Mover.HANDOFF)  # fmt: skip
    return Lead.objects.get(pk=lead.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(("from_stage", "to_stage"), ALL_PAIRS)
def test_a_person_may_make_exactly_the_moves_of_the_table(
    from_stage, to_stage, marketer, rep_ann, now
):
    lead = lead_in(from_stage, owner=rep_ann, now=now)
    before = StageChange.objects.filter(lead=lead).count()
    if to_stage in MOVES[from_stage]:
        move_stage(lead_id=lead.pk, to_stage=to_stage, by=marketer, reason="Because", now=now)
        lead.refresh_from_db()
        assert lead.stage == to_stage
        change = StageChange.objects.filter(lead=lead).last()
        assert (change.from_stage, change.to_stage, change.changed_by, change.reason) == (
            from_stage, to_stage, marketer, "Because",
        )  # fmt: skip
    else:
        with pytest.raises(InvalidTransition) as refused:
            move_stage(lead_id=lead.pk, to_stage=to_stage, by=marketer, reason="Because", now=now)
        assert refused.value.extra["allowed"] == list(MOVES[from_stage])
        assert Lead.objects.get(pk=lead.pk).stage == from_stage
        assert StageChange.objects.filter(lead=lead).count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("from_stage", "to_stage"), [p for p in ALL_PAIRS if p[1] in MOVES[p[0]]])
def test_a_move_that_needs_a_reason_is_refused_without_one(
    from_stage, to_stage, marketer, rep_ann, now
):
    lead = lead_in(from_stage, owner=rep_ann, now=now)
    if needs_reason(from_stage, to_stage, Mover.PERSON):
        with pytest.raises(LeadFlowError) as missing:
            move_stage(lead_id=lead.pk, to_stage=to_stage, by=marketer, reason="  ", now=now)
        assert missing.value.field == "stage_reason" and missing.value.status_code == 400
        assert Lead.objects.get(pk=lead.pk).stage == from_stage
    else:
        move_stage(lead_id=lead.pk, to_stage=to_stage, by=marketer, now=now)
        assert Lead.objects.get(pk=lead.pk).stage == to_stage


@pytest.mark.django_db
def test_only_a_person_takes_a_lead_out_of_disqualified(marketer, now):
    lead = lead_in(Stage.DISQUALIFIED, owner=None, now=now)
    with pytest.raises(InvalidTransition):
        move_stage(lead_id=lead.pk, to_stage=Stage.NURTURING, reason="rule", now=now)
    move_stage(
        lead_id=lead.pk, to_stage=Stage.NURTURING, by=marketer, reason="Not a student", now=now
    )
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NURTURING


@pytest.mark.django_db
def test_a_rep_cannot_move_sales_stages_by_hand_but_a_manager_can_with_a_reason(
    rep_ann, manager, now
):
    lead = lead_in(Stage.MQL, owner=rep_ann, now=now)
    with pytest.raises(InvalidTransition, match="come from the handoff"):
        move_stage(lead_id=lead.pk, to_stage=Stage.SAL, by=rep_ann, reason="Accepting", now=now)
    with pytest.raises(LeadFlowError, match="Say why"):
        move_stage(lead_id=lead.pk, to_stage=Stage.SAL, by=manager, now=now)
    move_stage(lead_id=lead.pk, to_stage=Stage.SAL, by=manager, reason="Called her", now=now)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL


@pytest.mark.django_db
def test_sales_stages_need_an_owner(marketer, now):
    lead = lead_in(Stage.MQL, owner=None, now=now)
    with pytest.raises(InvalidTransition, match="needs an owner"):
        move_stage(lead_id=lead.pk, to_stage=Stage.SAL, by=marketer, reason="Hand over", now=now)


@pytest.mark.django_db
def test_automatic_rules_make_only_their_moves(rep_ann, now):
    lead = lead_in(Stage.SAL, owner=rep_ann, now=now)
    with pytest.raises(InvalidTransition, match="Only a person"):
        move_stage(lead_id=lead.pk, to_stage=Stage.NURTURING, reason="Fell below", now=now)
    mql = lead_in(Stage.MQL, owner=rep_ann, now=now)
    set_in_handoff(lead_ids=[mql.pk], in_handoff=True)
    with pytest.raises(InvalidTransition, match="in a handoff"):
        move_stage(lead_id=mql.pk, to_stage=Stage.NURTURING, reason="Fell below", now=now)


@pytest.mark.django_db
def test_a_new_lead_starts_as_new_or_nurturing(now):
    assert (
        capture_lead(
            data={"email": "a@x.io", "stage": "nurturing"}, channel="api", now=now
        ).lead.stage
        == "nurturing"
    )
    with pytest.raises(InvalidTransition):
        capture_lead(data={"email": "b@x.io", "stage": "won"}, channel="api", now=now)
    assert not Lead.objects.filter(email="b@x.io").exists()


@pytest.mark.django_db
def test_many_leads_move_where_the_table_allows_and_the_rest_are_counted(marketer, rep_ann, now):
    new = [make_lead(now=now) for _ in range(3)]
    won = lead_in(Stage.WON, owner=rep_ann, now=now)
    already = lead_in(Stage.DISQUALIFIED, owner=None, now=now)
    ids = [lead.pk for lead in [*new, won, already]]
    moved = move_stages(
        leads=Lead.objects.filter(pk__in=ids), to_stage=Stage.DISQUALIFIED, by=marketer,
        reason="Competitors", now=now,
    )  # fmt: skip
    assert (moved.count, moved.refused, moved.from_stages) == (3, 2, {"new": 3})
    assert Lead.objects.get(pk=won.pk).stage == Stage.WON
    changes = StageChange.objects.filter(
        lead_id__in=[lead.pk for lead in new], to_stage="disqualified"
    )
    assert {(c.from_stage, c.changed_by_id, c.reason) for c in changes} == {
        ("new", marketer.pk, "Competitors")
    }


@pytest.mark.django_db
def test_a_bulk_move_without_a_reason_moves_nothing_that_needs_one(marketer, now):
    leads = [make_lead(now=now) for _ in range(2)]
    with pytest.raises(LeadFlowError, match="Say why the leads move to Disqualified"):
        move_stages(leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]),
                    to_stage=Stage.DISQUALIFIED, by=marketer, reason="", now=now)  # fmt: skip
    assert not Lead.objects.filter(stage="disqualified").exists()


@pytest.mark.django_db
def test_the_api_answers_409_naming_the_allowed_moves(api_as, marketer, now):
    lead = make_lead(now=now)
    client = api_as(marketer)
    url = f"/api/v1/leads/{lead.pk}/"
    assert client.patch(url, {"stage": "nurturing"}, format="json").status_code == 200
    assert client.patch(url, {"stage": "mql"}, format="json").status_code == 200
    refused = client.patch(url, {"stage": "won"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["nurturing", "disqualified"]  # sal needs an owner
    assert "Allowed moves from mql" in refused.json()["stage"][0]
    missing = client.patch(url, {"stage": "disqualified"}, format="json")
    assert missing.status_code == 400 and "stage_reason" in missing.json()
    done = client.patch(url, {"stage": "disqualified", "stage_reason": "Student"}, format="json")
    assert done.status_code == 200 and done.json()["stage"] == "disqualified"
    assert StageChange.objects.filter(lead=lead).last().reason == "Student"


@pytest.mark.django_db
def test_the_lead_page_shows_a_refused_move(client, marketer, now):
    lead = lead_in(Stage.NURTURING, owner=None, now=now)
    client.force_login(marketer)
    page = client.post(f"/leads/{lead.pk}/move/", {"stage": "won"}, follow=True).content.decode()
    assert "A lead cannot move from Nurturing to Won." in page
    assert Lead.objects.get(pk=lead.pk).stage == Stage.NURTURING


@pytest.mark.django_db
def test_a_bulk_disqualify_leaves_won_leads_alone(client, marketer, rep_ann, now):
    lead, won = make_lead(now=now), lead_in(Stage.WON, owner=rep_ann, now=now)
    client.force_login(marketer)
    client.post(
        "/leads/bulk/", {"action": "disqualify", "reason": "Junk", "ids": [lead.pk, won.pk]}
    )
    assert Lead.objects.get(pk=lead.pk).stage == Stage.DISQUALIFIED
    assert Lead.objects.get(pk=won.pk).stage == Stage.WON


@pytest.mark.django_db
def test_a_capture_or_an_import_never_moves_an_existing_lead(rep_ann, now):
    lead = lead_in(Stage.OPPORTUNITY, owner=rep_ann, now=now)
    capture_lead(data={"email": lead.email, "stage": "new", "title": "CEO"}, channel="api", now=now)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.OPPORTUNITY


@pytest.mark.django_db
def test_scoring_leaves_a_lead_in_a_handoff_alone(now, django_capture_on_commit_callbacks):
    activate()
    with django_capture_on_commit_callbacks(execute=True):
        lead = make_lead(now=now, title="VP Sales", company_size=500, need="Routing", budget=1000)
        for n in range(3):
            scoring_event(lead, "demo_request" if n == 0 else "pricing_page_view", now, n)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    set_in_handoff(lead_ids=[lead.pk], in_handoff=True)
    # A year later the engagement has decayed below the MQL rule, and a disqualification
    # rule matches: scoring moves neither.
    later = now.replace(year=now.year + 1)
    from leads.services import update_lead

    update_lead(lead_id=lead.pk, changes={"title": "VP student relations"}, now=later)
    scoring.score_lead(lead_id=lead.pk, now=later)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
    set_in_handoff(lead_ids=[lead.pk], in_handoff=False)
    scoring.score_lead(lead_id=lead.pk, now=later)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.DISQUALIFIED
    change = StageChange.objects.filter(lead=lead).last()
    assert change.from_stage == "mql" and change.changed_by is None and "Students" in change.reason


def scoring_event(lead, kind, now, n):
    from leads.services import record_event

    record_event(lead_id=lead.pk, type=kind, occurred_at=now, key=f"k{n}", now=now)


def test_the_stage_machine_is_the_only_writer_of_stage_history():
    """Moves and first stages alike: no other module inserts stage changes."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    writes = re.compile(r"INSERT INTO leads_stagechange|StageChange\.objects\.(create|bulk_create)")
    writers = {
        str(path.relative_to(root))
        for app in ("leadflow", "leads", "scoring", "nurturing", "handoff", "bench")
        for path in (root / app).rglob("*.py")
        if "migrations" not in path.parts and writes.search(path.read_text())
    }
    # The dashboards benchmark fabricates two years of history for a million leads, each
    # move dated on its own day (no service writes history in the past in bulk): test
    # data, not a way into the product.
    assert writers == {"leads/services/stages.py", "bench/dashboards.py"}
