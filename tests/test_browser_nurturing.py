"""In Chromium: a marketer builds a track with a branch, previews its email and enrols a
campaign's leads from the lead list; after ticks (run here with an injected `now`,
sending to a real SMTP server) the lead's page shows the sends, and the unsubscribe
page's button stops the track. Screenshots at 1280 and 800 px wide."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leadflow import business_time
from leads.models import Campaign
from leads.services import log_touch
from nurturing.models import Enrolment, Send, Track
from nurturing.services import links, recipients, ticks
from nurturing.services.dispatch import calendar_of
from tests.browser_helpers import sign_in
from tests.helpers import make_lead
from tests.nurturing_helpers import template

SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"


def _tick(now):
    ticks.enrol(now)
    ticks.dispatch(now, inline=True)
    ticks.sends(now, inline=True)


def _step(page, position: int):
    return page.get_by_role("row", name=f"Step {position}", exact=True)


def _add_step(page, kind: str, **fields):
    """Fill the add-step form and wait for htmx to swap in the steps with one more."""
    rows = page.locator("#step-table tbody tr")
    before = rows.count()
    form = page.locator("#add-step")
    form.locator("[name=kind]").select_option(kind)
    for name, value in fields.items():
        box = form.locator(f"[name={name}]")
        if box.evaluate("e => e.tagName") == "SELECT":
            box.select_option(label=value)
        else:
            box.fill(value)
    form.get_by_role("button", name="Add step").click()
    expect(rows).to_have_count(before + 1)


@pytest.mark.django_db(transaction=True)
def test_a_marketer_builds_a_track_enrols_a_campaign_and_the_leads_get_their_emails(
    live_server, page, marketer, rep_ann, smtp_server, screenshot_dir, eager_celery, settings
):
    settings.SITE_URL = live_server.url  # the emails' links lead to this server
    marketer.email = "marketer@leadflow.test"
    marketer.save()
    template(name="Welcome")
    template(name="Case study", subject='A case study for {{ company|default:"you" }}')
    spring = Campaign.objects.create(code="spring", name="Spring webinar", channel="webinar")
    ada, bo, cy = (
        make_lead(first_name=name, company=f"{name} GmbH", campaign=spring, source="webinar",
                  consent_status="granted", now=timezone.now())
        for name in ("Ada", "Bo", "Cy")
    )  # fmt: skip
    make_lead(first_name="Other", consent_status="granted")
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, marketer)

    page.goto(f"{live_server.url}/leads/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Nurturing").click()
    expect(page.get_by_text("No tracks yet")).to_be_visible()
    page.get_by_label("Name").fill("Webinar nurture")
    page.get_by_role("button", name="Create track").click()
    expect(page.get_by_role("heading", name="Webinar nurture")).to_be_visible()

    # Email, a day's wait, the case study, an exit; then a branch moved up before them.
    _add_step(page, "email", template="Welcome")
    expect(page.locator("#step-table")).to_contain_text("“Welcome”")
    _add_step(page, "wait", amount="1")
    _add_step(page, "email", template="Case study")
    _add_step(page, "exit")
    expect(page.locator("#step-table tbody tr")).to_have_count(4)
    _add_step(page, "branch", test="opened the previous email", within_days="3")
    page.get_by_role("button", name="Move step 5 up").click()
    expect(_step(page, 4)).to_contain_text("Branch")
    page.get_by_role("button", name="Move step 4 up").click()
    branch = _step(page, 3)
    expect(branch).to_contain_text("Branch")
    branch.get_by_text("Edit").click()
    branch.locator("[name=then_step]").select_option(label="step 4 (send email)")
    branch.locator("[name=else_step]").select_option(label="step 5 (exit)")
    branch.get_by_role("button", name="Save step 3").click()
    expect(_step(page, 3)).to_contain_text("go to step 4, else step 5")
    track = Track.objects.get(name="Webinar nurture")
    assert list(track.steps.values_list("kind", flat=True)) == [
        "email", "wait", "branch", "email", "exit"
    ]  # fmt: skip
    page.get_by_role("button", name="Start enrolling").click()
    expect(page.get_by_text("The track enrols leads now.")).to_be_visible()

    # The email as Ada gets it, and a test to the marketer.
    _step(page, 1).get_by_role("link", name="Preview").click()
    page.get_by_label("As the lead gets it:").select_option(value=str(ada.pk))
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#preview-subject")).to_have_text("Welcome, Ada")
    expect(page.frame_locator("iframe.preview").get_by_text("Hi Ada,")).to_be_visible()
    shots = {"nurture-preview": page.url}
    page.get_by_role("button", name="Send a test to marketer@leadflow.test").click()
    expect(
        page.get_by_text("Sent “[Test] Welcome, Ada” to marketer@leadflow.test.")
    ).to_be_visible()
    assert [m["Subject"] for m in smtp_server.to("marketer@leadflow.test")] == [
        "[Test] Welcome, Ada"
    ]

    # The campaign's leads enter from the lead list, after a question with the count.
    page.goto(f"{live_server.url}/leads/?campaign=spring")
    page.get_by_label("Bulk action").select_option(label="Enrol in a track")
    page.get_by_label("Apply to").select_option(value="all")
    page.get_by_label("Track (enrol)").select_option(label="Webinar nurture")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Enrol 3 leads in the track “Webinar nurture”?"))
    page.get_by_role("button", name="Enrol 3 leads").click()
    expect(page.get_by_text("Enrolled 3 leads in “Webinar nurture”.")).to_be_visible()
    assert Enrolment.objects.filter(track=track).count() == 3

    # Cy's rep called: its email waits. Ticks at business hours, as `tick --at` does.
    log_touch(lead_id=cy.pk, kind="call", body="Intro", by=rep_ann, now=timezone.now())
    first = business_time.next_open(calendar_of(ada), timezone.now() + timedelta(minutes=1))
    _tick(first)
    welcome = {s.lead_id: s for s in Send.objects.filter(status="sent")}
    assert set(welcome) == {ada.pk, bo.pk}
    recipients.record_open(send_id=welcome[ada.pk].pk, now=first + timedelta(hours=1))
    # Bo unsubscribes from the email's link: the page asks, the button stops the track.
    page.goto(links.unsubscribe_url(welcome[bo.pk]))
    shots["nurture-unsubscribe"] = page.url
    page.screenshot(path=os.path.join(screenshot_dir, "nurture-unsubscribe-1280.png"))
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_text("unsubscribed", exact=False).first).to_be_visible()
    assert Enrolment.objects.get(lead=bo).exit_reason == "unsubscribed"
    second = business_time.next_open(calendar_of(ada), first + timedelta(days=1, minutes=1))
    _tick(second)
    assert [s.subject for s in Send.objects.filter(lead=ada, status="sent").order_by("id")] == [
        "Welcome, Ada", "A case study for Ada GmbH"
    ]  # fmt: skip
    assert Send.objects.filter(lead=bo).count() == 1

    page.goto(f"{live_server.url}/leads/{ada.pk}/")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Nurture email sent: A case study for Ada GmbH")
    expect(timeline).to_contain_text("Nurture email sent: Welcome, Ada")
    expect(timeline).to_contain_text("Entered the track “Webinar nurture”")
    expect(timeline).to_contain_text("Left the track “Webinar nurture”: Reached an exit step")
    expect(page.locator("#nurture-emails")).to_contain_text("A case study for Ada GmbH")
    shots["nurture-lead-panel"] = page.url
    page.goto(f"{live_server.url}/leads/{cy.pk}/")
    expect(page.locator("#nurture-panel")).to_contain_text("Next email:")
    shots["nurture-lead-waiting"] = page.url

    page.goto(f"{live_server.url}/nurturing/outbox/?view=deferred")
    expect(page.locator("#outbox")).to_contain_text("A rep touched the lead recently")
    shots["nurture-outbox"] = page.url
    page.goto(f"{live_server.url}/nurturing/tracks/{track.pk}/")
    expect(page.locator("#track-figures")).to_contain_text("3")
    shots["nurture-track"] = page.url
    page.goto(f"{live_server.url}/nurturing/")
    expect(page.locator("#tracks")).to_contain_text("Webinar nurture")
    shots["nurture-tracks"] = page.url

    for width in (1280, 800):
        page.set_viewport_size({"width": width, "height": 900})
        for name, url in shots.items():
            page.goto(url)
            page.screenshot(
                path=os.path.join(screenshot_dir, f"{name}-{width}.png"), full_page=True
            )
            assert page.evaluate(SIDEWAYS) is False, f"{name} scrolls sideways at {width} px"
