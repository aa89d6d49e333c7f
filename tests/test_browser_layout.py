"""In Chromium: the list, a lead's page and the campaigns page fit windows of 1280 and
800 px; a wide table scrolls inside its card, never the page."""

import os
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.services import create_campaign
from tests.browser_helpers import sign_in
from tests.helpers import make_lead

WIDTHS = [1280, 800]


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_main_pages_fit_the_window(live_server, page, marketer, screenshot_dir, width):
    now = timezone.now()
    campaign = create_campaign(
        code="spring-webinar-emea-2026", name="Spring webinar for EMEA partners 2026",
        channel="webinar", cost=Decimal("12500.00"), now=now,
    )  # fmt: skip
    create_campaign(code="trade-show", name="Trade show", channel="trade_show", now=now)
    lead = make_lead(email="ada.lovelace@analytical-engines.example", first_name="Ada",
                     last_name="Lovelace", company="Analytical Engines Ltd",
                     campaign=campaign, now=now)  # fmt: skip
    for i in range(5):
        make_lead(company=f"Company with a rather long name {i}", campaign=campaign, now=now)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, marketer)

    for name, path in [("list", "/leads/"), ("lead", f"/leads/{lead.pk}/"),
                       ("campaigns", "/leads/campaigns/")]:  # fmt: skip
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        page.screenshot(
            path=os.path.join(screenshot_dir, f"layout-{name}-{width}.png"), full_page=True
        )
        assert _page_width(page) <= width, f"{path} is wider than {width} px"
        nav = page.get_by_role("navigation", name="Main")
        box = nav.get_by_role("link", name="Custom fields").bounding_box()
        assert box["x"] + box["width"] <= width  # every link of the navigation is reachable

    # The add form is on screen beside (or, narrow, below) the table, not cut off.
    button = page.get_by_role("button", name="Add campaign")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    card = page.locator("section.card", has=button)
    right = card.evaluate("e => e.getBoundingClientRect().right")
    for field in card.locator("input, select").all():
        assert field.evaluate("e => e.getBoundingClientRect().right") <= right
    table = page.locator(".tablewrap").first
    assert table.evaluate("e => e.getBoundingClientRect().right") <= width
