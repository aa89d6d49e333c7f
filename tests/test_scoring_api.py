"""Scoring through the API: events, the score explanation, model versions, the what-if."""

import copy
from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from leads.models import Activity
from scoring.models import RescoreRun, ScoringModel
from tests.helpers import make_lead
from tests.scoring_helpers import SIMPLE, activate


@pytest.mark.django_db
def test_an_event_is_recorded_once_per_key_and_scored(
    marketer, api_as, django_capture_on_commit_callbacks
):
    activate()
    lead = make_lead(now=timezone.now() - timedelta(days=1))
    client = api_as(marketer)
    url = f"/api/v1/leads/{lead.pk}/events/"
    at = (timezone.now() - timedelta(minutes=1)).isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(
            url, {"type": "demo_request", "occurred_at": at, "key": "k1"}, format="json"
        )
    again = client.post(
        url, {"type": "demo_request", "occurred_at": at, "key": "k1"}, format="json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert Activity.objects.filter(lead=lead, kind="demo_request").count() == 1
    score = client.get(f"/api/v1/leads/{lead.pk}/score/").json()
    assert score["engagement"] == pytest.approx(40, abs=0.1) and score["score"] == 40
    assert {"rule": "Demo request × 1"}.items() <= score["contributions"][0].items()
    assert set(score) >= {"score", "grade", "fit", "engagement", "contributions"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "tweet", "occurred_at": "2026-11-01T10:00:00Z"}, "type"),
        ({"type": "page_view", "occurred_at": "yesterday"}, "occurred_at"),
        ({"type": "page_view", "occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "2026-11-01T10:00:00Z"}, "type"),
    ],
)
def test_bad_events_are_400_with_the_field_and_record_nothing(marketer, api_as, payload, field):
    lead = make_lead()
    response = api_as(marketer).post(f"/api/v1/leads/{lead.pk}/events/", payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not Activity.objects.exclude(kind="captured").exists()


@pytest.mark.django_db
def test_events_and_scores_of_an_invisible_lead_are_404(rep_ann, rep_bob, api_as):
    lead = make_lead(owner=rep_bob)
    client = api_as(rep_ann)
    event = {"type": "page_view", "occurred_at": "2026-11-01T10:00:00Z"}
    assert client.post(f"/api/v1/leads/{lead.pk}/events/", event, format="json").status_code == 404
    assert client.get(f"/api/v1/leads/{lead.pk}/score/").status_code == 404
    bulk = client.post("/api/v1/events/", [{**event, "lead": lead.pk}], format="json")
    assert bulk.status_code == 404
    assert not Activity.objects.exclude(kind__in=["captured", "assigned"]).exists()


@pytest.mark.django_db
def test_a_batch_of_events_is_all_or_nothing(marketer, api_as):
    a, b = make_lead(), make_lead()
    at = "2026-11-01T10:00:00Z"
    client = api_as(marketer)
    bad = client.post(
        "/api/v1/events/",
        [{"lead": a.pk, "type": "page_view", "occurred_at": at},
         {"lead": b.pk, "type": "nope", "occurred_at": at}],
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400 and "type" in bad.json()["1"]  # errors by list index
    assert not Activity.objects.filter(kind="page_view").exists()
    ok = client.post(
        "/api/v1/events/",
        [{"lead": a.pk, "type": "page_view", "occurred_at": at, "key": "x"},
         {"lead": a.pk, "type": "page_view", "occurred_at": at, "key": "x"},
         {"lead": b.pk, "type": "email_open", "occurred_at": at}],
        format="json",
    )  # fmt: skip
    assert ok.status_code == 201 and ok.json() == {"recorded": 2, "duplicates": 1}


@pytest.mark.django_db
def test_saving_a_model_makes_a_new_active_version_and_queues_a_rescore(
    marketer, rep_ann, api_as, django_capture_on_commit_callbacks
):
    activate()
    changed = copy.deepcopy(SIMPLE)
    changed["rules"][0]["points"] = 25
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_as(marketer).post(
            "/api/v1/scoring-models/",
            {"definition": changed, "note": "VPs matter more"},
            format="json",
        )
    assert response.status_code == 201, response.json()
    assert response.json()["version"] == 2 and response.json()["is_active"]
    assert ScoringModel.objects.get(version=1).is_active is False
    assert RescoreRun.objects.get().status == "pending" and len(callbacks) == 1
    listed = api_as(rep_ann).get("/api/v1/scoring-models/").json()  # sales may read it
    assert [m["version"] for m in listed] == [2, 1]
    assert (
        api_as(rep_ann)
        .post("/api/v1/scoring-models/", {"definition": SIMPLE}, format="json")
        .status_code
        == 403
    )


@pytest.mark.django_db
def test_a_bad_model_is_400_with_its_places_and_saves_nothing(marketer, api_as):
    broken = copy.deepcopy(SIMPLE)
    broken["rules"][0]["field"] = "shoe_size"
    broken["grades"][1]["min_fit"] = 99
    response = api_as(marketer).post(
        "/api/v1/scoring-models/", {"definition": broken}, format="json"
    )
    assert response.status_code == 400
    assert {"rules.0.field", "grades.1.min_fit"} <= set(response.json()["definition"])
    assert not ScoringModel.objects.exists()


@pytest.mark.django_db
def test_the_what_if_counts_who_would_change_with_examples(marketer, api_as, now):
    from scoring import services

    activate()
    vp = make_lead(title="VP Sales", budget=1, need="Routing", email="vp@acme.io")
    make_lead(title="Student", email="kid@uni.edu")
    services.rescore_all(now=now)
    draft = copy.deepcopy(SIMPLE)
    draft["mql"]["min_engagement"] = 0  # every B+ lead with a need becomes MQL
    result = (
        api_as(marketer)
        .post("/api/v1/scoring-models/what-if/", {"definition": draft}, format="json")
        .json()
    )
    assert result["newly_mql"]["count"] == 1
    assert result["newly_mql"]["examples"][0]["email"] == "vp@acme.io"
    assert result["leave_mql"]["count"] == 0
    assert result["disqualified"]["count"] == 0  # the student is disqualified already
    vp.refresh_from_db()
    assert vp.stage == "new"  # a what-if changes nothing


def _simple_with(**changes):
    definition = copy.deepcopy(SIMPLE)
    definition.update(changes)
    return definition


def _rule_points(points):
    definition = copy.deepcopy(SIMPLE)
    definition["rules"][2]["points"] = points
    return definition


# Definitions that once passed validation and then answered 500 (or saved a model that
# stopped every rescoring), with the place the 400 now names.
UNUSABLE = [
    (_rule_points(1e10), "rules.2.points"),
    (_simple_with(half_life_days=0.001), "half_life_days"),
    (_simple_with(mql=[1]), "mql"),
    (_simple_with(grades=5), "grades"),
    (_simple_with(rules=5), "rules"),
    ([SIMPLE], "definition"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("definition", "place"), UNUSABLE)
def test_an_unusable_definition_is_a_400_naming_its_place_on_the_what_if(
    marketer, api_as, definition, place
):
    make_lead(title="VP Sales", budget=1)
    response = api_as(marketer).post(
        "/api/v1/scoring-models/what-if/", {"definition": definition}, format="json"
    )
    assert response.status_code == 400, response.content
    assert place in response.json()["definition"], response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(("definition", "place"), UNUSABLE)
def test_an_unusable_definition_is_a_400_naming_its_place_and_saves_nothing(
    marketer, api_as, definition, place
):
    response = api_as(marketer).post(
        "/api/v1/scoring-models/", {"definition": definition}, format="json"
    )
    assert response.status_code == 400, response.content
    assert place in response.json()["definition"], response.json()
    assert not ScoringModel.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [[{"definition": SIMPLE}], "SIMPLE", {}])
def test_a_what_if_body_that_is_no_object_with_a_definition_is_a_400(marketer, api_as, body):
    response = api_as(marketer).post("/api/v1/scoring-models/what-if/", body, format="json")
    assert response.status_code == 400, response.content


@pytest.mark.django_db
def test_the_schema_documents_the_what_if_and_scoring_adds_no_schema_warning(client):
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert not [p for p in problems if "scoring/" in p], problems
    schema = yaml.safe_load(client.get("/api/schema/").content)
    what_if = schema["paths"]["/api/v1/scoring-models/what-if/"]["post"]
    request = what_if["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    response = what_if["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    assert "definition" in components[request.rsplit("/", 1)[1]]["required"]
    assert {"newly_mql", "leave_mql", "disqualified"} <= set(
        components[response.rsplit("/", 1)[1]]["properties"]
    )


@pytest.mark.django_db
def test_the_explanation_says_when_a_cap_held_an_event_types_points_back(
    marketer, api_as, django_capture_on_commit_callbacks
):
    """A second demo request adds nothing under a cap of 40 per 30 days: the explanation
    says so, instead of leaving two demo requests worth 40 points unexplained."""
    activate()
    lead = make_lead(now=timezone.now() - timedelta(days=1))
    client = api_as(marketer)
    at = timezone.now() - timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        for kind, key in [("demo_request", "a"), ("demo_request", "b"), ("page_view", "c")]:
            event = {"type": kind, "occurred_at": at.isoformat(), "key": key}
            client.post(f"/api/v1/leads/{lead.pk}/events/", event, format="json")
    contributions = {
        c["rule"]: c for c in client.get(f"/api/v1/leads/{lead.pk}/score/").json()["contributions"]
    }
    demo = contributions["Demo request × 2"]
    assert demo["points"] == pytest.approx(40, abs=0.1)
    assert (demo["capped"], demo["cap"], demo["held_back"]) == (True, 40, 40)
    assert demo["note"] == "capped at 40 per 30 days (40 points held back)"
    page_view = contributions["Page view × 1"]  # no cap in SIMPLE
    assert (page_view["capped"], page_view["cap"], page_view["held_back"]) == (False, None, 0)
