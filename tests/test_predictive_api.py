"""The predictive score in the API: `GET /api/v1/predictive/`, `POST
/api/v1/predictive/train/` (marketing), and `predictive_score` on the lead JSON, the
lead list's filter and sort."""

import pytest

from bench.predictive import populate
from leads.models import Lead
from scoring.models import TrainingRun
from scoring.services import predictive
from tests.helpers import committed, make_lead

pytestmark = pytest.mark.django_db
CONTRACT = {"status", "outcomes", "auc", "rule_auc", "trained_at", "active", "factors"}


def test_before_any_outcome_the_status_says_so_and_nothing_is_scored(api_as, marketer, now):
    lead = make_lead(now=now)
    body = api_as(marketer).get("/api/v1/predictive/").json()
    assert set(body) >= CONTRACT
    assert body["status"] == "no_outcomes" and body["active"] is False
    assert body["auc"] is None and body["factors"] == [] and body["minimum_per_class"] == 50
    assert api_as(marketer).get(f"/api/v1/leads/{lead.pk}/").json()["predictive_score"] is None


def test_a_rep_may_read_but_not_train(api_as, rep_ann):
    api = api_as(rep_ann)
    assert api.get("/api/v1/predictive/").status_code == 200
    assert api.post("/api/v1/predictive/train/").status_code == 403
    assert not TrainingRun.objects.exists()


def test_training_is_queued_once_however_often_it_is_asked(api_as, marketer):
    api = api_as(marketer)
    with committed():
        first = api.post("/api/v1/predictive/train/")
    again = api.post("/api/v1/predictive/train/")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and first.json()["status"] == "pending"
    assert api.get("/api/v1/predictive/").json()["status"] == "training"


def test_a_trained_model_is_shown_with_its_factors_and_scores_on_leads(api_as, marketer, now):
    populate(2400, labelled=2000, now=now)
    run = predictive.request_training(by=marketer, now=now)
    predictive.run_training(run_id=run.pk, now=now)
    api = api_as(marketer)
    body = api.get("/api/v1/predictive/").json()
    assert body["status"] == "active" and body["active"] is True
    assert body["outcomes"] == 2000 and body["auc"] > body["rule_auc"]
    assert body["run"]["status"] == "done" and body["split"] == "stratified"
    assert {"feature", "weight"} == set(body["factors"][0])
    assert sum(b["count"] for b in body["calibration"]) == body["held_out"]

    high = api.get("/api/v1/leads/", {"sort": "predictive", "predictive_min": 50}).json()
    scores = [lead["predictive_score"] for lead in high["results"]]
    assert scores and min(scores) >= 50 and scores == sorted(scores, reverse=True)
    low = api.get("/api/v1/leads/", {"sort": "-predictive", "page_size": 5}).json()
    assert [lead["predictive_score"] for lead in low["results"]] == sorted(
        Lead.objects.values_list("predictive_score", flat=True)
    )[:5]
    second = api.get(high["next"]).json() if high["next"] else {"results": []}
    assert all(lead["predictive_score"] <= scores[-1] for lead in second["results"])


def test_the_predictive_score_cannot_be_written_through_the_api(api_as, marketer, now):
    lead = make_lead(now=now)
    response = api_as(marketer).patch(
        f"/api/v1/leads/{lead.pk}/", {"predictive_score": 99}, format="json"
    )
    assert response.status_code == 400 and "predictive_score" in response.json()
    lead.refresh_from_db()
    assert lead.predictive_score is None


def test_a_bad_page_link_of_the_predictive_sort_is_a_400(api_as, marketer):
    import base64

    cursor = base64.b64encode(b"p=abc&o=0").decode()
    response = api_as(marketer).get("/api/v1/leads/", {"sort": "predictive", "cursor": cursor})
    assert response.status_code == 400


def test_the_page_explains_what_it_needs_and_is_for_marketing_and_managers(
    client, marketer, manager, rep_ann, now
):
    populate(30, labelled=30, now=now)
    client.force_login(marketer)
    page = client.get("/scoring/predictive/").content.decode()
    assert "Not enough outcomes yet" in page and "at least <strong>50 leads that converted" in page
    assert "Train now" in page
    client.force_login(manager)
    page = client.get("/scoring/predictive/").content.decode()
    assert "Not enough outcomes yet" in page and "Train now" not in page
    assert client.post("/scoring/predictive/train/").status_code == 403
    client.force_login(rep_ann)
    assert client.get("/scoring/predictive/").status_code == 403


def test_a_refused_training_says_why_on_the_page(client, marketer, now):
    populate(30, labelled=30, now=now)
    client.force_login(marketer)
    with committed():
        response = client.post("/scoring/predictive/train/")
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    predictive.run_training(run_id=run.pk, now=now)
    page = client.get("/scoring/predictive/").content.decode()
    assert "The last training was refused" in page and "there are" in page
    assert api_status(client) == "too_few"


def api_status(client):
    return client.get("/api/v1/predictive/").json()["status"]
