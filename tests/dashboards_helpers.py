"""Dashboard test data made through the product's services: a team under an SLA, a
campaign with a cost, leads moving along the funnel (and back), handoffs accepted,
rejected, contacted and breached, nurture sends; then the rollup job."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from dashboards.services import rollup
from handoff.models import Handoff, TeamPolicy
from handoff.services import actions, sla
from leads.models import Campaign, Stage, Team
from leads.services import move_stage
from tests.conftest import CURRENT_TIME
from tests.helpers import committed, make_lead
from tests.nurturing_helpers import template, tick, track

NOW = CURRENT_TIME  # Monday 2 November 2026, 09:30 UTC
START = NOW - timedelta(days=7)  # Monday 26 October, 09:30


def team_with_policy(rep_bob=None) -> Team:
    """The manager fixture's "Inside Sales" (rep_ann, and rep_bob if given) as the fallback
    team, weekdays 09:00-17:00 UTC, accept within 1 h, contact within 2 h."""
    team = Team.objects.get(name="Inside Sales")
    if rep_bob is not None:
        team.members.add(rep_bob)
    TeamPolicy.objects.get_or_create(team=team, defaults={"time_zone": "UTC", "fallback": True})
    return team


def handoff_of(lead) -> Handoff:
    return Handoff.objects.filter(lead=lead).latest("created_at", "id")


def story(*, marketer, rep_ann, smtp_server=None) -> dict:
    """A small week of work: 8 trade-show leads of a campaign that cost 1,200, 4 webinar
    leads in a nurture track. Returns what the pages should show."""
    campaign = Campaign.objects.create(
        code="expo-26", name="Expo 2026", channel="trade_show", cost=Decimal("1200.00")
    )
    show = [
        make_lead(source="trade_show", campaign=campaign, first_name=f"Show{i}", now=START)
        for i in range(8)
    ]
    nurture = track(("email", {"template": template().pk}), ("wait", {"amount": 7, "unit": "days"}))
    webinar = [make_lead(source="webinar", consent_status="granted", first_name=f"Web{i}",
                         now=START) for i in range(4)]  # fmt: skip
    tick(now=START + timedelta(minutes=5))
    at = START + timedelta(hours=1)  # 10:30
    with committed():
        for lead in [*show[:7], webinar[0]]:
            move_stage(lead_id=lead.pk, to_stage=Stage.MQL, by=marketer, now=at)
    # Accepted in time, contacted, on to won: show[0], show[1] (won 5,000), show[2] (opportunity)
    for i, lead in enumerate(show[:3]):
        handoff = handoff_of(lead)
        actions.accept_handoff(handoff_id=handoff.pk, by=rep_ann, now=at + timedelta(minutes=20))
        actions.log_contact(handoff_id=handoff.pk, kind="call", by=rep_ann,
                            now=at + timedelta(minutes=50))  # fmt: skip
        actions.record_outcome(handoff_id=handoff.pk, stage="sql", by=rep_ann,
                               now=at + timedelta(hours=2))  # fmt: skip
        actions.record_outcome(handoff_id=handoff.pk, stage="opportunity", amount="5000",
                               by=rep_ann, now=at + timedelta(hours=3))  # fmt: skip
        if i < 2:
            actions.record_outcome(handoff_id=handoff.pk, stage="won", amount="5000",
                                   by=rep_ann, now=at + timedelta(days=1))  # fmt: skip
    # Rejected: show[3] not ready (back to nurturing: recycled), show[4] bad fit.
    actions.reject_handoff(handoff_id=handoff_of(show[3]).pk, reason="not_ready", by=rep_ann,
                           now=at + timedelta(minutes=30))  # fmt: skip
    actions.reject_handoff(handoff_id=handoff_of(show[4]).pk, reason="bad_fit", by=rep_ann,
                           now=at + timedelta(minutes=30))  # fmt: skip
    # show[5]: accepted, never contacted; show[6] and webinar[0]: never accepted (breached).
    actions.accept_handoff(handoff_id=handoff_of(show[5]).pk, by=rep_ann,
                           now=at + timedelta(minutes=40))  # fmt: skip
    with committed():
        sla.scan(now=at + timedelta(hours=4), email=False)
    # The recycled lead comes back and converts.
    with committed():
        move_stage(lead_id=show[3].pk, to_stage=Stage.MQL, by=marketer, now=at + timedelta(days=2))
    handoff = handoff_of(show[3])
    actions.accept_handoff(handoff_id=handoff.pk, by=rep_ann, now=at + timedelta(days=2, minutes=5))
    actions.record_outcome(handoff_id=handoff.pk, stage="sql", by=rep_ann,
                           now=at + timedelta(days=2, hours=1))  # fmt: skip
    rollup.run(now=NOW)
    return {"campaign": campaign, "show": show, "webinar": webinar, "track": nurture}
