"""Custom fields: defined by marketing, values checked by type, filterable."""

import pytest

from leads.models import CustomField, Lead
from leads.services import define_custom_field
from tests.helpers import make_lead

URL = "/api/v1/custom-fields/"
LEADS = "/api/v1/leads/"


@pytest.fixture
def fields(db):
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    define_custom_field(name="tier", label="Tier", type="choice", choices=["Gold", "Silver"])
    define_custom_field(name="partner", label="Partner", type="bool", choices=[])
    define_custom_field(name="renewal", label="Renewal", type="date", choices=[])
    define_custom_field(name="notes", label="Notes", type="text", choices=[])


@pytest.mark.django_db
def test_marketing_defines_a_custom_field_and_everyone_signed_in_lists_them(
    marketer, rep_ann, api_as
):
    created = api_as(marketer).post(
        URL, {"name": "tier", "label": "Tier", "type": "choice", "choices": ["Gold", "Silver"]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    listed = api_as(rep_ann).get(URL).json()
    assert listed == [
        {"name": "tier", "label": "Tier", "type": "choice", "choices": ["Gold", "Silver"]}
    ]
    refused = api_as(rep_ann).post(URL, {"name": "x", "label": "X", "type": "text"}, format="json")
    assert refused.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Bad Name", "label": "X", "type": "text"}, "name"),
        ({"name": "email", "label": "X", "type": "text"}, "name"),
        ({"name": "x", "label": "X", "type": "colour"}, "type"),
        ({"name": "x", "label": "X", "type": "choice"}, "choices"),
        ({"name": "x", "label": "X", "type": "choice", "choices": ["A", "a"]}, "choices"),
        ({"name": "x", "label": "X", "type": "number", "choices": ["1"]}, "choices"),
        ({"name": "x", "type": "text"}, "label"),
    ],
)
def test_bad_definitions_get_field_errors_and_save_nothing(marketer, api_as, payload, field):
    response = api_as(marketer).post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert CustomField.objects.count() == 0


@pytest.mark.django_db
def test_a_duplicate_name_is_refused(marketer, api_as, fields):
    response = api_as(marketer).post(
        URL, {"name": "tier", "label": "T", "type": "text"}, format="json"
    )
    assert response.status_code == 400 and "name" in response.json()


@pytest.mark.django_db
def test_values_are_converted_by_type_on_capture(marketer, api_as, fields):
    response = api_as(marketer).post(
        LEADS,
        {"email": "a@acme.io", "custom": {"seats": "1.250", "tier": "gold", "partner": "yes",
                                          "renewal": "01.03.2027", "notes": " big deal "}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    assert response.json()["custom"] == {
        "seats": 1.25,
        "tier": "Gold",
        "partner": True,
        "renewal": "2027-03-01",
        "notes": "big deal",
    }


@pytest.mark.django_db
def test_bad_values_name_the_custom_field_and_write_nothing(marketer, api_as, fields):
    response = api_as(marketer).post(
        LEADS,
        {"email": "a@acme.io", "custom": {"seats": "many", "tier": "Bronze", "nope": 1}},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["custom"]
    assert set(errors) == {"seats", "tier", "nope"}
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_patch_merges_custom_values_and_null_removes_one(marketer, api_as, fields):
    lead = make_lead(custom={"seats": 10, "tier": "Gold"})
    response = api_as(marketer).patch(
        f"{LEADS}{lead.pk}/", {"custom": {"seats": "12", "tier": None}}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["custom"] == {"seats": 12}


@pytest.mark.django_db
def test_leads_filter_on_custom_fields(marketer, api_as, fields):
    make_lead(email="big@x.io", custom={"seats": 500, "tier": "Gold", "partner": True,
                                        "renewal": "2027-01-15", "notes": "Wants SSO"})  # fmt: skip
    make_lead(email="small@x.io", custom={"seats": 5, "tier": "Silver", "partner": False,
                                          "renewal": "2026-12-01"})  # fmt: skip
    make_lead(email="none@x.io")
    client = api_as(marketer)

    def emails(**params):
        response = client.get(LEADS, params)
        assert response.status_code == 200, response.json()
        return sorted(row["email"] for row in response.json()["results"])

    assert emails(**{"custom.tier": "Gold"}) == ["big@x.io"]
    assert emails(**{"custom.seats.min": "100"}) == ["big@x.io"]
    assert emails(**{"custom.seats.max": "100"}) == ["small@x.io"]
    assert emails(**{"custom.seats": "5"}) == ["small@x.io"]
    assert emails(**{"custom.partner": "false"}) == ["small@x.io"]
    assert emails(**{"custom.renewal.min": "2027-01-01"}) == ["big@x.io"]
    assert emails(**{"custom.notes": "sso"}) == ["big@x.io"]
    bad = client.get(LEADS, {"custom.colour": "red"})
    assert bad.status_code == 400
    assert client.get(LEADS, {"custom.seats.min": "lots"}).status_code == 400
