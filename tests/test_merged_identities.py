"""Identities a merge took off a lead keep finding the survivor (LeadAlias): a capture
by one, through the API, a web form or an import, updates the survivor instead of
bringing the duplicate back; unmerge gives them back; chained merges carry them."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.cache import cache

from leads.exceptions import IdentityConflict
from leads.models import Activity, Lead, LeadAlias, LeadForm, LeadMerge, StageChange
from leads.services import capture_lead, update_lead
from leads.services.merges import merge_leads, unmerge
from tests.helpers import make_lead

URL = "/api/v1/leads/"
HOME = {"email": "ada@gmail.com", "phone": "+442079460999", "external_id": "SF-7"}


@pytest.fixture
def merged(marketer, now):
    """Ada's private lead merged into her work lead, which keeps its own identities."""
    work = make_lead(email="ada@acme.io", first_name="Ada", phone="+442079460958", now=now)
    home = capture_lead(
        data={**HOME, "source": "referral", "first_name": "Ada"},
        channel="test",
        now=now + timedelta(hours=1),
    ).lead
    merge = merge_leads(
        survivor_id=work.pk, other_id=home.pk, take=[], by=marketer, now=now + timedelta(hours=2)
    )
    return work, home, merge


def _aliases(lead):
    return sorted(lead.aliases.values_list("kind", "source", "value"))


@pytest.mark.django_db
def test_a_merge_points_the_other_leads_identities_at_the_survivor(merged):
    work, home, merge = merged
    assert _aliases(work) == [
        ("email", "", "ada@gmail.com"),
        ("external_id", "referral", "SF-7"),
        ("phone", "", "+442079460999"),
    ]
    assert set(merge.aliases.all()) == set(work.aliases.all())
    assert Lead.objects.get(pk=home.pk).email is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"email": " ADA@gmail.com ", "company": "Acme"},
        {"external_id": "SF-7", "source": "referral", "company": "Acme"},
        {"phone": "+44 20 7946 0999", "company": "Acme"},
    ],
    ids=["email", "external_id", "phone"],
)
def test_a_capture_by_a_merged_away_identity_updates_the_survivor(
    merged, marketer, api_as, payload
):
    work, home, _ = merged
    leads = Lead.objects.count()
    response = api_as(marketer).post(URL, payload, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == work.pk
    assert Lead.objects.count() == leads
    work.refresh_from_db()
    assert work.company == "Acme"  # its empty fields are filled
    assert (work.email, work.phone, work.external_id) == ("ada@acme.io", "+442079460958", None)
    captured = Activity.objects.filter(lead=work, kind="captured").latest("id")
    assert captured.data == {"channel": "api", "created": False, "filled": ["company"]}
    assert not Activity.objects.filter(lead=home, kind="captured", data__channel="api").exists()


@pytest.mark.django_db
def test_a_web_form_submission_by_a_merged_away_email_updates_the_survivor(client, merged):
    work, _, _ = merged
    cache.clear()
    LeadForm.objects.create(
        slug="demo", name="Demo", fields=["email", "company"], required=["email"]
    )
    leads = Lead.objects.count()
    response = client.post(
        "/f/demo/", {"email": "ada@gmail.com", "company": "Acme"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert Lead.objects.count() == leads
    assert Lead.objects.get(pk=work.pk).company == "Acme"
    assert Activity.objects.filter(lead=work, kind="form_submit").count() == 1


@pytest.mark.django_db
def test_an_aliased_external_id_with_another_email_is_a_conflict(merged, marketer, api_as):
    payload = {"email": "someone@else.io", "external_id": "SF-7", "source": "referral"}
    response = api_as(marketer).post(URL, payload, format="json")
    assert response.status_code == 409
    assert "already belongs to lead" in response.json()["external_id"][0]


@pytest.mark.django_db
def test_live_identities_win_over_aliases(merged, marketer, now):
    work, _, _ = merged
    # A person gives another lead the merged-away address: that lead is now Ada's.
    other = make_lead(email="bo@acme.io")
    update_lead(lead_id=other.pk, changes={"email": "ada@gmail.com"}, by=marketer, now=now)
    assert capture_lead(data={"email": "ada@gmail.com"}, channel="t", now=now).lead == other
    # Every live identity is looked up before any alias: a lead without an email that
    # has the phone is taken before the survivor the alias names.
    phone_only = make_lead(email=None, phone="+14155550100")
    found = capture_lead(
        data={"external_id": "SF-7", "source": "referral", "phone": "+14155550100"},
        channel="t",
        now=now,
    ).lead
    assert found == phone_only != work


@pytest.mark.django_db
def test_the_survivors_own_replaced_identity_finds_it_too(marketer, now):
    work = make_lead(email="ada@acme.io", now=now)
    home = make_lead(email="ada@gmail.com", now=now)
    merge_leads(survivor_id=work.pk, other_id=home.pk, take=["email"], by=marketer, now=now)
    assert Lead.objects.get(pk=work.pk).email == "ada@gmail.com"
    assert _aliases(work) == [("email", "", "ada@acme.io")]
    assert capture_lead(data={"email": "ada@acme.io"}, channel="t", now=now).lead == work


@pytest.mark.django_db
def test_an_identity_held_as_an_alias_is_not_filled_in_so_unmerge_can_give_it_back(marketer, now):
    caller = make_lead(email=None, phone="+14155550100", now=now)  # known by phone only
    web = make_lead(email="kim@acme.io", now=now + timedelta(hours=1))
    merge = merge_leads(survivor_id=caller.pk, other_id=web.pk, take=[], by=marketer, now=now)
    capture_lead(data={"email": "kim@acme.io", "title": "CTO"}, channel="t", now=now)
    caller.refresh_from_db()
    assert (caller.email, caller.title) == (None, "CTO")
    unmerge(merge_id=merge.pk, by=marketer, now=now)
    assert Lead.objects.get(pk=web.pk).email == "kim@acme.io"


@pytest.mark.django_db
def test_unmerge_gives_the_identities_back(merged, marketer, api_as, now):
    work, home, merge = merged
    unmerge(merge_id=merge.pk, by=marketer, now=now + timedelta(days=1))
    assert not LeadAlias.objects.exists()
    home.refresh_from_db()
    assert (home.email, home.phone, home.external_id) == (
        HOME["email"],
        HOME["phone"],
        HOME["external_id"],
    )
    client = api_as(marketer)
    for payload in (
        {"email": "ada@gmail.com", "title": "CTO"},
        {"external_id": "SF-7", "source": "referral"},
        {"phone": "+442079460999"},
    ):
        response = client.post(URL, payload, format="json")
        assert (response.status_code, response.json()["id"]) == (200, home.pk)
    assert Lead.objects.get(pk=home.pk).title == "CTO"
    assert Lead.objects.get(pk=work.pk).title == ""


@pytest.mark.django_db
def test_chained_merges_carry_aliases_to_the_last_survivor_and_unmerging_restores_them(
    marketer, now
):
    a = make_lead(email="a@acme.io", now=now)
    b = make_lead(email="b@acme.io", now=now)
    c = make_lead(email="c@acme.io", now=now)
    first = merge_leads(survivor_id=b.pk, other_id=a.pk, take=[], by=marketer, now=now)
    second = merge_leads(survivor_id=c.pk, other_id=b.pk, take=[], by=marketer, now=now)

    def finds(email):
        return capture_lead(data={"email": email}, channel="t", now=now).lead.pk

    assert (finds("a@acme.io"), finds("b@acme.io")) == (c.pk, c.pk)
    assert _aliases(c) == [("email", "", "a@acme.io"), ("email", "", "b@acme.io")]
    assert LeadAlias.objects.get(value="a@acme.io").merge == first  # carried, not re-made

    unmerge(merge_id=second.pk, by=marketer, now=now)
    assert _aliases(b) == [("email", "", "a@acme.io")] and not _aliases(c)
    assert (finds("a@acme.io"), finds("b@acme.io")) == (b.pk, b.pk)
    unmerge(merge_id=first.pk, by=marketer, now=now)
    assert not LeadAlias.objects.exists()
    assert (finds("a@acme.io"), finds("b@acme.io"), finds("c@acme.io")) == (a.pk, b.pk, c.pk)


@pytest.mark.django_db
def test_a_merge_refuses_an_identity_an_older_merge_already_points_elsewhere(merged, marketer, now):
    """Only reachable when a person gave a lead an address that is already an alias."""
    other = make_lead(email="bo@acme.io")
    update_lead(lead_id=other.pk, changes={"email": "ada@gmail.com"}, by=marketer, now=now)
    keeper = make_lead(email="keeper@acme.io")
    with pytest.raises(IdentityConflict):
        merge_leads(survivor_id=keeper.pk, other_id=other.pk, take=[], by=marketer, now=now)
    assert Lead.objects.get(pk=other.pk).merged_into is None


@pytest.mark.django_db
def test_the_migration_repairs_merges_recorded_before_aliases(marketer, now):
    """Older merges moved stage changes and left no aliases: the migration replays them."""
    a = make_lead(email="a@acme.io", now=now)
    b = make_lead(email="b@acme.io", now=now)
    c = make_lead(email="c@acme.io", now=now)
    histories = {
        lead.pk: sorted(StageChange.objects.filter(lead=lead).values_list("pk", flat=True))
        for lead in (a, b, c)
    }
    first = merge_leads(survivor_id=b.pk, other_id=a.pk, take=[], by=marketer, now=now)
    second = merge_leads(
        survivor_id=c.pk, other_id=b.pk, take=[], by=marketer, now=now + timedelta(minutes=1)
    )
    # What such merges left: no aliases, stage changes moved along the chain.
    LeadAlias.objects.all().delete()
    StageChange.objects.filter(lead__in=[a, b]).update(lead=c)
    for merge, rows in ((first, histories[a.pk]), (second, histories[a.pk] + histories[b.pk])):
        LeadMerge.objects.filter(pk=merge.pk).update(moved={"activity": [], "stage_change": rows})

    migration = importlib.import_module("leads.migrations.0014_lead_aliases")
    migration.repair_recorded_merges(apps, None)

    for lead in (a, b, c):
        assert (
            sorted(StageChange.objects.filter(lead=lead).values_list("pk", flat=True))
            == histories[lead.pk]
        )
    assert _aliases(c) == [("email", "", "a@acme.io"), ("email", "", "b@acme.io")]
    assert capture_lead(data={"email": "a@acme.io"}, channel="t", now=now).lead == c
    unmerge(merge_id=second.pk, by=marketer, now=now)
    assert _aliases(b) == [("email", "", "a@acme.io")]
    unmerge(merge_id=first.pk, by=marketer, now=now)
    assert not LeadAlias.objects.exists()
    assert Lead.objects.get(pk=a.pk).email == "a@acme.io"
