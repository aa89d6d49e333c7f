"""In Chromium: a marketer logs in and sees the lead list."""

import os

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.helpers import make_lead


@pytest.mark.django_db(transaction=True)
def test_a_marketer_logs_in_and_sees_the_lead_list(live_server, page, marketer, screenshot_dir):
    make_lead(email="ada@acme.io", first_name="Ada", last_name="Lovelace", company="Acme")
    make_lead(email="bo@globex.de", first_name="Bo", last_name="Berg", company="Globex")

    page.goto(f"{live_server.url}/leads/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/leads/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/leads/")
    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_text("2 leads")).to_be_visible()
    page.screenshot(path=os.path.join(screenshot_dir, "lead-list.png"), full_page=True)

    # Typing in the search box refreshes the table in place (htmx).
    page.get_by_label("Search").fill("globex")
    expect(page.get_by_role("link", name="Ada Lovelace")).to_have_count(0)
    expect(page.get_by_role("link", name="Bo Berg")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/leads/?search=globex")

    page.get_by_role("link", name="Bo Berg").click()
    expect(page.get_by_role("heading", name="Bo Berg")).to_be_visible()
    expect(page.get_by_text("Created as")).to_be_visible()
    page.screenshot(path=os.path.join(screenshot_dir, "lead-detail.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_marketer_filters_bulk_disqualifies_opens_a_lead_and_logs_a_call(
    live_server, page, marketer, screenshot_dir
):
    for i in range(3):
        make_lead(
            email=f"student{i}@uni.edu", first_name="Stu", last_name=f"Dent{i}", title="Student"
        )
    make_lead(email="cto@acme.io", first_name="Ada", last_name="Lovelace", company="Acme")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_label("Search").fill("uni.edu")
    expect(page.get_by_text("3 leads match the filter")).to_be_visible()
    page.get_by_label("Bulk action").select_option("disqualify")
    page.get_by_label("Apply to").select_option("all")
    page.get_by_label("Reason", exact=True).fill("Students")
    page.get_by_role("button", name="Apply").click()
    # Every lead matching the filter: a confirmation page with the count comes first.
    expect(page.get_by_role("heading", name="Disqualify 3 leads?")).to_be_visible()
    expect(page.get_by_label("Reason (required)")).to_have_value("Students")
    page.screenshot(path=os.path.join(screenshot_dir, "bulk-confirm.png"), full_page=True)
    page.get_by_role("button", name="Disqualify 3 leads").click()
    expect(page.get_by_text("Disqualified 3 leads.")).to_be_visible()
    expect(page.locator("span.stage-disqualified")).to_have_count(3)
    page.screenshot(path=os.path.join(screenshot_dir, "bulk-disqualified.png"), full_page=True)

    page.get_by_role("link", name="Clear").click()
    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page.locator("#last-touch")).to_have_text("–")
    page.get_by_label("Kind").select_option("call")
    page.get_by_label("What happened").fill("Spoke with Ada, demo booked for Friday")
    page.get_by_role("button", name="Log", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Logged.")
    expect(page.locator(".timeline li").first).to_contain_text("Spoke with Ada, demo booked")
    expect(page.locator("#last-touch")).not_to_have_text("–")  # updated without a reload
    page.screenshot(path=os.path.join(screenshot_dir, "lead-call-logged.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_the_lead_page_offers_allowed_moves_and_shows_a_refused_touch_in_place(
    live_server, page, marketer, screenshot_dir
):
    lead = make_lead(email="ada@acme.io", first_name="Ada", last_name="Lovelace", company="Acme")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()

    options = page.locator("#move-stage option")
    expect(options).to_have_text(["Stage…", "Nurturing", "MQL", "Disqualified (reason required)"])
    expect(page.locator("#score-panel")).to_be_visible()  # scoring's registered panel
    page.screenshot(path=os.path.join(screenshot_dir, "lead-page-stage-form.png"), full_page=True)

    # A refused htmx action answers 400 with the card and its error, and htmx swaps it in.
    page.get_by_role("button", name="Log", exact=True).click()
    expect(page.locator("#activity [role=alert]")).to_have_text("Write what happened.")

    page.get_by_label("Move to").select_option("disqualified")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Say why the lead moves from New to Disqualified.")).to_be_visible()
    page.get_by_label("Move to").select_option("disqualified")
    page.get_by_label("Reason").fill("Student")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_text("Moved to Disqualified.")).to_be_visible()
    expect(page.locator("#move-stage option")).to_have_text(
        ["Stage…", "New (reason required)", "Nurturing (reason required)"]
    )
    expect(page.get_by_label("Reason")).to_have_attribute("placeholder", "Reason (required)")


@pytest.mark.django_db(transaction=True)
def test_a_rep_edits_bant_and_consent_on_the_lead_page_and_sees_them_on_the_timeline(
    live_server, page, rep_ann, screenshot_dir
):
    lead = make_lead(
        email="ada@acme.io", first_name="Ada", last_name="Lovelace", company="Acme", owner=rep_ann
    )
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_label("Username").fill("rep_ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#consent")).to_have_text("Unknown")

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Need", exact=True).fill("Replace spreadsheets")
    page.get_by_label("Budget", exact=True).fill("25,000")
    page.get_by_label("Authority (decides the purchase)").select_option("yes")
    page.get_by_label("Timeline", exact=True).fill("Next quarter")
    page.get_by_label("Marketing-email consent").select_option("granted")
    page.screenshot(path=os.path.join(screenshot_dir, "lead-bant-edit-form.png"), full_page=True)
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("Lead saved.")).to_be_visible()
    details = page.locator("dl.fields")
    expect(details).to_contain_text("Replace spreadsheets")
    expect(details).to_contain_text("25,000.00")
    expect(details).to_contain_text("Next quarter")
    expect(page.locator("#consent")).to_contain_text("Granted")
    expect(page.locator("#consent")).to_contain_text("lead page by rep_ann")
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("need changed")
    expect(timeline).to_contain_text("∅ → Replace spreadsheets (via edit)")
    expect(timeline).to_contain_text("budget changed")
    expect(timeline).to_contain_text("unknown → granted (via lead page by rep_ann)")
    page.screenshot(path=os.path.join(screenshot_dir, "lead-bant-edited.png"), full_page=True)
