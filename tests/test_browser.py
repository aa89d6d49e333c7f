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
