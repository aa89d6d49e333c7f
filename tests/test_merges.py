"""Duplicates: suggestions, a field-by-field merge that keeps both histories, and an
unmerge that restores both leads exactly."""

from datetime import timedelta

import pytest

from leads import hooks
from leads.exceptions import InvalidTransition
from leads.models import Activity, FieldChange, Lead, LeadMerge, StageChange
from leads.selectors import duplicate_suggestions
from leads.services import capture_lead, log_touch, move_stage
from leads.services.merges import merge_leads, unmerge
from tests.helpers import make_lead


def _state(lead_id):
    lead = Lead.objects.get(pk=lead_id)
    return {
        "fields": {f: getattr(lead, f) for f in ("email", "phone", "title", "company", "stage")},
        "custom": lead.custom,
        "merged_into": lead.merged_into_id,
        "activities": sorted(Activity.objects.filter(lead_id=lead_id).values_list("pk", flat=True)),
        "stages": sorted(StageChange.objects.filter(lead_id=lead_id).values_list("pk", flat=True)),
    }


@pytest.fixture
def twins(marketer, now):
    """Ada at work and Ada on her private address: the same person, two leads."""
    work = make_lead(
        email="ada@acme.io", first_name="Ada", last_name="Lovelace", company="Acme",
        phone="+442079460958", title="", custom={"tier": "Gold"}, now=now,
    )  # fmt: skip
    home = make_lead(
        email="ada.lovelace@gmail.com", first_name="Ada", last_name="Lovelace",
        phone="+442079460958", title="CTO", custom={"tier": "Silver", "seats": 5},
        now=now + timedelta(hours=1),
    )  # fmt: skip
    log_touch(lead_id=home.pk, kind="call", body="Asked for pricing", by=marketer,
              now=now + timedelta(hours=2))  # fmt: skip
    move_stage(lead_id=home.pk, to_stage="nurturing", by=marketer, now=now + timedelta(hours=3))
    return work, home


@pytest.mark.django_db
def test_likely_duplicates_are_suggested_with_the_reason(marketer, twins):
    work, home = twins
    make_lead(email="someone@else.io", first_name="Bo")
    pairs = duplicate_suggestions(marketer).pairs
    assert [(p.lead.pk, p.other.pk, p.reasons) for p in pairs] == [(work.pk, home.pk, "same phone")]


@pytest.mark.django_db
def test_merging_takes_chosen_fields_and_keeps_both_timelines_and_histories(marketer, twins, now):
    work, home = twins
    home_activities, home_stages = _state(home.pk)["activities"], _state(home.pk)["stages"]
    merge_leads(
        survivor_id=work.pk, other_id=home.pk, take=["title", "custom.seats"], by=marketer,
        now=now + timedelta(days=1),
    )  # fmt: skip
    survivor = _state(work.pk)
    assert survivor["fields"]["title"] == "CTO"
    assert survivor["fields"]["email"] == "ada@acme.io"
    assert survivor["custom"] == {"tier": "Gold", "seats": 5}
    assert set(home_activities) <= set(survivor["activities"])
    assert _state(home.pk)["stages"] == home_stages  # each lead keeps its own stage history
    gone = Lead.objects.get(pk=home.pk)
    assert gone.merged_into_id == work.pk and gone.email is None
    assert FieldChange.objects.filter(lead=work, channel="merge", field="title").exists()
    # The merged lead is hidden; its private address, not taken over, still finds the
    # survivor (an alias) instead of bringing the duplicate back.
    assert not duplicate_suggestions(marketer).pairs
    again = capture_lead(data={"email": "ada.lovelace@gmail.com"}, channel="api", now=now)
    assert not again.created and again.lead.pk == work.pk
    assert Lead.objects.get(pk=work.pk).email == "ada@acme.io"


@pytest.mark.django_db
def test_a_merge_leaves_both_stage_histories_intact_and_unmerge_restores_everything(
    marketer, twins, now
):
    """The funnel counts each lead's own history: a merge must not hand the other lead's
    `"" → new` and `new → nurturing` rows to the survivor."""
    work, home = twins

    def histories():
        return {
            lead.pk: list(
                StageChange.objects.filter(lead=lead).values_list("from_stage", "to_stage")
            )
            for lead in (work, home)
        }

    assert histories() == {work.pk: [("", "new")], home.pk: [("", "new"), ("new", "nurturing")]}
    before = {work.pk: _state(work.pk), home.pk: _state(home.pk), "histories": histories()}
    done = merge_leads(
        survivor_id=work.pk, other_id=home.pk, take=["title", "email"], by=marketer,
        now=now + timedelta(days=1),
    )  # fmt: skip
    assert histories() == before["histories"]
    assert "stage_change" not in done.moved
    # A later move of the survivor is the survivor's alone.
    move_stage(lead_id=work.pk, to_stage="nurturing", by=marketer, now=now + timedelta(days=2))
    assert histories()[home.pk] == before["histories"][home.pk]

    unmerge(merge_id=done.pk, by=marketer, now=now + timedelta(days=3))
    after = histories()
    assert after[home.pk] == before["histories"][home.pk]
    assert after[work.pk] == [("", "new"), ("new", "nurturing")]
    home_after = _state(home.pk)
    assert home_after["fields"] == before[home.pk]["fields"]
    assert home_after["custom"] == before[home.pk]["custom"]
    assert set(before[home.pk]["activities"]) <= set(home_after["activities"])
    assert _state(work.pk)["fields"]["email"] == "ada@acme.io"


@pytest.mark.django_db
def test_unmerge_moves_back_the_stage_changes_an_older_merge_moved(marketer, twins, now):
    """Merges recorded before stage history stayed put listed the rows they moved."""
    work, home = twins
    done = merge_leads(survivor_id=work.pk, other_id=home.pk, take=[], by=marketer, now=now)
    home_stages = list(StageChange.objects.filter(lead=home).values_list("pk", flat=True))
    StageChange.objects.filter(pk__in=home_stages).update(lead=work)  # as such a merge did
    LeadMerge.objects.filter(pk=done.pk).update(moved={**done.moved, "stage_change": home_stages})
    unmerge(merge_id=done.pk, by=marketer, now=now)
    assert sorted(StageChange.objects.filter(lead=home).values_list("pk", flat=True)) == sorted(
        home_stages
    )


@pytest.mark.django_db
def test_merge_and_unmerge_announce_both_leads_with_now(marketer, twins, now, monkeypatch):
    work, home = twins
    heard = []
    announce = hooks.announce
    monkeypatch.setattr(
        hooks,
        "announce",
        lambda name, **payload: (heard.append((name, payload)), announce(name, **payload)),
    )
    done = merge_leads(survivor_id=work.pk, other_id=home.pk, take=[], by=marketer, now=now)
    later = now + timedelta(hours=1)
    unmerge(merge_id=done.pk, by=marketer, now=later)
    pair = [work.pk, home.pk]
    assert [(n, p) for n, p in heard if n in ("leads_merged", "leads_unmerged")] == [
        (
            "leads_merged",
            {"survivor_id": work.pk, "merged_id": home.pk, "lead_ids": pair, "now": now},
        ),
        (
            "leads_unmerged",
            {"survivor_id": work.pk, "merged_id": home.pk, "lead_ids": pair, "now": later},
        ),
    ]


@pytest.mark.django_db
def test_the_survivor_can_take_the_other_leads_email(marketer, twins, now):
    work, home = twins
    merge_leads(survivor_id=work.pk, other_id=home.pk, take=["email"], by=marketer, now=now)
    assert Lead.objects.get(pk=work.pk).email == "ada.lovelace@gmail.com"
    assert not capture_lead(data={"email": "ada.lovelace@gmail.com"}, channel="x", now=now).created


@pytest.mark.django_db
def test_unmerge_restores_both_leads_exactly(marketer, twins, now):
    work, home = twins
    before = {work.pk: _state(work.pk), home.pk: _state(home.pk)}
    done = merge_leads(
        survivor_id=work.pk, other_id=home.pk, take=["email", "title", "custom.tier"],
        by=marketer, now=now + timedelta(days=1),
    )  # fmt: skip
    unmerge(merge_id=done.pk, by=marketer, now=now + timedelta(days=2))
    for lead_id, state in before.items():
        after = _state(lead_id)
        assert after["fields"] == state["fields"]
        assert after["custom"] == state["custom"]
        assert after["merged_into"] is None
        assert set(state["activities"]) <= set(after["activities"])  # plus the "merge undone" notes
        assert after["stages"] == state["stages"]
    with pytest.raises(InvalidTransition):
        unmerge(merge_id=done.pk, by=marketer, now=now)


@pytest.mark.django_db
def test_a_merged_lead_cannot_be_merged_again(marketer, twins, now):
    work, home = twins
    merge_leads(survivor_id=work.pk, other_id=home.pk, take=[], by=marketer, now=now)
    with pytest.raises(InvalidTransition):
        merge_leads(survivor_id=home.pk, other_id=work.pk, take=[], by=marketer, now=now)


@pytest.mark.django_db
def test_the_merge_screen_merges_and_the_lead_page_undoes_it(client, marketer, twins):
    work, home = twins
    client.force_login(marketer)
    page = client.get(f"/leads/{work.pk}/merge/{home.pk}/").content.decode()
    assert "ada.lovelace@gmail.com" in page and 'name="title" value="other" checked' in page
    response = client.post(
        f"/leads/{work.pk}/merge/{home.pk}/", {"title": "other", "email": "survivor"}, follow=True
    )
    assert "Merged" in response.content.decode() and "Undo merge" in response.content.decode()
    assert client.get(f"/leads/{home.pk}/").status_code == 302  # on to the survivor
    merge = LeadMerge.objects.get()
    undone = client.post(f"/leads/merges/{merge.pk}/undo/", follow=True)
    assert "both leads are back" in undone.content.decode()
    assert client.get(f"/leads/{home.pk}/").status_code == 200


@pytest.mark.django_db
def test_not_duplicates_are_not_suggested_again_and_reps_cannot_merge(
    client, marketer, rep_ann, twins
):
    work, home = twins
    client.force_login(marketer)
    client.post("/leads/duplicates/dismiss/", {"lead": home.pk, "other": work.pk})
    assert b"No likely duplicates" in client.get("/leads/duplicates/").content
    client.force_login(rep_ann)
    assert client.get("/leads/duplicates/").status_code == 403
    assert client.post(f"/leads/{work.pk}/merge/{home.pk}/", {}).status_code == 403


@pytest.mark.django_db
def test_duplicates_are_checked_newest_first_a_window_at_a_time(client, marketer, monkeypatch):
    """Each look compares the newest leads with every older one; older leads get their
    turn from a link."""
    monkeypatch.setattr("leads.selectors.duplicates.DUPLICATE_WINDOW", 2)
    old_a = make_lead(email="ann@acme.io", phone="+14155550101")
    old_b = make_lead(email="ann.b@acme.io", phone="+14155550101")  # same phone as old_a
    make_lead(email="cy@acme.io")
    new = make_lead(email="di@acme.io", phone="+14155550101")  # the same phone again
    first = duplicate_suggestions(marketer)
    pairs = [(p.lead.pk, p.other.pk) for p in first.pairs]
    assert pairs == [(old_b.pk, new.pk), (old_a.pk, new.pk)]
    assert first.checked_from is not None  # two older leads are left to check
    older = duplicate_suggestions(marketer, before=first.checked_from)
    assert [(p.lead.pk, p.other.pk) for p in older.pairs] == [(old_a.pk, old_b.pk)]
    assert older.checked_from is None
    client.force_login(marketer)
    page = client.get("/leads/duplicates/").content.decode()
    assert f'href="?before={first.checked_from}"' in page
    page = client.get(f"/leads/duplicates/?before={first.checked_from}").content.decode()
    assert f"/leads/{old_a.pk}/merge/{old_b.pk}/" in page and "Check older leads" not in page
    assert client.get("/leads/duplicates/?before=nonsense").status_code == 200
