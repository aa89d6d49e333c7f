"""Scoring pages: everyone reads the lead definition; marketing edits it with a what-if."""

import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.services import record_event
from scoring import forms, services
from scoring.models import RescoreRun, ScoringModel
from tests.helpers import make_lead
from tests.scoring_helpers import SIMPLE, activate


def _post_data(definition):
    """What the editor's form posts for `definition` (the rows, flattened)."""
    rows = forms.rows(definition)
    data = {"half_life_days": str(rows["half_life_days"])}
    for i, r in enumerate(rows["rules"]):
        for key in forms.RULE_KEYS:
            value = r.get(key)
            data[f"rule-{i}-{key}"] = "" if value is None else str(value)
    for i, e in enumerate(rows["engagement"]):
        for key in ("event", "points", "cap"):
            value = e.get(key)
            data[f"eng-{i}-{key}"] = "" if value is None else str(value)
    for i, r in enumerate(rows["disqualify"]):
        for key in ("name", "field", "op", "value"):
            value = r.get(key)
            data[f"dq-{i}-{key}"] = "" if value is None else str(value)
    for g in rows["grades"]:
        data[f"grade-{g['grade']}"] = "" if g["min_fit"] is None else str(g["min_fit"])
    mql = rows["mql"]
    data["mql-min_grade"] = mql["min_grade"]
    data["mql-min_engagement"] = str(mql["min_engagement"])
    if mql["need_known"]:
        data["mql-need_known"] = "on"
    return data


def test_the_editor_form_round_trips_a_definition():
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(_post_data(SIMPLE))
    parsed = forms.definition_from_post(query)
    assert [r["name"] for r in parsed["rules"]] == [r["name"] for r in SIMPLE["rules"]]
    assert parsed["rules"][3]["value"] is True  # free_mail equals true
    assert parsed["mql"] == {"min_grade": "B", "min_engagement": "50", "need_known": True}


@pytest.mark.django_db
def test_everyone_reads_the_definition_and_only_marketing_edits(client, rep_ann, marketer):
    activate()
    client.force_login(rep_ann)
    page = client.get("/scoring/").content.decode()
    assert "grade is <strong>B or better</strong>" in page and "Edit (creates" not in page
    assert client.get("/scoring/edit/").status_code == 403
    assert client.post("/scoring/what-if/", {}).status_code == 403
    client.force_login(marketer)
    assert "Edit (creates version 2)" in client.get("/scoring/").content.decode()


@pytest.mark.django_db
def test_saving_the_editor_creates_a_version_and_shows_the_rescoring(
    client, marketer, django_capture_on_commit_callbacks, eager_celery
):
    activate()
    client.force_login(marketer)
    data = _post_data(SIMPLE)
    data["rule-0-points"] = "40"
    data["note"] = "VPs buy"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/scoring/edit/", data, follow=True)
    model = ScoringModel.objects.get(is_active=True)
    assert (model.version, model.note, model.definition["rules"][0]["points"]) == (
        2,
        "VPs buy",
        "40",
    )
    run = RescoreRun.objects.get(model=model)
    assert response.redirect_chain[-1][0] == f"/scoring/runs/{run.pk}/"
    run.refresh_from_db()
    assert run.status == "done"  # the task ran on commit (eagerly, in this test)


@pytest.mark.django_db
def test_a_bad_edit_shows_the_problems_and_saves_nothing(client, marketer):
    activate()
    client.force_login(marketer)
    data = _post_data(SIMPLE)
    data["rule-0-points"] = "lots"
    data["grade-B"] = "60"
    response = client.post("/scoring/edit/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "rules.0.points" in html and "grades.1.min_fit" in html
    assert ScoringModel.objects.count() == 1


@pytest.mark.django_db
def test_the_what_if_partial_counts_changes(client, marketer, now):
    from scoring import services

    activate()
    make_lead(title="VP Sales", budget=1, need="Routing")
    services.rescore_all(now=now)
    client.force_login(marketer)
    data = _post_data(SIMPLE)
    data["mql-min_engagement"] = "0"
    html = client.post("/scoring/what-if/", data).content.decode()
    assert 'id="whatif-newly-mql">1<' in html


@pytest.mark.django_db
def test_the_lead_panel_explains_the_score(client, marketer, rep_ann, rep_bob):
    activate()
    lead = make_lead(title="VP Sales", owner=rep_bob)
    from scoring import services

    services.score_lead(lead_id=lead.pk, now=timezone.now())
    client.force_login(marketer)
    html = client.get(f"/scoring/leads/{lead.pk}/panel/").content.decode()
    assert "VP title" in html and "+15" in html and "needs" in html
    client.force_login(rep_ann)
    assert client.get(f"/scoring/leads/{lead.pk}/panel/").status_code == 404


@pytest.mark.django_db
def test_an_out_of_range_edit_shows_its_places_and_saves_nothing(client, marketer):
    """Points of 1e10 and a half-life of 0.001 days passed validation, were saved, and
    then stopped the rescoring (or the what-if) with a database error."""
    activate()
    make_lead(title="VP Sales", budget=1)
    client.force_login(marketer)
    data = _post_data(SIMPLE)
    data["rule-2-points"] = "1e10"
    data["half_life_days"] = "0.001"
    for url in ("/scoring/what-if/", "/scoring/edit/"):
        response = client.post(url, data)
        assert response.status_code == 400
        html = response.content.decode()
        assert "rules.2.points" in html and "half_life_days" in html
        assert "Rule 3 points <code>rules.2.points</code>: Use a number from -1,000" in html
        assert "Half-life <code>half_life_days</code>: Use a number from 1 to 3,650." in html
    assert ScoringModel.objects.count() == 1


@pytest.mark.django_db
def test_the_lead_panel_says_when_a_cap_held_points_back(client, marketer):
    activate()
    now = timezone.now()
    lead = make_lead(now=now - timedelta(days=1))
    for minutes in (3, 2):
        at = now - timedelta(minutes=minutes)
        record_event(lead_id=lead.pk, type="demo_request", occurred_at=at, now=now)
    services.rank_events(lead_ids=[lead.pk])
    services.score_lead(lead_id=lead.pk, now=now)
    client.force_login(marketer)
    html = client.get(f"/scoring/leads/{lead.pk}/panel/").content.decode()
    assert "Demo request × 2" in html
    assert "capped at 40 per 30 days (40 points held back)" in html


def _with_custom_rule():
    from leads.services import define_custom_field

    define_custom_field(name="mwvnun0", label="Seats bought", type="number", choices=[])
    definition = copy.deepcopy(SIMPLE)
    definition["rules"].append(
        {"name": "Many seats", "field": "custom.mwvnun0", "op": "range", "min": 10, "points": 5}
    )
    return activate(definition)


def _html(client, user, url: str) -> str:
    client.force_login(user)
    return client.get(url).content.decode()


@pytest.mark.django_db
def test_the_editor_shows_field_and_test_labels_not_raw_names(client, marketer):
    _with_custom_rule()
    html = _html(client, marketer, "/scoring/edit/")
    assert '<option value="company_size" selected>Company size</option>' in html
    assert '<option value="custom.mwvnun0" selected>Seats bought</option>' in html
    assert '<option value="consent_status" selected>Email consent</option>' in html
    assert '<option value="range" selected>is between</option>' in html
    for raw in ("company_size", "custom.mwvnun0", "consent_status", "is_set", "free_mail"):
        assert f">{raw}<" not in html  # no option shows a raw name


@pytest.mark.django_db
def test_the_editor_keeps_a_rule_on_a_field_that_no_longer_exists_visible(client, marketer):
    """A custom field deleted since the rule was written: the select shows it (and saving
    names the problem) instead of silently switching the rule to the first field."""
    definition = copy.deepcopy(SIMPLE)
    definition["rules"][0]["field"] = "custom.gone"
    activate(definition)
    html = _html(client, marketer, "/scoring/edit/")
    assert '<option value="custom.gone" selected>custom.gone (no such field)</option>' in html


@pytest.mark.django_db
def test_the_lead_definition_page_shows_field_labels(client, rep_ann):
    _with_custom_rule()
    html = _html(client, rep_ann, "/scoring/")
    assert "Company size between 200 and 2000" in html
    assert "Seats bought ≥ 10" in html and "Email consent is “withdrawn”" in html
    assert "Free-mail address is yes" in html and "Title contains “student”" in html
    assert "company_size" not in html and "custom.mwvnun0" not in html
