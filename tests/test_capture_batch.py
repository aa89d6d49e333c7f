"""POST /api/v1/leads/batch/: up to 1,000 captures in one request, each answered as
capturing it alone would be (201, 200 or 400), set-based."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from leads.api.serializers import LeadSerializer
from leads.models import Campaign, Lead
from leads.services import define_custom_field
from tests.helpers import announcements

URL = "/api/v1/leads/batch/"


@pytest.fixture
def announced():
    with announcements("leads_changed_in_bulk") as seen:
        yield seen


@pytest.mark.django_db
def test_a_batch_answers_each_lead_in_input_order_and_refuses_only_the_bad_ones(
    marketer, api_as, announced, django_capture_on_commit_callbacks
):
    Campaign.objects.create(code="spring", name="Spring")
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    client = api_as(marketer)
    known = client.post("/api/v1/leads/", {"email": "old@acme.io"}, format="json").json()["id"]
    batch = [
        {"email": "Ada@Acme.io ", "first_name": "Ada", "campaign": "spring"},
        {"email": "not-an-email"},
        {"email": "old@acme.io", "title": "CTO", "custom": {"seats": "5"}},
        {"email": "ada@acme.io", "last_name": "Lovelace", "phone": "+49 30 1234567"},
        {"phone": "030 1234567", "country": "DE", "company": "Acme"},  # Ada, by her phone
        {"email": "bo@acme.io", "stage": "mql"},  # no lead starts in MQL
        {"email": "cy@acme.io", "stage": "nurturing", "campaign": "no-such-campaign"},
        {"external_id": "crm-1", "source": "referral", "stage": "nurturing"},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, batch, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 400, 200, 200, 200, 400, 400, 201]
    ada = Lead.objects.get(email="ada@acme.io")
    assert results[0]["id"] == results[3]["id"] == results[4]["id"] == ada.pk
    assert results[2]["id"] == known
    assert "email" in results[1]["errors"] and "campaign" in results[6]["errors"]
    assert results[5]["errors"] == {"stage": ["A new lead starts as New or Nurturing, not MQL."]}
    assert (ada.first_name, ada.last_name, ada.phone, ada.company) == (
        "Ada", "Lovelace", "+49301234567", "Acme"
    )  # fmt: skip
    assert ada.campaign.code == "spring" and ada.stage == "new"
    old = Lead.objects.get(pk=known)
    assert old.title == "CTO" and old.custom == {"seats": 5}
    crm = Lead.objects.get(external_id="crm-1")
    assert crm.stage == "nurturing" and crm.stage_changes.get().to_stage == "nurturing"
    assert Lead.objects.count() == 3
    assert announced == [{"lead_ids": sorted([ada.pk, known, crm.pk]), "now": announced[0]["now"]}]


@pytest.mark.django_db
def test_an_external_id_of_a_lead_with_another_email_is_that_items_400(marketer, api_as):
    client = api_as(marketer)
    first = client.post(URL, [{"external_id": "crm-1", "email": "a@acme.io"}], format="json")
    lead = first.json()["results"][0]["id"]
    response = client.post(
        URL,
        [{"external_id": "crm-1", "email": "b@acme.io"}, {"email": "c@acme.io"}],
        format="json",
    )
    results = response.json()["results"]
    assert results[0]["status"] == 400
    assert results[0]["errors"] == {
        "external_id": [f"External id 'crm-1' already belongs to lead {lead} with another email "
                        "address."]
    }  # fmt: skip
    assert results[1]["status"] == 201
    assert not Lead.objects.filter(email="b@acme.io").exists()


@pytest.mark.django_db
def test_only_marketing_captures_in_batches_of_at_most_a_thousand(marketer, rep_ann, api_as):
    assert api_as(rep_ann).post(URL, [{"email": "a@acme.io"}], format="json").status_code == 403
    client = api_as(marketer)
    too_many = [{"email": f"l{n}@acme.io"} for n in range(1001)]
    assert client.post(URL, too_many, format="json").status_code == 400
    assert client.post(URL, {"email": "a@acme.io"}, format="json").status_code == 400
    assert client.post(URL, [], format="json").status_code == 400
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_a_batch_of_a_thousand_takes_a_fixed_number_of_queries(
    marketer, api_as, django_assert_max_num_queries
):
    client = api_as(marketer)
    batch = [{"email": f"l{n}@acme.io", "first_name": "L"} for n in range(1000)]
    with django_assert_max_num_queries(80):
        response = client.post(URL, batch, format="json")
    assert {r["status"] for r in response.json()["results"]} == {201}
    assert Lead.objects.count() == 1000


def test_items_that_are_not_objects_are_refused_one_by_one_with_field_messages(api_as, marketer):
    answer = api_as(marketer).post(
        "/api/v1/leads/batch/", [None, 5, "x", {"email": "ok@example.com"}], format="json"
    )
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [400, 400, 400, 201]
    assert all(isinstance(r["errors"], dict) for r in results[:3])


# --- the serializer's short reading equals DRF's own ------------------------------------

_NAMES = ["email", "first_name", "phone", "country", "source", "stage", "stage_reason",
          "consent", "external_id", "converted", "budget", "company_size", "time_zone",
          "campaign", "custom", "website", "unknown"]  # fmt: skip
_AWKWARD = ["", "  ", " x ", " new", "x" * 300, "a\x00b", "\ud800x", "Müller", "Ada@Acme.io ",
            "not-an-email", "ada@acme.io", "mql", "new", "webinar", "granted", "DE", "de",
            "+49 30 1234567", "030 1234567", "Europe/Berlin", "spring", "12,500.50", "5",
            "true"]  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(_AWKWARD),
    st.text(st.sampled_from(["a", "Z", " ", "é", "@", ".", "+", "4", "\x00", "\ud800"])),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 10**12),
        st.floats(allow_nan=False, allow_infinity=False),
        st.lists(st.sampled_from(_AWKWARD), max_size=2),
        st.dictionaries(st.sampled_from(["seats", "x"]), st.sampled_from(_AWKWARD), max_size=2),
    ),
)


class _DRFReading(LeadSerializer):
    """LeadSerializer reading every field through DRF's generic loop."""

    def _read_fields(self, data):
        return serializers.Serializer.to_internal_value(self, data)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(st.dictionaries(st.sampled_from(_NAMES), _VALUES, max_size=8), max_size=4))
def test_the_serializer_reads_every_value_as_drf_does_errors_included(items, spring_and_seats):
    """The short way of reading plain values (`_read_quickly`) gives the same validated
    data and the same errors, word for word and in order, as DRF's field by field path;
    the batch's serializer reads many items, a single capture's one."""
    context = {"campaigns": {"spring": Campaign.objects.get(code="spring")}}
    ours, theirs = LeadSerializer(context=context), _DRFReading(context=context)
    for item in items:
        answers = []
        for reader in (ours, theirs):
            try:  # the fields as read (before `validate`, which needs an identity)
                answers.append(("valid", reader.to_internal_value(item)))
            except serializers.ValidationError as exc:
                answers.append(("errors", json.dumps(exc.detail, sort_keys=False)))
        assert answers[0] == answers[1]
        single = [LeadSerializer(data=item, context=context), _DRFReading(data=item)]
        assert single[0].is_valid() == single[1].is_valid()
        assert json.dumps(single[0].errors) == json.dumps(single[1].errors)


@pytest.fixture
def spring_and_seats(db):
    Campaign.objects.create(code="spring", name="Spring")
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
