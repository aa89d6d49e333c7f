"""BANT (budget, authority, need, timeline), marketing-email consent and the time zone:
in the lead JSON, writable on capture and edit, audited, shown and edited on the lead
page. A capture never erases a stated consent nor re-grants a refused one."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml

from leads.models import FieldChange, Lead
from leads.services import capture_lead, record_consent, update_lead
from leads.services.identity import clean_budget
from tests.helpers import announcements, make_lead

URL = "/api/v1/leads/"


@pytest.fixture
def consent_heard():
    """The consent_changed announcements made (and committed) during the test."""
    with announcements("consent_changed") as seen:
        yield seen


# --- BANT in the API ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_lead_json_carries_bant_with_the_budget_as_a_json_number(marketer, api_as):
    response = api_as(marketer).post(
        URL,
        {"email": "ada@acme.io", "budget": 999_999_999_999.99, "authority": True,
         "need": "Replace spreadsheets", "timeline": "Q3"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    raw = response.content.decode()
    assert '"budget":999999999999.99' in raw.replace(" ", "")  # a number, not "…" text
    body = json.loads(raw)
    assert (body["authority"], body["need"], body["timeline"]) == (
        True, "Replace spreadsheets", "Q3",
    )  # fmt: skip
    assert Lead.objects.get().budget == Decimal("999999999999.99")
    empty = api_as(marketer).post(URL, {"email": "bo@acme.io"}, format="json").json()
    assert (empty["budget"], empty["authority"], empty["need"], empty["timeline"]) == (
        None, None, "", "",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "budget"),
    [
        ("0e30", Decimal("0.00")),
        ("999999999999.99", Decimal("999999999999.99")),
        ("12.500,50", Decimal("12500.50")),
    ],
)
def test_a_budget_as_large_as_the_column_holds_and_a_zero_of_any_exponent_are_amounts(raw, budget):
    assert clean_budget(raw) == budget


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("budget", "message"),
    [(-5, "negative"), ("lots", "not a number"), (1.005, "2 decimal places"), (True, "number"),
     (10**13, "too large"), (1e30, "too large")],  # 1e30: beyond the decimal context (a 500)
)  # fmt: skip
def test_a_budget_that_is_not_an_amount_is_a_400(marketer, api_as, budget, message):
    response = api_as(marketer).post(URL, {"email": "a@acme.io", "budget": budget}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["budget"])
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_patching_bant_edits_it_with_an_audit_row_per_field(marketer, api_as):
    lead = make_lead()
    response = api_as(marketer).patch(
        f"{URL}{lead.pk}/",
        {"budget": "12,500.50", "authority": False, "need": "CRM", "timeline": "this year"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["budget"] == 12500.5
    lead.refresh_from_db()
    assert (lead.budget, lead.authority, lead.need, lead.timeline) == (
        Decimal("12500.50"), False, "CRM", "this year",
    )  # fmt: skip
    audited = dict(
        FieldChange.objects.filter(lead=lead, changed_by=marketer).values_list("field", "new_value")
    )
    assert audited == {"budget": "12500.50", "authority": False, "need": "CRM",
                       "timeline": "this year"}  # fmt: skip
    cleared = api_as(marketer).patch(f"{URL}{lead.pk}/", {"budget": None}, format="json")
    assert cleared.json()["budget"] is None


@pytest.mark.django_db
def test_the_schema_shows_bant_consent_and_time_zone_with_their_nullability(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    lead = schema["components"]["schemas"]["Lead"]["properties"]
    assert lead["budget"]["type"] == "number" and lead["budget"]["nullable"] is True
    assert lead["authority"]["type"] == "boolean" and lead["authority"]["nullable"] is True
    assert lead["need"]["type"] == "string" and "nullable" not in lead["need"]
    assert lead["timeline"]["type"] == "string"
    assert lead["time_zone"]["type"] == "string"
    consent = lead["consent"]
    ref = consent.get("$ref") or consent["allOf"][0]["$ref"]
    choices = schema["components"]["schemas"][ref.split("/")[-1]]
    assert choices["enum"] == ["unknown", "granted", "denied", "withdrawn"]
    assert lead["consent_at"]["readOnly"] and lead["consent_method"]["readOnly"]


# --- consent --------------------------------------------------------------------------


@pytest.mark.django_db
def test_consent_given_on_capture_is_recorded_with_its_source(
    marketer, api_as, consent_heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(marketer).post(
            URL, {"email": "ada@acme.io", "consent": "granted"}, format="json"
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["consent"], body["consent_method"]) == ("granted", "api by marketer")
    assert body["consent_at"] is not None
    lead = Lead.objects.get()
    assert FieldChange.objects.filter(
        lead=lead, field="consent_status", new_value="granted", changed_by=marketer
    ).exists()
    assert [call["status"] for call in consent_heard] == ["granted"]


@pytest.mark.django_db
def test_patching_consent_records_who_changed_it_and_announces_it(
    marketer, api_as, consent_heard, django_capture_on_commit_callbacks
):
    lead = make_lead()
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(marketer).patch(
            f"{URL}{lead.pk}/", {"consent": "withdrawn"}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert (response.json()["consent"], response.json()["consent_method"]) == (
        "withdrawn", "api by marketer",
    )  # fmt: skip
    assert consent_heard == [
        {"lead_ids": [lead.pk], "status": "withdrawn", "now": consent_heard[0]["now"]}
    ]
    refused = api_as(marketer).patch(f"{URL}{lead.pk}/", {"consent": "maybe"}, format="json")
    assert refused.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("refused", ["withdrawn", "denied"])
def test_a_capture_never_re_grants_a_refused_consent_nor_erases_a_stated_one(
    marketer, now, refused
):
    lead = make_lead(email="ada@acme.io")
    record_consent(lead_id=lead.pk, status=refused, method="unsubscribe link", now=now)
    later = now + timedelta(hours=1)
    for status in ("granted", "unknown"):
        capture_lead(
            data={"email": "ada@acme.io", "consent_status": status}, by=marketer,
            channel="api", now=later,
        )  # fmt: skip
    lead.refresh_from_db()
    assert (lead.consent_status, lead.consent_at, lead.consent_method) == (
        refused, now, "unsubscribe link",
    )  # fmt: skip


@pytest.mark.django_db
def test_a_capture_states_consent_where_none_was_stated_and_may_take_a_grant_back(marketer, now):
    lead = make_lead(email="ada@acme.io")
    capture_lead(data={"email": "ada@acme.io", "consent_status": "granted"}, channel="import 7",
                 now=now)  # fmt: skip
    lead.refresh_from_db()
    assert (lead.consent_status, lead.consent_method) == ("granted", "import 7")
    capture_lead(data={"email": "ada@acme.io", "consent_status": "unknown"}, channel="api", now=now)
    lead.refresh_from_db()
    assert lead.consent_status == "granted"  # "unknown" states nothing
    capture_lead(data={"email": "ada@acme.io", "consent_status": "withdrawn"}, by=marketer,
                 channel="api", now=now)  # fmt: skip
    lead.refresh_from_db()
    assert (lead.consent_status, lead.consent_method) == ("withdrawn", "api by marketer")


@pytest.mark.django_db
def test_a_person_editing_the_lead_may_grant_a_withdrawn_consent_again(marketer, now):
    lead = make_lead()
    record_consent(lead_id=lead.pk, status="withdrawn", method="unsubscribe link", now=now)
    update_lead(lead_id=lead.pk, changes={"consent_status": "granted"}, by=marketer,
                via="lead page", now=now)  # fmt: skip
    lead.refresh_from_db()
    assert (lead.consent_status, lead.consent_method) == ("granted", "lead page by marketer")


# --- time zone --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_time_zone_is_an_iana_name_or_empty(marketer, api_as):
    client = api_as(marketer)
    created = client.post(URL, {"email": "a@acme.io", "time_zone": "europe/berlin"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["time_zone"] == "Europe/Berlin"
    pk = created.json()["id"]
    for bad in ("Mars/Olympus", "../../etc/passwd", "localtime"):
        response = client.patch(f"{URL}{pk}/", {"time_zone": bad}, format="json")
        assert response.status_code == 400, bad
        assert "time zone" in response.json()["time_zone"][0]
    assert client.patch(f"{URL}{pk}/", {"time_zone": ""}, format="json").json()["time_zone"] == ""


# --- the lead page ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_lead_page_shows_bant_consent_and_time_zone(client, marketer, now):
    lead = make_lead(budget=Decimal("5000.00"), authority=True, need="Forecasting",
                     timeline="Q1", time_zone="Europe/Berlin")  # fmt: skip
    record_consent(lead_id=lead.pk, status="granted", method="web form spring", now=now)
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    for shown in ["<dt>Budget</dt><dd>5,000.00</dd>", "<dt>Authority</dt><dd>Yes</dd>",
                  "<dt>Need</dt><dd>Forecasting</dd>", "<dt>Timeline</dt><dd>Q1</dd>",
                  "<dt>Time zone</dt><dd>Europe/Berlin</dd>", "Granted",
                  "2026-11-02 09:30", "web form spring"]:  # fmt: skip
        assert shown in html, shown


@pytest.mark.django_db
def test_a_rep_edits_bant_and_consent_on_the_lead_page_with_their_audit(client, rep_ann, now):
    lead = make_lead(owner=rep_ann)
    record_consent(lead_id=lead.pk, status="withdrawn", method="unsubscribe link", now=now)
    client.force_login(rep_ann)
    form = client.get(f"/leads/{lead.pk}/edit/").content.decode()
    for name in ("budget", "authority", "need", "timeline", "consent", "time_zone"):
        assert f'name="{name}"' in form, name
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {"budget": "25 000", "authority": "yes", "need": "Pipeline reports",
         "timeline": "Next quarter", "consent": "granted", "time_zone": "America/New_York"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    lead.refresh_from_db()
    assert (lead.budget, lead.authority, lead.need, lead.timeline, lead.time_zone) == (
        Decimal("25000.00"), True, "Pipeline reports", "Next quarter", "America/New_York",
    )  # fmt: skip
    assert (lead.consent_status, lead.consent_method) == ("granted", "lead page by rep_ann")
    audited = set(
        FieldChange.objects.filter(lead=lead, changed_by=rep_ann).values_list("field", flat=True)
    )
    assert audited == {"budget", "authority", "need", "timeline", "time_zone", "consent_status"}
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "need changed" in html and "Pipeline reports" in html
    assert "withdrawn → granted" in html


@pytest.mark.django_db
def test_bad_bant_and_time_zone_edits_show_field_errors_and_save_nothing(client, marketer):
    lead = make_lead(need="Forecasting")
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {"budget": "-3", "need": "CRM", "time_zone": "Nowhere/City", "consent": "perhaps"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "negative" in html and "not a time zone" in html and "not a valid choice" in html
    lead.refresh_from_db()
    assert (lead.budget, lead.need, lead.consent_status) == (None, "Forecasting", "unknown")
