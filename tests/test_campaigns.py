"""Campaigns: marketing adds them and sees what each brought in and cost per lead."""

from datetime import date
from decimal import Decimal

import pytest

from leads.exceptions import LeadFlowError
from leads.models import Campaign
from leads.services import create_campaign
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
