"""Handoff: routing every MQL to one named rep (rules, fallback, smooth weighted round
robin over free capacity), the SLA (warnings, breaches flagged once, escalation), and
accept / reject / contact / outcome with the stage machine."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import connection

from handoff.models import Handoff, Notification, RepSettings, TeamPolicy
from handoff.services import actions, routing, sla
from leads.exceptions import InvalidTransition, LeadFlowError
from leads.models import Activity, Lead, Stage, Team
from leads.services import move_stage
from leads.services.batch import capture_batch
from tests.conftest import CURRENT_TIME
from tests.helpers import committed, make_lead

NOW = CURRENT_TIME  # Monday 2 November 2026, 09:30 UTC
pytestmark = pytest.mark.django_db


@pytest.fixture
def team(manager, rep_ann, rep_bob):
    """Inside Sales (the fallback): Ann and Bob, weekdays 09:00-17:00 UTC, SLA 1 h / 2 h."""
    team = Team.objects.get(name="Inside Sales")
    team.members.add(rep_bob)
    TeamPolicy.objects.create(team=team, time_zone="UTC", fallback=True)
    return team


def _rep(django_user_model, username):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username, first_name=username[4:].title())
    user.groups.add(Group.objects.get_or_create(name="sales")[0])
    return user


def _mql(**fields):
    lead = make_lead(**fields)
    Lead.objects.filter(pk=lead.pk).update(stage=Stage.MQL)  # as if scored over the line
    return lead


def _mqls(count: int) -> list[int]:
    """`count` new leads captured in one batch (set-based: a thousand one by one took a
    minute of the suite on a loaded machine), then put in MQL as `_mql` does."""
    items = [{"email": f"mql{i}@example.com", "first_name": "Lead", "last_name": f"No{i}"}
             for i in range(count)]  # fmt: skip
    ids = [r.lead_id for r in capture_batch(items=items, channel="test", now=NOW)]
    Lead.objects.filter(pk__in=ids).update(stage=Stage.MQL)
    return ids


def _handoff(lead) -> Handoff:
    return Handoff.objects.get(lead=lead, status__in=["pending", "accepted"])


def test_a_lead_entering_mql_is_routed_on_commit_to_one_rep_who_owns_it(team, marketer):
    lead = make_lead(first_name="Ada")
    with committed():
        move_stage(lead_id=lead.pk, to_stage=Stage.MQL, by=marketer, now=NOW)
    handoff = _handoff(lead)
    lead.refresh_from_db()
    assert handoff.rep is not None and lead.owner == handoff.rep and lead.in_handoff
    assert handoff.accept_by == NOW + timedelta(hours=1)
    assert handoff.decision["team"] == "Inside Sales"
    assert "of 10 open, weight 1" in handoff.decision["why"]
    assert Activity.objects.filter(lead=lead, kind=routing.ROUTED).count() == 1
    # Routing again (the tick's safety net) hands out nothing twice.
    assert routing.route(now=NOW).handoffs == []


def test_weights_are_followed_within_one_nobody_over_capacity_and_away_reps_skipped(
    team, rep_ann, rep_bob, django_user_model
):
    carl = _rep(django_user_model, "rep_carl")
    dora = _rep(django_user_model, "rep_dora")
    team.members.add(carl, dora)
    RepSettings.objects.create(user=rep_ann, weight=3, capacity=1000)
    RepSettings.objects.create(user=rep_bob, weight=1, capacity=1000)
    RepSettings.objects.create(user=carl, weight=2, capacity=100)
    RepSettings.objects.create(
        user=dora, weight=5, away_from=date(2026, 11, 1), away_until=date(2026, 11, 6)
    )
    ids = _mqls(1000)
    done = routing.route(now=NOW, lead_ids=ids)
    counts = Counter(Handoff.objects.values_list("rep__username", flat=True))
    assert len(done.handoffs) == 1000 and sum(counts.values()) == 1000
    assert counts["rep_dora"] == 0  # away
    assert counts["rep_carl"] == 100  # full at 100; Ann and Bob share the rest 3:1
    # Carl took a third (weight 2 of 6) until full; then Ann and Bob shared 3:1 — so of
    # the 900 they got, each has its share of 3:1 within one.
    assert abs(counts["rep_ann"] - 675) <= 1 and abs(counts["rep_bob"] - 225) <= 1
    assert Handoff.objects.values("lead").distinct().count() == 1000  # no lead twice
    skipped = Handoff.objects.order_by("pk").first().decision["others"]
    assert "Dora away until Fri 06 Nov" in skipped


def test_when_no_rep_can_take_it_the_handoff_waits_in_the_team_queue_with_its_clock(
    team, rep_ann, rep_bob
):
    RepSettings.objects.create(user=rep_ann, active=False)
    RepSettings.objects.create(user=rep_bob, capacity=0)
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    assert handoff.rep is None and handoff.accept_by == NOW + timedelta(hours=1)
    # Any member can claim it.
    actions.accept_handoff(handoff_id=handoff.pk, by=rep_bob, now=NOW)
    handoff.refresh_from_db()
    assert handoff.rep == rep_bob and Lead.objects.get(pk=lead.pk).owner == rep_bob


def test_an_assignment_rule_sends_a_lead_to_its_team_and_the_rest_to_the_fallback(
    team, django_user_model
):
    from handoff.models import AssignmentRule

    dach = Team.objects.create(name="DACH")
    erik = _rep(django_user_model, "rep_erik")
    dach.members.add(erik)
    TeamPolicy.objects.create(team=dach, time_zone="Europe/Berlin", country="DE")
    AssignmentRule.objects.create(
        name="German-speaking",
        team=dach,
        condition={"field": "country", "op": "in", "value": ["DE", "AT"]},
    )
    german, other = _mql(country="DE"), _mql(country="FR")
    routing.route(now=NOW)
    assert _handoff(german).rep == erik and _handoff(german).decision["rule"] == "German-speaking"
    assert _handoff(other).team == team


def test_accepting_moves_the_lead_to_sal_and_a_second_accept_is_a_409(team, rep_ann):
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    rep = handoff.rep
    accepted = actions.accept_handoff(handoff_id=handoff.pk, by=rep, now=NOW + timedelta(minutes=5))
    assert accepted.contact_by == NOW + timedelta(hours=2, minutes=5)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL
    with pytest.raises(InvalidTransition, match="accepted already"):
        actions.accept_handoff(handoff_id=handoff.pk, by=rep, now=NOW)


@pytest.mark.django_db(transaction=True)
def test_two_reps_accepting_the_same_queued_handoff_at_once_one_wins(manager, rep_ann, rep_bob):
    team = Team.objects.get(name="Inside Sales")
    team.members.add(rep_bob)
    TeamPolicy.objects.create(team=team, time_zone="UTC", fallback=True)
    RepSettings.objects.create(user=rep_ann, capacity=0)
    RepSettings.objects.create(user=rep_bob, capacity=0)
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    assert handoff.rep is None
    outcomes, barrier = [], threading.Barrier(2)

    def accept(rep):
        try:
            barrier.wait()
            actions.accept_handoff(handoff_id=handoff.pk, by=rep, now=NOW)
            outcomes.append(("ok", rep.username))
        except InvalidTransition as exc:
            outcomes.append(("409", str(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(r,)) for r in (rep_ann, rep_bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(kind for kind, _ in outcomes) == ["409", "ok"]
    winner = next(name for kind, name in outcomes if kind == "ok")
    assert Handoff.objects.get(pk=handoff.pk).rep.username == winner
    refusal = next(text for kind, text in outcomes if kind == "409")
    assert "accepted already" in refusal


def test_a_rep_cannot_act_on_another_reps_handoff(team, rep_ann, rep_bob):
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    other = rep_bob if handoff.rep == rep_ann else rep_ann
    with pytest.raises(Handoff.DoesNotExist):
        actions.accept_handoff(handoff_id=handoff.pk, by=other, now=NOW)


@pytest.mark.parametrize(
    ("reason", "stage"),
    [
        ("bad_fit", Stage.DISQUALIFIED),
        ("not_ready", Stage.NURTURING),
        ("cant_reach", Stage.NURTURING),
        ("duplicate", Stage.DISQUALIFIED),
    ],
)
def test_rejecting_needs_a_reason_code_and_moves_the_lead_by_it(team, reason, stage):
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    with pytest.raises(LeadFlowError):
        actions.reject_handoff(handoff_id=handoff.pk, reason="", by=handoff.rep, now=NOW)
    actions.reject_handoff(
        handoff_id=handoff.pk, reason=reason, note="Called twice", by=handoff.rep, now=NOW
    )
    lead.refresh_from_db()
    assert lead.stage == stage and not lead.in_handoff
    assert Handoff.objects.get(pk=handoff.pk).reject_reason == reason


def test_wrong_territory_reroutes_to_another_team(team, django_user_model):
    from handoff.models import AssignmentRule

    east = Team.objects.create(name="East")
    eve = _rep(django_user_model, "rep_eve")
    east.members.add(eve)
    TeamPolicy.objects.create(team=east, time_zone="UTC")
    AssignmentRule.objects.create(
        name="Everyone", team=team, condition={"field": "email_domain", "op": "is_set"}
    )
    AssignmentRule.objects.create(
        name="Then east", team=east, condition={"field": "email_domain", "op": "is_set"}
    )
    lead = _mql()
    routing.route(now=NOW)
    first = _handoff(lead)
    assert first.team == team
    actions.reject_handoff(handoff_id=first.pk, reason="wrong_territory", by=first.rep, now=NOW)
    assert _handoff(lead).team == east and _handoff(lead).rep == eve


def test_contact_then_opportunity_then_won_closes_the_handoff(team):
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    rep = handoff.rep
    with pytest.raises(InvalidTransition):
        actions.log_contact(handoff_id=handoff.pk, kind="call", by=rep, now=NOW)
    actions.accept_handoff(handoff_id=handoff.pk, by=rep, now=NOW)
    actions.log_contact(handoff_id=handoff.pk, kind="call", note="Good call", by=rep, now=NOW)
    for stage in ("sql", "opportunity"):
        actions.record_outcome(
            handoff_id=handoff.pk,
            stage=stage,
            by=rep,
            now=NOW,
            amount="12000" if stage == "opportunity" else None,
        )
    with pytest.raises(LeadFlowError, match="amount"):
        actions.record_outcome(handoff_id=handoff.pk, stage="won", amount="lots", by=rep, now=NOW)
    done = actions.record_outcome(
        handoff_id=handoff.pk, stage="won", amount="15000.5", by=rep, now=NOW
    )
    assert done.status == Handoff.Status.CLOSED and str(done.amount) == "15000.50"
    assert Lead.objects.get(pk=lead.pk).stage == Stage.WON
    with pytest.raises(InvalidTransition):
        actions.record_outcome(handoff_id=handoff.pk, stage="lost", reason="x", by=rep, now=NOW)


def test_warnings_then_a_breach_flagged_once_then_escalation_to_the_other_rep(
    team, rep_ann, rep_bob, manager
):
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    first = handoff.rep
    assert sla.scan(now=NOW + timedelta(minutes=31)).warned == 1  # 50 %
    assert sla.scan(now=NOW + timedelta(minutes=49)).warned == 1  # 80 %
    assert sla.scan(now=NOW + timedelta(minutes=50)).warned == 0
    for minute in (61, 62, 70):  # the deadline passes: flagged once, however many scans
        result = sla.scan(now=NOW + timedelta(minutes=minute))
        assert result.accept_breaches == (1 if minute == 61 else 0)
    handoff.refresh_from_db()
    assert handoff.breached and handoff.escalate_at == NOW + timedelta(hours=2)  # grace 1 h
    kinds = set(Notification.objects.filter(user=manager).values_list("kind", flat=True))
    assert any(kind.startswith("breach_accepted") for kind in kinds)
    assert sla.scan(now=NOW + timedelta(hours=2, minutes=1)).escalated == 1
    handoff.refresh_from_db()
    assert handoff.rep not in (None, first) and handoff.escalations == 1
    assert handoff.accept_by == NOW + timedelta(hours=3, minutes=1)
    assert Lead.objects.get(pk=lead.pk).owner == handoff.rep
    assert Activity.objects.filter(lead=lead, kind=sla.ESCALATED).count() == 1


def test_deadlines_are_business_hours_on_the_team_calendar(team):
    friday_evening = NOW.replace(day=6, hour=16, minute=30)  # Friday 6 Nov, 16:30 UTC
    lead = _mql()
    routing.route(now=friday_evening)
    assert _handoff(lead).accept_by == NOW.replace(day=9, hour=9, minute=30)  # Monday 09:30


def test_the_handoffs_api_shows_a_rep_their_own_and_answers_the_contract(
    team, api_as, rep_ann, rep_bob
):
    leads = [_mql() for _ in range(4)]
    routing.route(now=NOW)
    mine = api_as(rep_ann).get("/api/v1/handoffs/").json()
    assert mine and all(h["rep"] == "rep_ann" for h in mine["results"])
    first = mine["results"][0]
    assert set(first) >= {
        "id",
        "lead",
        "rep",
        "team",
        "status",
        "accept_by",
        "contact_by",
        "breached",
    }
    theirs = Handoff.objects.exclude(rep=rep_ann).first()
    assert api_as(rep_ann).get(f"/api/v1/handoffs/{theirs.pk}/").status_code == 404
    url = f"/api/v1/handoffs/{first['id']}/"
    assert api_as(rep_ann).post(url + "accept/").status_code == 200
    again = api_as(rep_ann).post(url + "accept/")
    assert again.status_code == 409 and again.json()["holder"] == "rep_ann"
    bad = api_as(rep_ann).post(url + "outcome/", {"stage": "won", "amount": "x"}, format="json")
    assert bad.status_code == 400
    rejected = api_as(rep_ann).post(url + "reject/", {"reason": "not_ready"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    filtered = api_as(rep_ann).get("/api/v1/handoffs/", {"status": "rejected"}).json()
    assert [h["id"] for h in filtered["results"]] == [first["id"]]
    assert api_as(rep_ann).get("/api/v1/handoffs/", {"status": "odd"}).status_code == 400
    assert len(leads) == 4


def test_the_lead_page_shows_the_handoff_its_countdown_and_why(team, client, marketer):
    from handoff.panels import countdown

    lead = _mql(first_name="Ada")
    routing.route(now=NOW)
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Handoff" in html and "Inside Sales" in html
    assert "Why: no rule matched: fallback team" in html and "of 10 open, weight 1" in html
    assert countdown(timedelta(hours=1, minutes=10)) == "1h 10m"
    assert countdown(timedelta(minutes=-25)) == "overdue by 25m"
    assert countdown(timedelta(days=1, hours=2)) == "1d 2h"


def test_wrong_territory_with_no_other_team_is_refused_and_changes_nothing(team):
    """The only team takes every lead: re-routing would hand it straight back."""
    lead = _mql()
    routing.route(now=NOW)
    handoff = _handoff(lead)
    with pytest.raises(LeadFlowError, match="No other team takes this lead"):
        actions.reject_handoff(
            handoff_id=handoff.pk, reason="wrong_territory", by=handoff.rep, now=NOW
        )
    assert Handoff.objects.get(pk=handoff.pk).status == "pending"


def test_a_duplicate_rejection_shows_the_lead_beside_its_match_on_the_duplicates_page(
    team, client, marketer
):
    original = make_lead(first_name="Ada", last_name="Lovelace", phone="+441234567890")
    lead = _mql(first_name="Ada", last_name="Lovelace", phone="+441234567890")
    routing.route(now=NOW)
    handoff = _handoff(lead)
    actions.reject_handoff(handoff_id=handoff.pk, reason="duplicate", note="Same as Ada",
                           by=handoff.rep, now=NOW)  # fmt: skip
    client.force_login(marketer)
    html = client.get("/leads/duplicates/").content.decode()
    assert "Reported by sales (1)" in html and "Same as Ada" in html and "same phone" in html
    assert f"/leads/{original.pk}/merge/{lead.pk}/" in html
    # Said to be different people: the report is settled and leaves the page.
    client.post("/leads/duplicates/dismiss/", {"lead": lead.pk, "other": original.pk})
    assert "Reported by sales" not in client.get("/leads/duplicates/").content.decode()


def test_a_duplicate_with_no_match_found_is_shown_and_can_be_dismissed(team, client, marketer):
    from leads.models import DuplicateReport

    lead = _mql(first_name="Solo", last_name="Person")
    routing.route(now=NOW)
    handoff = _handoff(lead)
    actions.reject_handoff(handoff_id=handoff.pk, reason="duplicate", by=handoff.rep, now=NOW)
    client.force_login(marketer)
    html = client.get("/leads/duplicates/").content.decode()
    assert "No likely match found" in html
    report = DuplicateReport.objects.get(lead=lead)
    client.post(f"/leads/duplicates/reports/{report.pk}/settle/")
    assert DuplicateReport.objects.get(pk=report.pk).resolved_at is not None
