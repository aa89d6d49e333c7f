"""Campaigns: marketing adds them and sees what each brought in and cost per lead."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.exceptions import LeadFlowError
from leads.models import Campaign, Lead
from leads.selectors.campaigns import campaign_rows
from leads.services import bulk_set_campaign, create_campaign
from leads.services.merges import merge_leads
from tests.helpers import make_lead


@pytest.mark.django_db
def test_marketing_adds_a_campaign_and_sees_its_cost_per_lead(client, marketer):
    client.force_login(marketer)
    response = client.post(
        "/leads/campaigns/",
        {"name": "Spring webinar", "code": "spring", "channel": "webinar", "cost": "1.000,50",
         "starts_on": "2026-03-01", "ends_on": "2026-04-01"},
        follow=True,
    )  # fmt: skip
    assert "Campaign “Spring webinar” added." in response.content.decode()
    campaign = Campaign.objects.get()
    assert campaign.cost == Decimal("1000.50")
    for _ in range(2):
        make_lead(campaign=campaign)
    html = client.get("/leads/campaigns/").content.decode()
    assert "500.25" in html  # 1000.50 / 2 leads


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("post", "field_error"),
    [
        ({"name": "X", "code": "x", "cost": "lots"}, "not a number"),
        ({"name": "X", "code": "x", "cost": "-5"}, "cost cannot be negative"),
        (
            {"name": "X", "code": "x", "starts_on": "2026-04-01", "ends_on": "2026-03-01"},
            "cannot end before it starts",
        ),
        ({"name": "X", "code": "bad code!"}, "slug"),
    ],
)
def test_bad_campaigns_get_field_errors_and_save_nothing(client, marketer, post, field_error):
    client.force_login(marketer)
    response = client.post("/leads/campaigns/", post)
    assert response.status_code == 400
    assert field_error.lower() in response.content.decode().lower()
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_only_marketing_manages_campaigns(client, rep_ann):
    client.force_login(rep_ann)
    assert client.get("/leads/campaigns/").status_code == 403


@pytest.mark.django_db
def test_adding_a_campaign_checks_what_the_table_would_refuse_and_names_the_fields(now):
    campaign = create_campaign(code="spring", name="Spring", channel="webinar", now=now)
    assert (campaign.cost, campaign.created_at) == (Decimal(0), now)
    with pytest.raises(LeadFlowError) as refused:
        create_campaign(code="spring", name="", cost=Decimal(-1), starts_on=date(2026, 4, 1),
                        ends_on=date(2026, 3, 1), now=now)  # fmt: skip
    errors = refused.value.extra["errors"]
    assert set(errors) == {"code", "name", "cost", "ends_on"}
    assert "already exists" in errors["code"] and "cannot end before" in errors["ends_on"]
    assert Campaign.objects.count() == 1


@pytest.mark.django_db
def test_each_campaign_counts_its_live_leads_by_first_and_latest_touch_with_cost_per_lead(now):
    spring = create_campaign(code="spring", name="Spring", cost=Decimal("100.00"), now=now)
    autumn = create_campaign(code="autumn", name="Autumn", cost=Decimal("10.00"), now=now)
    create_campaign(code="empty", name="Nothing yet", cost=Decimal("50.00"), now=now)
    leads = [make_lead(campaign=spring) for _ in range(4)]
    # Two of Spring's leads come back through Autumn: their latest touch moves.
    bulk_set_campaign(leads=Lead.objects.filter(pk__in=[leads[0].pk, leads[1].pk]),
                      campaign=autumn, by=None, now=now)  # fmt: skip
    merge_leads(survivor_id=leads[2].pk, other_id=leads[3].pk, take=[], by=None, now=now)

    rows = {row.code: row for row in campaign_rows()}
    assert (rows["spring"].first_touch, rows["spring"].latest_touch) == (3, 1)
    assert (rows["autumn"].first_touch, rows["autumn"].latest_touch) == (0, 2)
    assert rows["spring"].cost_per_lead == Decimal("33.33")  # Decimal money, to the cent
    assert rows["autumn"].cost_per_lead is None and rows["empty"].cost_per_lead is None


@pytest.mark.django_db
def test_the_campaigns_page_counts_by_subquery_and_never_joins_both_touches(client, marketer, now):
    spring = create_campaign(code="spring", name="Spring", cost=Decimal("90.00"), now=now)
    for _ in range(3):
        make_lead(campaign=spring)
    client.force_login(marketer)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/leads/campaigns/").content.decode()
    assert "30.00" in html
    campaign_queries = [q["sql"] for q in queries if '"leads_campaign"' in q["sql"]]
    assert len(campaign_queries) == 1
    assert "COUNT(DISTINCT" not in campaign_queries[0].upper()
    assert 'JOIN "leads_lead"' not in campaign_queries[0]
