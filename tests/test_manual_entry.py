"""The New lead page: a person enters a lead by hand (capture on the `manual` channel
with the user as author), warned while typing when the person is already known — told
whose lead only when the user may see it."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from leads.models import Activity, Campaign, CustomField, FieldChange, Lead, StageChange
from leads.services import erasure
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead

pytestmark = pytest.mark.django_db
NEW = "/leads/new/"
CHECK = "/leads/new/check/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


def _as(client, user):
    client.force_login(user)
    return client


def test_a_marketer_enters_a_lead_with_bant_consent_campaign_custom_fields_and_an_owner(
    client, marketer, rep_ann
):
    Campaign.objects.create(code="expo", name="Expo 2026", channel="trade_show")
    CustomField.objects.create(name="seats", label="Seats", type="number")
    page = _as(client, marketer).get(NEW)
    html = page.content.decode()
    for label in ("Budget", "Authority", "Need", "Timeline", "Marketing-email consent",
                  "How consent was given", "Source", "Campaign", "Owner", "Seats"):  # fmt: skip
        assert label in html, label
    answer = client.post(NEW, {
        "first_name": "Ann", "last_name": "Smith", "email": " Ann@Acme.io ", "company": "Acme",
        "country": "de", "phone": "030 1234567", "budget": "12,500", "authority": "yes",
        "need": "CRM", "source": "trade_show", "campaign": "expo", "owner": "rep_ann",
        "consent": "granted", "consent_how": "asked at our booth", "custom.seats": "40",
    })  # fmt: skip
    lead = Lead.objects.get(email="ann@acme.io")
    assert answer.status_code == 302 and answer["Location"] == f"/leads/{lead.pk}/"
    assert (lead.owner, lead.campaign.code, lead.source) == (rep_ann, "expo", "trade_show")
    assert (lead.phone, lead.country, str(lead.budget), lead.authority) == (
        "+49301234567",
        "DE",
        "12500.00",
        True,
    )
    assert lead.custom == {"seats": 40}
    assert lead.consent_status == "granted"
    assert lead.consent_method == "asked at our booth (manual by marketer)"
    captured = Activity.objects.get(lead=lead, kind="captured")
    assert captured.data["channel"] == "manual" and captured.user == marketer
    assert StageChange.objects.get(lead=lead).changed_by == marketer
    assert FieldChange.objects.get(lead=lead, field="consent_status").changed_by == marketer
    detail = client.get(answer["Location"]).content.decode()
    assert "via entry by hand" in detail and "Lead saved." in detail


def test_a_reps_new_lead_is_their_own_and_they_are_offered_no_owner(client, rep_ann):
    page = _as(client, rep_ann).get(NEW)
    assert page.status_code == 200 and 'name="owner"' not in page.content.decode()
    answer = client.post(NEW, {"email": "bo@acme.io", "source": "referral", "consent": "unknown",
                               "owner": "someone_else"})  # fmt: skip
    lead = Lead.objects.get(email="bo@acme.io")
    assert answer.status_code == 302 and lead.owner == rep_ann
    assert client.get(f"/leads/{lead.pk}/").status_code == 200


def test_errors_are_shown_per_field_and_nothing_is_saved(client, marketer):
    answer = _as(client, marketer).post(
        NEW, {"email": "not an email", "country": "Germany", "budget": "-3", "source": "other",
              "consent": "unknown", "first_name": "Kept"},
    )  # fmt: skip
    html = answer.content.decode()
    assert answer.status_code == 400 and "nothing was saved" in html
    assert html.count('class="formrow invalid"') == 3 and 'value="Kept"' in html
    assert not Lead.objects.exists()
    nameless = client.post(NEW, {"first_name": "Nobody", "source": "other", "consent": "unknown"})
    assert nameless.status_code == 400 and "needs an email" in nameless.content.decode()
    assert not Lead.objects.exists()


def test_the_warning_names_a_lead_the_user_sees_and_only_says_known_for_one_they_do_not(
    client, rep_ann, rep_bob, django_assert_max_num_queries
):
    mine = make_lead(email="ann@acme.io", first_name="Ann", last_name="Smith", company="Acme",
                     owner=rep_ann)  # fmt: skip
    theirs = make_lead(email="carl@globex.io", first_name="Carl", last_name="Hidden",
                       phone="+4930999888", owner=rep_bob)  # fmt: skip
    _as(client, rep_ann)
    with django_assert_max_num_queries(8):
        seen = client.get(CHECK, {"email": "ANN@acme.io"}).content.decode()
    assert "Ann Smith" in seen and "at Acme" in seen and f"/leads/{mine.pk}/" in seen
    hidden = client.get(CHECK, {"phone": "030 999888", "country": "DE"}).content.decode()
    assert "already known to LeadFlow" in hidden
    assert "Carl" not in hidden and "Hidden" not in hidden and str(theirs.pk) not in hidden
    assert client.get(CHECK, {"email": "new@acme.io"}).content.decode().strip() == ""
    assert client.get(CHECK, {"email": "half@"}).content.decode().strip() == ""
    # Saving it anyway changes nothing of the lead the rep may not see.
    refused = client.post(NEW, {"phone": "030 999888", "country": "DE", "title": "Boss",
                                "source": "other", "consent": "unknown"})  # fmt: skip
    assert refused.status_code == 400 and "already known" in refused.content.decode()
    theirs.refresh_from_db()
    assert theirs.title == "" and Lead.objects.count() == 2


def test_saving_a_known_person_the_user_sees_fills_that_lead_and_lands_on_it(client, marketer):
    lead = make_lead(email="ann@acme.io", first_name="Ann", title="")
    answer = _as(client, marketer).post(
        NEW, {"email": "ann@acme.io", "title": "CTO", "source": "other", "consent": "unknown"}
    )
    lead.refresh_from_db()
    assert answer["Location"] == f"/leads/{lead.pk}/" and lead.title == "CTO"
    assert Lead.objects.count() == 1


def test_the_check_needs_a_login_a_role_and_is_rate_limited(client, marketer, settings, db):
    assert client.get(CHECK, {"email": "a@b.co"}).status_code == 302  # to the login page
    settings.DUPLICATE_CHECKS_PER_MINUTE = 2
    _as(client, marketer)
    assert [client.get(CHECK, {"email": "a@b.co"}).status_code for _ in range(3)] == [200, 200, 429]


def test_marketing_is_told_when_the_email_was_erased(client, marketer):
    lead = make_lead(email="gone@acme.io")
    erasure.erase_person(lead_id=lead.pk, by=marketer, reason="Asked", now=CURRENT_TIME)
    notice = _as(client, marketer).get(CHECK, {"email": "gone@acme.io"}).content.decode()
    assert "erased on 2 November 2026" in notice and "no marketing email" in notice


def test_a_managers_new_lead_is_their_own_unless_they_give_it_within_their_teams(
    client, manager, rep_ann, rep_bob
):
    _as(client, manager)
    base = {"source": "other", "consent": "unknown"}
    client.post(NEW, {**base, "email": "own@acme.io", "owner": ""})
    client.post(NEW, {**base, "email": "ann@acme.io", "owner": "rep_ann"})
    refused = client.post(NEW, {**base, "email": "bob@acme.io", "owner": "rep_bob"})
    assert Lead.objects.get(email="own@acme.io").owner == manager
    assert Lead.objects.get(email="ann@acme.io").owner == rep_ann
    assert refused.status_code == 400 and "not in a team you manage" in refused.content.decode()
    assert not Lead.objects.filter(email="bob@acme.io").exists()
