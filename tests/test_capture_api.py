"""POST /api/v1/leads/: capture that never duplicates, and bad input that writes nothing."""

import json

import pytest
from django.test import override_settings

from leads.models import Activity, Campaign, Lead, StageChange
from leads.services import define_custom_field
from tests.conftest import PASSWORD

URL = "/api/v1/leads/"


def _counts():
    return (Lead.objects.count(), StageChange.objects.count(), Activity.objects.count())


@pytest.mark.django_db
def test_capturing_a_new_lead_answers_201_with_the_contract_fields(marketer, api_as):
    Campaign.objects.create(code="spring-webinar", name="Spring webinar", channel="webinar")
    define_custom_field(name="employees_band", label="Employees", type="text", choices=[])
    response = api_as(marketer).post(
        URL,
        {
            "email": "  Jane.Doe@Example.COM ",
            "first_name": "Jane",
            "last_name": "Doe",
            "company": "Example",
            "phone": "+44 20 7946 0958",
            "country": "gb",
            "source": "webinar",
            "campaign": "spring-webinar",
            "custom": {"employees_band": "200-500"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= {
        "id", "email", "first_name", "last_name", "company", "title", "phone", "country",
        "source", "campaign", "owner", "stage", "score", "grade", "custom", "external_id",
        "converted", "created_at",
    }  # fmt: skip
    assert body["email"] == "jane.doe@example.com"
    assert body["phone"] == "+442079460958"
    assert body["country"] == "GB"
    assert body["campaign"] == "spring-webinar"
    assert body["stage"] == "new"
    assert body["owner"] is None and body["external_id"] is None and body["converted"] is None
    lead = Lead.objects.get(pk=body["id"])
    assert lead.company_domain == "example.com"
    history = list(lead.stage_changes.values_list("from_stage", "to_stage"))
    assert history == [("", "new")]


@pytest.mark.django_db
def test_capturing_an_existing_email_answers_200_and_fills_only_empty_fields(marketer, api_as):
    client = api_as(marketer)
    first = client.post(URL, {"email": "sam@acme.io", "company": "Acme"}, format="json")
    assert first.status_code == 201
    again = client.post(
        URL,
        {"email": "SAM@acme.io", "company": "Acme Corp", "title": "CTO", "stage": "mql"},
        format="json",
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    lead = Lead.objects.get()
    assert lead.company == "Acme"  # what was there is kept
    assert lead.title == "CTO"  # what was empty is filled
    assert lead.stage == "new"  # a capture never moves a lead down the funnel
    assert lead.activities.filter(kind="captured").count() == 2


@pytest.mark.django_db
def test_leads_without_email_are_identified_by_external_id_per_source(marketer, api_as):
    client = api_as(marketer)
    a = client.post(URL, {"external_id": "crm-1", "source": "referral"}, format="json")
    b = client.post(
        URL, {"external_id": "crm-1", "source": "referral", "last_name": "X"}, format="json"
    )
    c = client.post(URL, {"external_id": "crm-1", "source": "organic"}, format="json")
    assert (a.status_code, b.status_code, c.status_code) == (201, 200, 201)
    assert a.json()["id"] == b.json()["id"] != c.json()["id"]
    assert b.json()["last_name"] == "X"


@pytest.mark.django_db
def test_leads_with_only_a_phone_are_identified_by_the_normalised_phone(marketer, api_as):
    client = api_as(marketer)
    a = client.post(URL, {"phone": "+1 415 555 0100"}, format="json")
    b = client.post(URL, {"phone": "(415) 555-0100", "country": "US"}, format="json")
    assert (a.status_code, b.status_code) == (201, 200)
    assert Lead.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": "No identity"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b.co", "stage": "hot"}, "stage"),
        ({"email": "a@b.co", "source": "carrier-pigeon"}, "source"),
        ({"email": "a@b.co", "campaign": "no-such-campaign"}, "campaign"),
        ({"email": "a@b.co", "phone": "call me maybe"}, "phone"),
        ({"email": "a@b.co", "country": "Germany"}, "country"),
        ({"email": "a@b.co", "first_name": "x" * 151}, "first_name"),
        ({"email": "a@b.co", "favourite_colour": "blue"}, "favourite_colour"),
        ({"email": "a@b.co", "custom": {"nested": {"no": 1}}}, "custom"),
    ],
)
def test_bad_input_gets_400_with_the_field_named_and_writes_nothing(
    marketer, api_as, payload, field
):
    before = _counts()
    response = api_as(marketer).post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert _counts() == before


@pytest.mark.django_db
def test_malformed_json_and_non_object_bodies_get_400(marketer, api_as):
    client = api_as(marketer)
    bad = client.post(URL, "{not json", content_type="application/json")
    assert bad.status_code == 400 and "detail" in bad.json()
    listed = client.post(URL, json.dumps([{"email": "a@b.co"}]), content_type="application/json")
    assert listed.status_code == 400 and "non_field_errors" in listed.json()
    assert Lead.objects.count() == 0


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=2048)
def test_an_oversized_body_gets_400_and_writes_nothing(marketer, api_as):
    payload = json.dumps({"email": "big@example.com", "title": "x" * 5000})
    response = api_as(marketer).post(URL, payload, content_type="application/json")
    assert response.status_code == 400
    assert "2048 bytes" in response.json()["detail"]
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_capture_needs_authentication_and_a_marketing_role(client, rep_ann, api_as):
    anonymous = client.post(URL, {"email": "a@b.co"}, content_type="application/json")
    assert anonymous.status_code in (401, 403)
    rep = api_as(rep_ann).post(URL, {"email": "a@b.co"}, format="json")
    assert rep.status_code == 403
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_session_auth_works_and_enforces_csrf(marketer):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="marketer", password=PASSWORD)
    no_token = browser.post(URL, {"email": "a@b.co"}, content_type="application/json")
    assert no_token.status_code == 403
    browser.get("/leads/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    ok = browser.post(
        URL, {"email": "a@b.co"}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert ok.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_captures_of_one_email_make_one_lead(marketer):
    """Two threads race through capture_lead; the unique constraint + retry keeps one lead."""
    from leads.services import capture_lead
    from tests.conftest import CURRENT_TIME
    from tests.helpers import race

    def capture(i):
        data = {"email": "race@example.com", "title": f"T{i}"}
        return capture_lead(data=data, channel="test", now=CURRENT_TIME).created

    results = race(capture)  # raises what any thread raised
    assert sorted(results) == [False, False, False, True]
    assert Lead.objects.filter(email="race@example.com").count() == 1


# --- how much a capture costs (bench/capture.py measures it) ---------------------------


@pytest.fixture
def spring_and_seats(db):
    Campaign.objects.create(code="spring", name="Spring")
    define_custom_field(name="seats", label="Seats", type="number", choices=[])


CAPTURE = {"email": "ada@acme.io", "first_name": "Ada", "phone": "+49 30 1234567",
           "country": "DE", "campaign": "spring", "custom": {"seats": 5}}  # fmt: skip


@pytest.mark.django_db
def test_capturing_a_new_lead_takes_six_queries(
    marketer, api_as, spring_and_seats, django_assert_num_queries
):
    """Token and roles, the campaign with the custom fields, the match, the lead with its
    stage change and its timeline entry in one statement (and the savepoint of the
    test)."""
    client = api_as(marketer)
    with django_assert_num_queries(6):
        response = client.post(URL, CAPTURE, format="json")
    assert response.status_code == 201
    assert response.json()["campaign"] == "spring" and response.json()["custom"] == {"seats": 5}


@pytest.mark.django_db
def test_capturing_a_known_lead_takes_nine_queries(
    marketer, api_as, spring_and_seats, django_assert_num_queries
):
    """As a new one, but the lead's update (with its activity date), its field audit,
    the timeline entry and the answer's read instead of the insert."""
    client = api_as(marketer)
    assert client.post(URL, {"email": "ada@acme.io"}, format="json").status_code == 201
    with django_assert_num_queries(9):
        response = client.post(URL, CAPTURE, format="json")
    assert response.status_code == 200
    assert response.json()["first_name"] == "Ada" and response.json()["campaign"] == "spring"


@pytest.mark.django_db
def test_captures_queue_one_scoring_task_per_second_instead_of_scoring_inline(
    marketer, api_as, monkeypatch, django_capture_on_commit_callbacks, django_assert_num_queries
):

    from scoring import handlers, tasks

    queued = []
    monkeypatch.setattr(tasks.score_changed, "apply_async", lambda **kw: queued.append(kw))
    handlers.clear_queued()
    client = api_as(marketer)
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(10):
        for n in range(2):
            assert client.post(URL, {"email": f"l{n}@acme.io"}, format="json").status_code == 201
    assert queued == [{"countdown": handlers.CHANGED_EVERY_SECONDS}]
