"""In Chromium: a manager opens each dashboard page with filters, switches the funnel
between cohort and period counting, and downloads a table as CSV. Screenshots in colour
and in grey (CSS grayscale over the whole page) at 1280 and 800 px, to be looked at:
the charts must read without colour."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dashboards.pages import DASHBOARDS
from dashboards.services import rollup
from leads.models import Team
from tests.browser_helpers import sign_in
from tests.dashboards_helpers import story, team_with_policy

SIDEWAYS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
GREY = "() => { document.documentElement.style.filter = 'grayscale(1)'; }"
COLOUR = "() => { document.documentElement.style.filter = ''; }"


@pytest.mark.django_db(transaction=True)
def test_a_manager_reads_every_dashboard_switches_mode_and_downloads_csv(
    live_server, page, manager, marketer, rep_ann, screenshot_dir
):
    team_with_policy()
    story(marketer=marketer, rep_ann=rep_ann)
    rollup.run(now=timezone.now())  # fresh: "as of" a moment ago
    team = Team.objects.get(name="Inside Sales")
    shots = os.environ.get("SHOTS_DIR") or screenshot_dir
    os.makedirs(shots, exist_ok=True)
    query = f"from=2026-10-20&to=2026-11-02&team={team.pk}"

    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server, manager)
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/dashboards/funnel/")
    expect(page.get_by_role("link", name="Dashboards")).to_be_visible()

    for slug, board in DASHBOARDS.items():
        page.goto(f"{live_server.url}/dashboards/{slug}/?{query}")
        expect(page.get_by_role("heading", name=board.title, exact=True)).to_be_visible()
        expect(page.locator("#freshness")).to_contain_text("As of")
        expect(page.locator("#f-team")).to_have_value(str(team.pk))
        charts = page.locator("canvas[data-dashchart]")
        for i in range(charts.count()):
            expect(charts.nth(i)).to_have_attribute("data-drawn", "yes")
            assert charts.nth(i).get_attribute("role") == "img"
            assert charts.nth(i).get_attribute("aria-label")
        assert not page.evaluate(SIDEWAYS)
        page.screenshot(path=os.path.join(shots, f"dash-{slug}-1280.png"), full_page=True)
        page.evaluate(GREY)
        page.screenshot(path=os.path.join(shots, f"dash-{slug}-1280-grey.png"), full_page=True)
        page.evaluate(COLOUR)

    # The funnel: cohort, then period counting, labelled on the page.
    page.goto(f"{live_server.url}/dashboards/funnel/?{query}")
    expect(page.locator(".modelink.current")).to_contain_text("Cohort: the leads created")
    page.get_by_role("link", name="Period: every entry into each stage during the period").click()
    expect(page.locator(".modelink.current")).to_contain_text("Period: every entry")
    expect(
        page.locator("#table-stages").get_by_role("columnheader", name="Re-entries")
    ).to_be_visible()
    assert "mode=period" in page.url

    # Filters from the bar: a source, then Show.
    page.locator("#f-source").select_option("trade_show")
    page.get_by_role("button", name="Show").click()
    assert "source=trade_show" in page.url and "mode=period" in page.url

    # A CSV download.
    with page.expect_download() as caught:
        page.locator("#table-stages").get_by_role("link", name="Download CSV").click()
    download = caught.value
    assert download.suggested_filename.startswith("funnel-stages-")
    with open(download.path(), encoding="utf-8-sig") as file:
        text = file.read()
    assert text.splitlines()[0].startswith("Stage,Entries")

    page.set_viewport_size({"width": 800, "height": 900})
    for slug in ("funnel", "sla", "aging"):
        page.goto(f"{live_server.url}/dashboards/{slug}/?{query}")
        assert not page.evaluate(SIDEWAYS)
        page.screenshot(path=os.path.join(shots, f"dash-{slug}-800.png"), full_page=True)
    page.evaluate(GREY)
    page.screenshot(path=os.path.join(shots, "dash-aging-800-grey.png"), full_page=True)
