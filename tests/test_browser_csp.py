"""In Chromium, under the Content-Security-Policy (scripts from LeadFlow's own files
only, no inline script, no eval): the main pages report no violation, and what used to
be inline script still works — the score chart, "select all", the merge-undo question,
sorting by a column header, the Clear link and the snippet's copy button."""

import os
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.services import record_event, webforms
from leads.services.merges import merge_leads
from scoring import services as scoring
from tests.browser_helpers import sign_in
from tests.helpers import make_lead
from tests.scoring_helpers import activate

# Records every violation the page reports, before any of its own scripts run.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${where}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation and console error it reports collected."""
    page.add_init_script(WATCH)
    console = []
    page.on(
        "console",
        lambda m: console.append(m.text) if m.type == "error" or "Security" in m.text else None,
    )
    page.console_errors = console
    return page


def _visit(page, url):
    response = page.goto(url)
    assert response.status < 400, url
    page.wait_for_load_state("networkidle")
    violations = page.evaluate("window.__csp")
    assert violations == [], f"{url}: {violations}"
    return response


@pytest.mark.django_db(transaction=True)
def test_the_main_pages_report_no_csp_violation_and_their_scripts_work(
    live_server, watched, marketer, screenshot_dir, eager_celery
):
    page = watched
    activate()
    now = timezone.now()
    vera = make_lead(first_name="Vera", last_name="Vance", title="VP Sales", company="Acme",
                     budget=Decimal(1), now=now)  # fmt: skip
    twin = make_lead(first_name="Vera", last_name="Vance", email="vv@other.example", now=now)
    record_event(lead_id=vera.pk, type="pricing_page_view", occurred_at=now, now=now)
    scoring.rescore_all(now=now)
    merge_leads(survivor_id=vera.pk, other_id=twin.pk, take=[], by=marketer, now=now)
    for i in range(3):
        make_lead(last_name=f"Zed{i}", now=now)
    form = webforms.create_form(
        definition=webforms.Definition(name="Demo", fields=["email"]), by=marketer, now=now
    )
    sign_in(page, live_server, marketer)

    response = _visit(page, f"{live_server.url}/leads/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]

    # Select all on this page.
    page.get_by_label("Select all on this page").check()
    boxes = page.locator("input[name=ids]")
    expect(boxes).to_have_count(4)
    for box in boxes.all():
        expect(box).to_be_checked()

    # A column header sorts (htmx), a second click reverses; the form and Clear follow.
    page.get_by_role("link", name="Name", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/leads/?sort=name")
    expect(page.locator("tbody tr").first).to_contain_text("Vera Vance")
    expect(page.get_by_label("Sort")).to_have_value("name")
    expect(page.get_by_role("link", name="Clear")).to_be_visible()
    expect(page.locator("#export-link")).to_have_attribute("href", "/leads/export.csv?sort=name")
    page.get_by_role("link", name="Name ▲").click()
    expect(page).to_have_url(f"{live_server.url}/leads/?sort=-name")
    expect(page.locator("tbody tr").first).to_contain_text("Lead Zed2")
    expect(page.get_by_label("Sort")).to_have_value("-name")
    page.screenshot(path=os.path.join(screenshot_dir, "csp-list-sorted.png"), full_page=True)
    page.get_by_role("link", name="Clear").click()
    expect(page.get_by_role("link", name="Clear")).to_have_count(0)
    page.get_by_label("Search").fill("zed")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.get_by_role("link", name="Clear")).to_be_visible()  # without a reload
    assert page.evaluate("window.__csp") == []

    # The lead page: the score chart is drawn, the merge-undo asks first.
    _visit(page, f"{live_server.url}/leads/{vera.pk}/")
    chart = page.get_by_label("Score history")
    expect(chart).to_have_attribute("data-drawn", "yes")
    assert page.evaluate("Chart.getChart(document.getElementById('score-chart')) !== undefined")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Undo merge").click()
    expect(page.get_by_role("button", name="Undo merge")).to_be_visible()  # nothing happened
    page.screenshot(path=os.path.join(screenshot_dir, "csp-lead-chart.png"), full_page=True)
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Undo merge").click()
    expect(page.get_by_text("The merge is undone")).to_be_visible()
    assert questions == ["Undo this merge? Both leads come back as they were."]

    # The form page's copy button (shown by the script) copies the snippet.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _visit(page, f"{live_server.url}/leads/forms/{form.slug}/")
    page.get_by_role("button", name="Copy the snippet").click()
    expect(page.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()").startswith('<form method="post"')

    pages = ["/leads/campaigns/", "/leads/forms/", f"/leads/forms/{form.slug}/preview/",
             "/leads/custom-fields/", "/leads/duplicates/", "/imports/", "/scoring/",
             "/scoring/edit/", "/api/docs/", "/api/v1/leads/"]  # fmt: skip
    for path in pages:
        _visit(page, f"{live_server.url}{path}")
    expect(page.locator("pre, .response-info").first).to_be_visible()  # the browsable API ran
    assert not [m for m in page.console_errors if "Content Security Policy" in m]
