"""In Chromium: a marketer edits a rule, sees the what-if, saves, and a lead's
explanation changes."""

import copy
import os
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.services import define_custom_field, record_event
from scoring import services
from tests.conftest import PASSWORD
from tests.helpers import make_lead
from tests.scoring_helpers import SIMPLE, activate


@pytest.mark.django_db(transaction=True)
def test_a_marketer_changes_a_rule_sees_the_what_if_and_the_new_explanation(
    live_server, page, marketer, screenshot_dir, eager_celery
):
    activate()
    now = timezone.now()
    lead = make_lead(first_name="Vera", last_name="Vance", title="VP Sales", need="Routing",
                     budget=Decimal(1), now=now)  # fmt: skip
    for _ in range(2):  # 2 × 10 engagement points
        record_event(lead_id=lead.pk, type="pricing_page_view", occurred_at=now, now=now)
    services.rescore_all(now=now)

    page.goto(f"{live_server.url}/scoring/edit/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Edit the lead definition")).to_be_visible()

    # Lower the MQL bar so Vera (fit 35, engagement 20, need known) would qualify.
    page.get_by_label("MQL minimum engagement").fill("15")
    page.get_by_role("button", name="Show what would change").click()
    expect(page.locator("#whatif-newly-mql")).to_have_text("1")
    expect(page.locator(".whatif")).to_contain_text("Vera Vance")
    page.screenshot(path=os.path.join(screenshot_dir, "scoring-what-if.png"), full_page=True)

    page.get_by_label("Rule 1 points").fill("30")  # "VP title" 15 → 30
    page.get_by_label("Note").fill("Lower MQL bar, VPs count double")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_text("Status: Done")).to_be_visible()
    expect(page.get_by_text("1 became MQL")).to_be_visible()
    page.screenshot(path=os.path.join(screenshot_dir, "scoring-run.png"), full_page=True)
    page.goto(f"{live_server.url}/scoring/")
    expect(page.get_by_text("Lower MQL bar, VPs count double").first).to_be_visible()
    page.screenshot(path=os.path.join(screenshot_dir, "scoring-overview.png"), full_page=True)

    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    panel = page.locator("#score-panel")
    expect(panel).to_contain_text("VP title")
    expect(panel).to_contain_text("+30.0")
    expect(panel).to_contain_text("Meets the MQL rule.")
    expect(page.locator(".stage").first).to_have_text("MQL")
    expect(page.get_by_label("Score history")).to_be_visible()
    page.screenshot(
        path=os.path.join(screenshot_dir, "scoring-lead-explanation.png"), full_page=True
    )


# The selects whose chosen option is wider than the box shows (text cut off), and
# whether the page's content reaches past the window's right edge (the top bar is the
# site's, not these pages'). Chromium's arrow takes about 20px of a select.
CUT_OFF_SELECTS = """() => {
  const ctx = document.createElement("canvas").getContext("2d");
  const cut = [...document.querySelectorAll("main select")].filter(s => s.offsetParent).map(s => {
    const css = getComputedStyle(s);
    ctx.font = `${css.fontWeight} ${css.fontSize} ${css.fontFamily}`;
    const text = s.selectedIndex >= 0 ? s.options[s.selectedIndex].text : "";
    const needed = ctx.measureText(text).width + parseFloat(css.paddingLeft)
      + parseFloat(css.paddingRight) + 20;
    return {name: s.name, text, width: Math.round(s.getBoundingClientRect().width),
            needed: Math.ceil(needed)};
  }).filter(s => s.width < s.needed);
  const right = Math.max(...[...document.querySelectorAll("main *")].map(
    e => e.getBoundingClientRect().right));
  return {cut, sideways: right > document.documentElement.clientWidth};
}"""


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 800])
def test_the_editor_shows_labels_in_dropdowns_that_are_not_cut_off(
    live_server, page, marketer, screenshot_dir, width
):
    define_custom_field(name="mwvnun0", label="Seats bought", type="number", choices=[])
    definition = copy.deepcopy(SIMPLE)
    definition["rules"].append(
        {"name": "Many seats", "field": "custom.mwvnun0", "op": "range", "min": 10, "points": 5}
    )
    definition["rules"].append({"name": "Uses a CRM", "field": "crm_in_use", "op": "is_set",
                                "points": 5, "applies_to": "engagement"})  # fmt: skip
    activate(definition)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/scoring/edit/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Rule 2 field")).to_have_value("company_size")
    expect(page.get_by_label("Rule 2 field").locator("option:checked")).to_have_text("Company size")
    expect(page.get_by_label("Rule 6 field").locator("option:checked")).to_have_text("Seats bought")
    expect(page.get_by_label("Rule 7 field").locator("option:checked")).to_contain_text(
        "no such field"
    )
    page.screenshot(path=os.path.join(screenshot_dir, f"scoring-editor-{width}.png"),
                    full_page=True)  # fmt: skip
    assert page.evaluate(CUT_OFF_SELECTS) == {"cut": [], "sideways": False}

    page.goto(f"{live_server.url}/scoring/")
    expect(page.get_by_text("Seats bought ≥ 10")).to_be_visible()
    page.screenshot(path=os.path.join(screenshot_dir, f"scoring-definition-{width}.png"),
                    full_page=True)  # fmt: skip
    assert page.evaluate(CUT_OFF_SELECTS)["sideways"] is False


@pytest.mark.django_db(transaction=True)
def test_a_marketer_reads_what_changed_between_versions_and_restores_an_older_one(
    live_server, page, marketer, screenshot_dir, eager_celery
):
    now = timezone.now()
    services.create_version(definition=SIMPLE, by=marketer, note="First cut", now=now)
    tuned = copy.deepcopy(SIMPLE)
    tuned["rules"][0]["points"] = 30
    tuned["mql"]["min_engagement"] = 70
    services.create_version(definition=tuned, by=marketer, note="VPs count double", now=now)

    page.goto(f"{live_server.url}/scoring/versions/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    v2 = page.get_by_label("Version 2")
    expect(v2).to_contain_text("Changed rule “VP title”: points 15 → 30")
    expect(v2).to_contain_text("Changed the MQL rule: minimum engagement 50 → 70")
    expect(page.get_by_label("Version 1")).to_contain_text("The first version.")
    page.screenshot(path=os.path.join(screenshot_dir, "scoring-versions.png"), full_page=True)

    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.get_by_role("heading", name="Changes from v2 to v1")).to_be_visible()
    expect(page.get_by_label("Changes")).to_contain_text("points 30 → 15")
    page.screenshot(path=os.path.join(screenshot_dir, "scoring-version-diff.png"), full_page=True)
    page.get_by_role("button", name="Restore this version").click()
    expect(page.get_by_text("Status: Done")).to_be_visible()
    expect(page.get_by_text("Version 1 restored as version 3")).to_be_visible()
    page.goto(f"{live_server.url}/scoring/")
    expect(page.get_by_role("heading", name="Lead definition v3")).to_be_visible()
    expect(page.get_by_text("Restored version 1").first).to_be_visible()
