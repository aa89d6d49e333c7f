"""The lead definition keeps its versions: what changed between two, and restoring one."""

import copy

import pytest

from scoring import services
from scoring.models import RescoreRun, ScoringModel
from scoring.selectors import definition_changes
from tests.conftest import CURRENT_TIME
from tests.scoring_helpers import SIMPLE


def _second():
    """SIMPLE, changed in every part."""
    definition = copy.deepcopy(SIMPLE)
    definition["rules"][0]["points"] = 30  # VP title 15 → 30
    definition["rules"][1].update(field="budget", max=5000)  # Mid-size: another field
    del definition["rules"][3]  # Free mail
    definition["rules"].append(
        {"name": "C-level", "field": "title", "op": "contains", "value": "Chief", "points": 15}
    )
    definition["engagement"][1]["cap"] = None  # demo_request: no cap
    definition["engagement"].append({"event": "webinar_attended", "points": 20, "cap": 40})
    definition["half_life_days"] = 14
    definition["grades"][1]["min_fit"] = 30
    definition["mql"].update(min_engagement=60, need_known=False)
    definition["disqualify"].append(
        {"name": "Competitors", "field": "company_domain", "op": "in", "value": ["rival.io"]}
    )
    return definition


@pytest.fixture
def versions(marketer):
    first = services.create_version(definition=SIMPLE, by=marketer, now=CURRENT_TIME)
    second = services.create_version(
        definition=_second(), by=marketer, note="Spring tune-up", now=CURRENT_TIME
    )
    return first, second


def test_the_changes_list_what_was_added_removed_and_changed_part_by_part():
    changes = definition_changes(SIMPLE, _second())
    by_name = {(c["part"], c["change"], c["name"]): c for c in changes}
    assert by_name[("rules", "changed", "VP title")]["fields"] == [
        {"field": "points", "old": 15, "new": 30}
    ]
    assert by_name[("rules", "changed", "Mid-size")]["fields"] == [
        {"field": "field", "old": "company_size", "new": "budget"},
        {"field": "max", "old": 2000, "new": 5000},
    ]
    assert ("rules", "removed", "Free mail") in by_name
    assert by_name[("rules", "added", "C-level")]["item"]["value"] == "Chief"
    assert by_name[("engagement", "changed", "demo_request")]["fields"] == [
        {"field": "cap", "old": 40, "new": None}
    ]
    assert ("engagement", "added", "webinar_attended") in by_name
    assert by_name[("half_life_days", "changed", "half_life_days")]["fields"] == [
        {"field": "half_life_days", "old": 30, "new": 14}
    ]
    assert by_name[("grades", "changed", "B")]["fields"] == [
        {"field": "min_fit", "old": 25, "new": 30}
    ]
    assert by_name[("mql", "changed", "mql")]["fields"] == [
        {"field": "min_engagement", "old": 50, "new": 60},
        {"field": "need_known", "old": True, "new": False},
    ]
    assert ("disqualify", "added", "Competitors") in by_name
    assert len(changes) == 10


def test_the_same_value_written_otherwise_is_no_change():
    """The editor saves numbers as text ("40"), the API as numbers; a default left out is
    the default."""
    edited = copy.deepcopy(SIMPLE)
    edited["rules"][0]["points"] = "15"
    edited["rules"][0]["applies_to"] = "fit"
    edited["mql"]["min_engagement"] = "50.0"
    assert definition_changes(SIMPLE, edited) == []
    assert definition_changes(SIMPLE, copy.deepcopy(SIMPLE)) == []


def test_rules_of_the_same_name_are_told_apart_by_their_order():
    twice = copy.deepcopy(SIMPLE)
    twice["rules"].append({**SIMPLE["rules"][0], "points": 5})
    changes = definition_changes(SIMPLE, twice)
    assert [(c["change"], c["name"]) for c in changes] == [("added", "VP title #2")]


@pytest.mark.django_db
def test_the_history_shows_each_version_with_what_changed_to_everyone(client, rep_ann, versions):
    client.force_login(rep_ann)  # sales read the lead definition, so its history too
    html = client.get("/scoring/versions/").content.decode()
    assert "v2" in html and "Spring tune-up" in html and "v1" in html
    for words in [
        "Changed rule “VP title”: points 15 → 30",
        "Changed rule “Mid-size”: field Company size → Budget (BANT); maximum 2000 → 5000",
        "Removed rule “Free mail” (Free-mail address is yes, -10 fit)",
        "Added rule “C-level”: Title contains “Chief”, +15 fit",
        "Changed engagement points for Demo request: cap per 30 days 40 → none",
        "Added engagement points for Webinar attended: 20 points, cap 40 per 30 days",
        "Changed the half-life: 30 → 14 days",
        "Changed grade B: minimum fit 25 → 30",
        "Changed the MQL rule: minimum engagement 50 → 60; BANT need known yes → no",
        "Added disqualification rule “Competitors”: Company domain is one of rival.io",
        "The first version.",
    ]:
        assert words in html, words


@pytest.mark.django_db
def test_a_version_shows_its_definition_and_compares_with_any_other(client, rep_ann, versions):
    client.force_login(rep_ann)
    page = client.get("/scoring/versions/1/?against=2").content.decode()
    assert "Changes from v2 to v1" in page
    assert "Changed rule “VP title”: points 30 → 15" in page
    assert "Added rule “Free mail”" in page and "Removed rule “C-level”" in page
    assert "Title contains “VP”" in page  # the definition of v1 itself
    assert "Restore" not in page  # sales may not restore
    assert client.get("/scoring/versions/2/").content.decode().count("Changes from v1 to v2")
    assert client.get("/scoring/versions/9/").status_code == 404


@pytest.mark.django_db
def test_marketing_restores_an_older_version_as_a_new_one_and_rescores(
    client, marketer, versions, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    assert "Restore this version" in client.get("/scoring/versions/1/").content.decode()
    assert "Restore this version" not in client.get("/scoring/versions/2/").content.decode()
    with django_capture_on_commit_callbacks() as queued:
        response = client.post("/scoring/versions/1/restore/")
    restored = ScoringModel.objects.get(is_active=True)
    assert (restored.version, restored.definition) == (3, SIMPLE)
    assert restored.note == "Restored version 1" and restored.created_by == marketer
    run = RescoreRun.objects.get(model=restored)
    assert response.status_code == 302 and response.url == f"/scoring/runs/{run.pk}/"
    assert len(queued) == 1  # the rescoring of every lead, sent on commit
    assert definition_changes(SIMPLE, restored.definition) == []


@pytest.mark.django_db
def test_only_marketing_restores_and_only_by_post(client, rep_ann, manager, marketer, versions):
    for user in (rep_ann, manager):
        client.force_login(user)
        assert client.post("/scoring/versions/1/restore/").status_code == 403
    client.force_login(marketer)
    assert client.get("/scoring/versions/1/restore/").status_code == 405
    assert client.post("/scoring/versions/2/restore/").status_code == 302  # active: nothing
    assert ScoringModel.objects.count() == 2


@pytest.mark.django_db
def test_the_api_lists_each_version_with_its_changes(rep_ann, api_as, versions):
    listed = api_as(rep_ann).get("/api/v1/scoring-models/").json()
    assert [m["version"] for m in listed] == [2, 1]
    assert listed[1]["changes"] is None  # the first version
    assert {"part": "rules", "change": "changed", "name": "VP title",
            "fields": [{"field": "points", "old": 15, "new": 30}],
            "item": _second()["rules"][0]} in listed[0]["changes"]  # fmt: skip
