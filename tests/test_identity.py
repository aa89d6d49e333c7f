"""Identity and dedupe: normalised on the way in, one lead per person whatever the order
of channels, and what a person edited is never overwritten."""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Campaign, FieldChange, Lead
from leads.normalise import company_domain, normalise_phone
from leads.services import capture_lead, update_lead
from tests.conftest import CURRENT_TIME


def test_company_domain_comes_from_the_website_or_a_business_email():
    assert company_domain(email="a@acme.io", website="") == "acme.io"
    assert company_domain(email="a@gmail.com", website="") == ""
    assert company_domain(email="a@gmail.com", website="https://www.Globex.de/about") == "globex.de"
    assert company_domain(email=None, website="initech.com") == "initech.com"


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [("+44 20 7946 0958", "", "+442079460958"), ("020 7946 0958", "GB", "+442079460958"),
     ("(415) 555-0100", "US", "+14155550100"), ("0049 30 1234567", "DE", "+49301234567")],
)  # fmt: skip
def test_phones_are_stored_in_e164(raw, country, e164):
    assert normalise_phone(raw, country=country) == e164


@pytest.mark.django_db
def test_a_free_mail_lead_gets_no_company_domain(now):
    lead = capture_lead(data={"email": "jo@gmail.com"}, channel="test", now=now).lead
    assert lead.company_domain == ""


@pytest.mark.django_db
def test_first_and_latest_touch_campaigns(now):
    spring = Campaign.objects.create(code="spring", name="Spring", channel="webinar")
    autumn = Campaign.objects.create(code="autumn", name="Autumn", channel="trade_show")
    capture_lead(data={"email": "a@acme.io", "campaign": spring}, channel="api", now=now)
    lead = capture_lead(
        data={"email": "a@acme.io", "campaign": autumn}, channel="api", now=now + timedelta(days=1)
    ).lead
    assert (lead.campaign, lead.latest_campaign) == (spring, autumn)


@pytest.mark.django_db
def test_a_capture_never_overwrites_or_refills_what_a_person_edited(marketer, now):
    lead = capture_lead(data={"email": "a@acme.io", "title": "Intern"}, channel="api", now=now).lead
    update_lead(lead_id=lead.pk, changes={"title": ""}, by=marketer, now=now)
    capture_lead(
        data={"email": "a@acme.io", "title": "CEO", "company": "Acme"}, channel="api", now=now
    )
    lead.refresh_from_db()
    assert lead.title == ""  # a person cleared it on purpose
    assert lead.company == "Acme"  # empty and never edited: filled


@pytest.mark.django_db
def test_every_change_is_audited_with_who_what_and_when(marketer, now):
    lead = capture_lead(data={"email": "a@acme.io", "title": "Intern"}, channel="api", now=now).lead
    later = now + timedelta(hours=1)
    update_lead(lead_id=lead.pk, changes={"title": "CTO"}, by=marketer, now=later)
    capture_lead(data={"email": "a@acme.io", "company": "Acme"}, channel="web_form", now=later)
    rows = list(
        FieldChange.objects.filter(lead=lead)
        .order_by("id")
        .values_list("field", "old_value", "new_value", "changed_by__username", "channel")
    )
    assert rows == [
        ("title", "Intern", "CTO", "marketer", "edit"),
        ("company", "", "Acme", None, "web_form"),
    ]


# --- Property: one person, captured through any channels in any order, is one lead ---------

emails = st.sampled_from(["ada@acme.io", "Ada@Acme.IO", "  ada@acme.io ", "ADA@ACME.IO"])
phones = st.sampled_from(["+44 20 7946 0958", "+442079460958", "+44 (0)20 7946 0958"])
titles = st.sampled_from(["", "CTO", "VP Engineering"])
companies = st.sampled_from(["", "Acme", "Acme Ltd"])


@st.composite
def captures_with_email(draw):
    """Web form, import, API sync, event: each carries the email in some spelling."""
    capture = {"email": draw(emails), "title": draw(titles), "company": draw(companies)}
    if draw(st.booleans()):
        capture["phone"] = draw(phones)
    if draw(st.booleans()):
        capture["external_id"] = "SF-1"
        capture["source"] = "referral"
    return capture


@st.composite
def captures_without_email(draw):
    """Phone calls and another system's sync: the phone in some format, maybe its id."""
    capture = {"phone": draw(phones), "title": draw(titles)}
    if draw(st.booleans()):
        capture["external_id"] = "CALL-9"
        capture["source"] = "other"
    return capture


def _capture_all(captures):
    from leads.normalise import normalise_email
    from leads.normalise import normalise_phone as phone

    for i, raw in enumerate(captures):
        data = {**raw}
        if "email" in data:
            data["email"] = normalise_email(data["email"])
        if "phone" in data:
            data["phone"] = phone(data["phone"])
        capture_lead(data=data, channel="test", now=CURRENT_TIME + timedelta(minutes=i))


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(captures_with_email(), min_size=1, max_size=6))
def test_a_person_with_an_email_is_one_lead_in_any_order_of_channels(captures):
    Lead.objects.all().delete()
    _capture_all(captures)
    lead = Lead.objects.get()
    assert lead.email == "ada@acme.io"
    # The first non-empty value of each field is the one kept.
    first_title = next((c["title"] for c in captures if c["title"]), "")
    assert lead.title == first_title
    if any("phone" in c for c in captures):
        assert lead.phone == "+442079460958"


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(captures_without_email(), min_size=1, max_size=6))
def test_a_person_without_an_email_is_one_lead_by_phone_in_any_order(captures):
    Lead.objects.all().delete()
    _capture_all(captures)
    assert Lead.objects.count() == 1
