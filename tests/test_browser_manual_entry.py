"""In Chromium: a rep enters a lead by hand, meets the duplicate warning while typing
(her own lead named, another rep's only "already known"), and saves; a marketer erases
a person after the confirmation."""

from __future__ import annotations

import os

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from leads.models import Lead
from tests.browser_helpers import sign_in
from tests.helpers import make_lead


@pytest.mark.django_db(transaction=True)
def test_a_rep_enters_a_lead_meets_the_duplicate_warning_and_saves(
    live_server, page, rep_ann, rep_bob, marketer, screenshot_dir
):
    cache.clear()
    mine = make_lead(email="ann.smith@acme.io", first_name="Ann", last_name="Smith",
                     company="Acme", owner=rep_ann)  # fmt: skip
    make_lead(email="carl@globex.io", first_name="Carl", last_name="Secret", owner=rep_bob)
    sign_in(page, live_server, rep_ann)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/leads/")
    page.get_by_role("link", name="New lead").first.click()
    expect(page.get_by_role("heading", name="New lead")).to_be_visible()

    page.get_by_label("First name").fill("Ann")
    page.get_by_label("Email", exact=True).press_sequentially("ann.smith@acme.io", delay=5)
    warning = page.locator("#known-person")
    expect(warning).to_contain_text("Ann Smith at Acme already has this email")
    page.screenshot(path=os.path.join(screenshot_dir, "new-lead-warning-1280.png"), full_page=True)
    expect(warning.get_by_role("link", name="Open this lead")).to_have_attribute(
        "href", f"/leads/{mine.pk}/"
    )
    page.get_by_label("Email", exact=True).fill("")
    page.get_by_label("Email", exact=True).press_sequentially("carl@globex.io", delay=5)
    expect(warning).to_contain_text("This person is already known to LeadFlow")
    expect(warning).not_to_contain_text("Carl")

    page.get_by_label("Email", exact=True).fill("")
    page.get_by_label("Email", exact=True).press_sequentially("dora@initech.io", delay=5)
    expect(warning).to_be_empty()
    page.get_by_label("Last name").fill("Dorsey")
    page.get_by_label("Company", exact=True).fill("Initech")
    page.get_by_label("Need").fill("A CRM for 40 reps")
    page.get_by_label("Marketing-email consent").select_option("granted")
    page.get_by_label("How consent was given").fill("asked on the phone")
    page.set_viewport_size({"width": 800, "height": 900})
    page.screenshot(path=os.path.join(screenshot_dir, "new-lead-800.png"), full_page=True)
    page.get_by_role("button", name="Save lead").click()
    expect(page.get_by_role("heading", name="Ann Dorsey")).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("via entry by hand")
    lead = Lead.objects.get(email="dora@initech.io")
    assert lead.owner == rep_ann and lead.consent_status == "granted"

    # The marketer erases a person: the page asks for a reason and the email typed.
    page.context.clear_cookies()
    sign_in(page, live_server, marketer)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.screenshot(path=os.path.join(screenshot_dir, "lead-their-data-1280.png"), full_page=True)
    page.get_by_role("link", name="Erase this person…").click()
    page.screenshot(path=os.path.join(screenshot_dir, "erase-1280.png"), full_page=True)
    page.set_viewport_size({"width": 800, "height": 900})
    page.screenshot(path=os.path.join(screenshot_dir, "erase-800.png"), full_page=True)
    page.get_by_label("Why").fill("Their request on the phone")
    page.get_by_label("to confirm").fill("wrong")
    page.get_by_role("button", name="Erase this person").click()
    expect(page.locator(".fielderror")).to_contain_text("dora@initech.io")
    page.get_by_label("to confirm").fill("dora@initech.io")
    page.get_by_role("button", name="Erase this person").click()
    expect(page.get_by_role("status")).to_contain_text("The person was erased")
    assert Lead.objects.get(pk=lead.pk).erased_at is not None
