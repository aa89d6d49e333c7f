"""Handoff's pages: the rep's inbox and the manager's team board."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from handoff.models import Handoff, RepSettings, TeamPolicy
from handoff.services import routing
from leads.models import Lead, Stage, Team
from tests.helpers import make_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed(manager, rep_ann):
    """Two MQLs handed to Ann now (the wall clock: pages compute countdowns from it)."""
    team = Team.objects.get(name="Inside Sales")
    TeamPolicy.objects.create(
        team=team, time_zone="UTC", fallback=True, hours=[[["00:00", "00:00"]]] * 7
    )  # always open
    leads = [make_lead(first_name=name, last_name="Lovelace") for name in ("Ada", "Bea")]
    Lead.objects.filter(pk__in=[x.pk for x in leads]).update(stage=Stage.MQL)
    routing.route(now=timezone.now())
    return leads


def test_the_inbox_lists_pending_handoffs_with_their_countdown_and_accepts_one(
    client, rep_ann, routed
):
    client.force_login(rep_ann)
    html = client.get("/handoffs/").content.decode()
    assert "Waiting for you (2)" in html and "Ada Lovelace" in html
    assert "Accept within " in html  # an hour from the routing, in business time
    handoff = Handoff.objects.get(lead=routed[0])
    answer = client.post(f"/handoffs/{handoff.pk}/accept/", {"next": "/handoffs/"}, follow=True)
    assert "Accepted: the lead is yours" in answer.content.decode()
    assert Lead.objects.get(pk=routed[0].pk).stage == Stage.SAL
    html = client.get("/handoffs/").content.decode()
    assert "My accepted leads (1)" in html and "Log the first contact" in html


def test_rejecting_without_a_reason_says_so_and_changes_nothing(client, rep_ann, routed):
    client.force_login(rep_ann)
    handoff = Handoff.objects.get(lead=routed[0])
    answer = client.post(f"/handoffs/{handoff.pk}/reject/", {"reason": ""}, follow=True)
    assert "Choose a reason" in answer.content.decode()
    assert Handoff.objects.get(pk=handoff.pk).status == "pending"
    client.post(f"/handoffs/{handoff.pk}/reject/", {"reason": "not_ready"})
    assert Lead.objects.get(pk=routed[0].pk).stage == Stage.NURTURING


def test_another_reps_handoff_is_a_404_and_the_team_board_is_the_managers(
    client, rep_bob, rep_ann, manager, routed
):
    handoff = Handoff.objects.get(lead=routed[0])
    client.force_login(rep_bob)
    assert client.post(f"/handoffs/{handoff.pk}/accept/").status_code == 404
    team = Team.objects.get(name="Inside Sales")
    assert client.get(f"/handoffs/teams/{team.pk}/").status_code == 403
    client.force_login(manager)
    html = client.get(f"/handoffs/teams/{team.pk}/").content.decode()
    assert "Inside Sales" in html and "2 open" in html and "No breach" in html


def test_the_manager_edits_capacity_weights_away_dates_and_the_sla(
    client, manager, rep_ann, routed
):
    team = Team.objects.get(name="Inside Sales")
    client.force_login(manager)
    prefix = f"rep-{rep_ann.pk}-"
    bad = client.post(
        f"/handoffs/teams/{team.pk}/",
        {
            "time_zone": "Mars/Base",
            "accept_hours": "1",
            "contact_hours": "2",
            "grace_hours": "1",
            prefix + "capacity": "5",
            prefix + "weight": "2",
        },
        follow=True,
    )
    assert "Mars/Base" in bad.content.decode()
    today = timezone.now().date()
    client.post(
        f"/handoffs/teams/{team.pk}/",
        {
            "time_zone": "Europe/Berlin",
            "country": "de",
            "accept_hours": "1.5",
            "contact_hours": "2",
            "grace_hours": "1",
            prefix + "capacity": "5",
            prefix + "weight": "2",
            prefix + "active": "on",
            prefix + "away_from": today.isoformat(),
            prefix + "away_until": (today + timedelta(days=2)).isoformat(),
        },
    )
    policy = TeamPolicy.objects.get(team=team)
    assert (policy.time_zone, policy.country, str(policy.accept_hours)) == (
        "Europe/Berlin",
        "DE",
        "1.50",
    )
    settings = RepSettings.objects.get(user=rep_ann)
    assert (settings.capacity, settings.weight, settings.away_until) == (
        5,
        2,
        today + timedelta(days=2),
    )


def test_breach_notices_show_in_the_inbox_with_an_unread_count(client, rep_ann, routed):
    from handoff.services import sla

    sla.scan(now=timezone.now() + timedelta(hours=2), email=False)
    client.force_login(rep_ann)
    html = client.get("/handoffs/").content.decode()
    assert "unread)" in html and "SLA breach: Ada Lovelace" in html
    client.post("/handoffs/notifications/read/")
    assert "unread)" not in client.get("/handoffs/").content.decode()


def test_a_refused_value_on_the_board_saves_nothing(client, manager, rep_ann, routed):
    """The policy is checked with every rep's row before anything is saved."""
    from handoff.services import teams
    from leads.exceptions import LeadFlowError

    team = Team.objects.get(name="Inside Sales")
    before = TeamPolicy.objects.get(team=team).accept_hours
    client.force_login(manager)
    prefix = f"rep-{rep_ann.pk}-"
    answer = client.post(
        f"/handoffs/teams/{team.pk}/",
        {"accept_hours": "3", "contact_hours": "2", "grace_hours": "1",
         prefix + "capacity": "many", prefix + "weight": "2"},
        follow=True,
    )  # fmt: skip
    assert "whole number" in answer.content.decode()
    assert TeamPolicy.objects.get(team=team).accept_hours == before  # not half-saved
    assert not RepSettings.objects.filter(user=rep_ann).exists()
    for policy, message in [
        ({"accept_hours": "NaN"}, "0.25 to 720"),
        ({"accept_hours": "soon"}, "as numbers"),
        ({"grace_hours": "0"}, "0.25 to 720"),
    ]:
        with pytest.raises(LeadFlowError, match=message):
            teams.save_team_board(team_id=team.pk, by=manager, policy=policy, reps=[])
    with pytest.raises(LeadFlowError, match="away until is before"):
        teams.save_team_board(team_id=team.pk, by=manager, policy={}, reps=[teams.RepChange(
            user_id=rep_ann.pk, capacity="3", weight="1", active=True,
            away_from="2026-12-10", away_until="2026-12-01")])  # fmt: skip
    with pytest.raises(teams.NotYourTeam):
        teams.save_team_board(team_id=team.pk, by=rep_ann, policy={}, reps=[])


def test_each_inbox_row_opens_the_leads_score_timeline_and_nurture_emails(
    client, rep_ann, rep_bob, routed
):
    handoff = Handoff.objects.get(lead=routed[0])
    client.force_login(rep_ann)
    html = client.get("/handoffs/").content.decode()
    assert f'hx-get="/handoffs/{handoff.pk}/brief/"' in html
    brief = client.get(f"/handoffs/{handoff.pk}/brief/").content.decode()
    assert "Latest activity" in brief and "Handed off" in brief and "Captured" in brief
    assert "No nurture email was sent to this lead." in brief
    assert "No scoring model is active." in brief  # the fixture activates no model
    client.force_login(rep_bob)  # not his handoff
    assert client.get(f"/handoffs/{handoff.pk}/brief/").status_code == 404
