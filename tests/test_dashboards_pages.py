"""The dashboards' pages: each renders for a manager and for marketing with filters, a rep
gets a 403, a manager cannot pick another team, bad filters are a message (never a 500),
every table downloads as formula-safe CSV, the JSON of the other pages, and each page's
query count is pinned."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils.html import escape

from dashboards.pages import DASHBOARDS
from leads.models import Campaign, Team
from tests.dashboards_helpers import NOW, story, team_with_policy

pytestmark = pytest.mark.django_db
PERIOD = {"from": "2026-10-20", "to": "2026-11-02"}


@pytest.fixture
def data(manager, marketer, rep_ann, settings):
    team_with_policy()
    return story(marketer=marketer, rep_ann=rep_ann)


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)


def _get(client, user, slug, **params):
    client.force_login(user)
    return client.get(reverse("dashboards:page", args=[slug]), {**PERIOD, **params})


def test_each_page_renders_for_a_manager_and_marketing_with_filters(
    client, data, manager, marketer
):
    team = Team.objects.get(name="Inside Sales")
    mixes = ((manager, {"team": team.pk}),
             (marketer, {"source": "trade_show", "campaign": "expo-26"}))  # fmt: skip
    for slug in DASHBOARDS:
        for user, params in mixes:
            response = _get(client, user, slug, **params)
            assert response.status_code == 200, response.content[:500]
            body = response.content.decode()
            assert escape(DASHBOARDS[slug].counts) in body
            assert "As of 09:30:00" in body
            assert "Download CSV" in body
            assert 'role="img"' in body or "empty" in body

    # The funnel names the mode, the leak, and switches mode.
    body = _get(client, manager, "funnel", mode="cohort").content.decode()
    assert "Cohort: the leads created in the period, and how far they got" in body
    assert "mode=period" in body
    body = _get(client, manager, "funnel", mode="period").content.decode()
    assert "Re-entries" in body and "Moves back" in body
    assert 'class="leak card"' in body


def test_a_rep_gets_403_and_a_manager_cannot_pick_another_team(client, rep_ann, manager):
    assert _get(client, rep_ann, "funnel").status_code == 403
    other = Team.objects.create(name="Field Sales")
    response = _get(client, manager, "sla", team=other.pk)
    assert response.status_code == 400
    assert "Choose one of your teams." in response.content.decode()
    # The team list offers only the manager's teams.
    assert "Field Sales" not in response.content.decode()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "yesterday"}, "Enter the date as YYYY-MM-DD"),
        ({"from": "2026-11-02", "to": "2026-10-01"}, "start is after its end"),
        ({"source": "carrier_pigeon"}, "is not a source"),
        ({"campaign": "nope"}, "There is no campaign"),
        ({"team": "x"}, "Choose a team from the list."),
        ({"mode": "both"}, "Choose the mode cohort or period."),
        ({"days": "-4"}, "Enter days from 1 to 3660."),
    ],
)
def test_bad_filters_show_the_fields_error_not_a_500(client, manager, marketer, params, message):
    response = _get(client, marketer, "aging", **params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_every_table_downloads_as_formula_safe_csv_in_few_queries(
    client, data, marketer, manager, django_assert_max_num_queries
):
    Campaign.objects.filter(code="expo-26").update(name='=HYPERLINK("x")')
    for slug in DASHBOARDS:
        page = _get(client, marketer, slug)
        for table in page.context["built"].tables:
            response = _get(client, marketer, slug, format="csv", table=table.name)
            assert response.status_code == 200
            text = b"".join(response.streaming_content).decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            assert rows[0] == [c.label for c in table.columns]
            assert len(rows) == len(table.rows) + 1
            for row in rows[1:]:
                assert not any(cell.startswith(("=", "+", "@")) for cell in row)
    text = b"".join(
        _get(client, marketer, "sources", format="csv", table="campaigns").streaming_content
    ).decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert _get(client, marketer, "sources", format="csv", table="nope").status_code == 404

    # The sources page shows costs, and a dash where there is nothing to divide.
    built = _get(client, marketer, "sources").context["built"]
    campaign = next(r for r in built.table("campaigns").rows if r["key"] == "expo-26")
    assert campaign["leads"] == 8 and campaign["won"] == 2
    assert str(campaign["cost_per_lead"]) == "150.00"
    assert str(campaign["cost_per_won"]) == "600.00"
    assert str(campaign["revenue"]) == "10000.00"
    webinar = next(r for r in built.table("channels").rows if r["key"] == "webinar")
    assert webinar["cost_per_lead"] is None

    # Query counts are pinned: no query per row.
    limits = {"funnel": 16, "sources": 16, "sla": 18, "aging": 18, "closed-loop": 15,
              "nurture": 16}  # fmt: skip
    for user in (marketer, manager):
        client.force_login(user)
        for slug, limit in limits.items():
            client.get(reverse("dashboards:page", args=[slug]), PERIOD)
            with django_assert_max_num_queries(limit, info=slug):
                assert (
                    client.get(reverse("dashboards:page", args=[slug]), PERIOD).status_code == 200
                )


def test_the_other_pages_tables_as_json(api_as, manager, marketer, rep_ann):
    for board in ("sources", "sla", "aging", "closed-loop", "nurture"):
        response = api_as(marketer).get(f"/api/v1/dashboards/{board}/", PERIOD)
        assert response.status_code == 200, response.content
        assert response.json()["tables"][0]["columns"]
    assert api_as(rep_ann).get("/api/v1/dashboards/sla/").status_code == 403
    assert api_as(marketer).get("/api/v1/dashboards/funnel-x/").status_code == 404
    bad = api_as(manager).get("/api/v1/dashboards/sla/", {"from": "nope"})
    assert bad.status_code == 400


def test_a_managers_home_is_the_funnel_dashboard(client, manager, marketer, rep_ann):
    client.force_login(manager)
    assert client.get("/")["Location"] == reverse("dashboards:page", args=["funnel"])
    client.force_login(marketer)
    assert client.get("/")["Location"] == reverse("leads:list")
    client.force_login(rep_ann)
    assert client.get("/")["Location"] == reverse("leads:list")


def test_before_the_rollup_has_run_the_page_says_so(client, manager):
    body = _get(client, manager, "funnel").content.decode()
    assert "has not run" in body
    assert "No lead entered the funnel" in body


def test_the_aging_list_links_each_lead_to_its_page(client, data, marketer):
    page = _get(client, marketer, "aging", days="1")
    untouched = page.context["built"].table("untouched")
    assert untouched is not None and untouched.rows, "the data holds an untouched MQL or SAL"
    html = page.content.decode()
    for row in untouched.rows:
        assert f'href="/leads/{row["id"]}/"' in html
