"""In Chromium: a rep works their inbox — accepts one lead, rejects another as "not ready"
(it goes back to nurturing), logs a call and marks the opportunity won; a manager sees
a breach on the team board and reassigns it. Screenshots at 1280 and 800 px wide."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from handoff.models import Handoff, RepSettings, TeamPolicy
from handoff.services import routing, sla
from leads.models import Lead, Stage, Team
from tests.browser_helpers import sign_in
from tests.helpers import make_lead

SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"


def _row(page, name: str):
    return page.get_by_role("row").filter(has_text=name)


@pytest.mark.django_db(transaction=True)
def test_a_rep_works_the_inbox_and_a_manager_reassigns_a_breach(
    live_server, page, manager, rep_ann, rep_bob, screenshot_dir
):
    team = Team.objects.get(name="Inside Sales")
    team.members.add(rep_bob)
    # Open around the clock, so the wall clock the pages read is always business time.
    TeamPolicy.objects.create(team=team, time_zone="UTC", fallback=True,
                              hours=[[["00:00", "00:00"]]] * 7)  # fmt: skip
    RepSettings.objects.create(user=rep_bob, capacity=0)  # everything goes to Ann first
    names = ("Ada", "Bea", "Cy")
    leads = [make_lead(first_name=n, last_name="Lovelace", company=f"{n} Ltd") for n in names]
    Lead.objects.filter(pk__in=[x.pk for x in leads]).update(stage=Stage.MQL)
    routing.route(now=timezone.now())
    assert set(Handoff.objects.values_list("rep__username", flat=True)) == {"rep_ann"}

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, rep_ann)
    page.goto(f"{live_server.url}/handoffs/")
    expect(page.get_by_role("heading", name="Waiting for you (3)")).to_be_visible()
    expect(_row(page, "Ada Lovelace")).to_contain_text("Accept within")
    # Before the call: the row opens the lead's score, timeline and nurture emails.
    _row(page, "Ada Lovelace").get_by_text("Score, timeline, emails").click()
    expect(_row(page, "Ada Lovelace").get_by_text("Latest activity")).to_be_visible()
    expect(_row(page, "Ada Lovelace")).to_contain_text("Handed off")
    page.screenshot(path=os.path.join(screenshot_dir, "handoff-inbox-1280.png"), full_page=True)

    _row(page, "Ada Lovelace").get_by_role("button", name="Accept").click()
    expect(page.get_by_text("Accepted: the lead is yours (SAL).")).to_be_visible()
    bea = _row(page, "Bea Lovelace")
    bea.get_by_label("Reason").select_option("not_ready")
    bea.get_by_label("Note").fill("Budget next year")
    bea.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("Rejected; marketing sees the reason.")).to_be_visible()
    assert Lead.objects.get(pk=leads[1].pk).stage == Stage.NURTURING

    ada = _row(page, "Ada Lovelace")
    expect(ada).to_contain_text("Log the first contact")
    ada.get_by_label("Contact kind").select_option("call")
    ada.get_by_label("Contact note").fill("Intro call, keen")
    ada.get_by_role("button", name="Log contact").click()
    expect(page.get_by_text("Contact logged.")).to_be_visible()
    for stage, amount in (("sql", ""), ("opportunity", "24000"), ("won", "25000")):
        row = _row(page, "Ada Lovelace")
        row.get_by_label("Outcome").select_option(stage)
        row.get_by_label("Amount").fill(amount)
        row.get_by_role("button", name="Record").click()
        expect(page.get_by_text("Outcome recorded.")).to_be_visible()
    assert Lead.objects.get(pk=leads[0].pk).stage == Stage.WON
    assert Handoff.objects.get(lead=leads[0]).status == Handoff.Status.CLOSED
    page.screenshot(path=os.path.join(screenshot_dir, "handoff-inbox-after-1280.png"),
                    full_page=True)  # fmt: skip

    # Cy's accept deadline passes: the scan flags it; the manager reassigns it to Bob.
    RepSettings.objects.filter(user=rep_bob).update(capacity=10)
    sla.scan(now=timezone.now() + timedelta(hours=1, minutes=1), email=False)
    sign_in(page, live_server, manager)
    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/handoffs/teams/{team.pk}/")
        expect(page.get_by_role("heading", name="Breached and overdue")).to_be_visible()
        assert not page.evaluate(SIDEWAYS), f"the team board scrolls sideways at {width} px"
        page.screenshot(path=os.path.join(screenshot_dir, f"handoff-team-{width}.png"),
                        full_page=True)  # fmt: skip
    breached = page.locator("section", has=page.get_by_role("heading", name="Breached and overdue"))
    cy = breached.get_by_role("row").filter(has_text="Cy Lovelace")
    expect(cy).to_contain_text("SLA breached")
    cy.get_by_label("Reassign to").select_option("rep_bob")
    cy.get_by_role("button", name="Reassign").click()
    expect(page.get_by_text("Reassigned to Bob.")).to_be_visible()
    assert Handoff.objects.get(lead=leads[2]).rep == rep_bob
