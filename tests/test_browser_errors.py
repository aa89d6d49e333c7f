"""In Chromium: a refused action says why where the user is looking — an empty note
(400) in the touch card, a bulk action without an owner at the top of the list, a
what-if with points "lots" (400) in the what-if box — and a server error on an htmx
request says something went wrong and nothing changed."""

import os

import pytest
from playwright.sync_api import expect

from leads.models import Activity
from tests.browser_helpers import sign_in
from tests.helpers import make_lead
from tests.scoring_helpers import activate


def _in_view(page, locator) -> bool:
    box = locator.bounding_box()
    viewport = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]


@pytest.mark.django_db(transaction=True)
def test_refusals_and_failures_show_where_the_user_looks(
    live_server, page, marketer, rep_ann, screenshot_dir, monkeypatch
):
    activate()
    lead = make_lead(first_name="Ada", last_name="Lovelace", company="Acme")
    sign_in(page, live_server, marketer)

    # An empty note: the touch card says why, in place.
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_role("button", name="Log", exact=True).click()
    error = page.locator("#activity [role=alert]")
    expect(error).to_have_text("Write what happened.")
    assert _in_view(page, error)
    page.screenshot(path=os.path.join(screenshot_dir, "error-empty-note.png"))

    # A bulk assignment with no owner chosen: the list says so at its top.
    page.goto(f"{live_server.url}/leads/")
    page.get_by_label("Select Ada Lovelace").check()
    page.get_by_label("Bulk action").select_option("assign")
    page.get_by_role("button", name="Apply").click()
    message = page.locator(".message.error")
    expect(message).to_have_text("Choose an owner; nothing was changed.")
    assert _in_view(page, message)
    page.screenshot(path=os.path.join(screenshot_dir, "error-bulk-no-owner.png"))

    # A what-if with points "lots": the what-if box names the place.
    page.goto(f"{live_server.url}/scoring/edit/")
    page.get_by_label("Rule 1 points").fill("lots")
    page.get_by_role("button", name="Show what would change").click()
    what_if = page.locator("#what-if [role=alert]")
    expect(what_if).to_contain_text("rules.0.points")
    what_if.scroll_into_view_if_needed()
    assert _in_view(page, what_if)
    page.screenshot(path=os.path.join(screenshot_dir, "error-what-if-points.png"))

    # A server error on an htmx request: a page-level alert, and nothing was logged.
    def fail(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("leads.services.log_touch", fail)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_label("What happened").fill("Called, no answer")
    page.get_by_role("button", name="Log", exact=True).click()
    alert = page.locator("#page-alert")
    expect(alert).to_have_text("Something went wrong; nothing was changed. Please try again.")
    assert _in_view(page, alert)
    expect(page.get_by_label("What happened")).to_have_value("Called, no answer")  # kept
    page.screenshot(path=os.path.join(screenshot_dir, "error-server-500.png"))
    assert not Activity.objects.filter(kind="note").exists()
