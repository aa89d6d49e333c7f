"""A lead's page: edit, log a note or a call, move the stage with a reason."""

from datetime import timedelta

import pytest

from leads.models import Activity, FieldChange
from leads.services import define_custom_field
from tests.helpers import make_lead


@pytest.mark.django_db
def test_the_timeline_shows_touches_stage_changes_and_edits_newest_first(client, marketer, now):
    lead = make_lead(title="Analyst", now=now - timedelta(days=1))
    client.force_login(marketer)
    client.post(f"/leads/{lead.pk}/edit/", {"title": "CTO", "email": lead.email})
    client.post(f"/leads/{lead.pk}/touch/", {"kind": "call", "body": "Left a voicemail"})
    client.post(f"/leads/{lead.pk}/move/", {"stage": "nurturing", "reason": "Not ready"})
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    for text in [
        "Left a voicemail",
        "New → Nurturing",
        "Not ready",
        "title changed",
        "Analyst → CTO",
    ]:
        assert text in html
    assert html.index("New → Nurturing") < html.index("Left a voicemail") < html.index("Created as")
    assert "first_name changed" not in html  # fields the form did not send are left alone


@pytest.mark.django_db
def test_editing_a_lead_saves_normalised_values_and_audits_them(client, marketer):
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    lead = make_lead(email="old@acme.io")
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {
            "email": " New@Acme.io ",
            "phone": "+44 20 7946 0958",
            "country": "gb",
            "custom.seats": "1 200",
        },
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.email, lead.phone, lead.country) == ("new@acme.io", "+442079460958", "GB")
    assert lead.custom == {"seats": 1200}
    assert "email" in lead.human_edited
    assert FieldChange.objects.filter(lead=lead, field="email", changed_by=marketer).exists()
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "<dt>Seats</dt><dd>1200</dd>" in page  # under its label, not its name


@pytest.mark.django_db
def test_bad_edits_show_field_errors_and_save_nothing(client, marketer):
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    lead = make_lead(email="ok@acme.io", title="Analyst")
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/edit/",
        {"email": "not-an-email", "title": "CTO", "custom.seats": "lots"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid email address." in html and "not a number" in html
    assert 'value="not-an-email"' in html  # what was typed is kept
    lead.refresh_from_db()
    assert (lead.email, lead.title) == ("ok@acme.io", "Analyst")


@pytest.mark.django_db
def test_logging_a_call_records_it_and_marks_a_sales_touch(client, rep_ann):
    lead = make_lead(owner=rep_ann)
    client.force_login(rep_ann)
    response = client.post(
        f"/leads/{lead.pk}/touch/",
        {"kind": "call", "body": "Booked a demo"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and b"Booked a demo" in response.content
    call = Activity.objects.get(lead=lead, kind="call")
    assert (call.user, call.data["body"]) == (rep_ann, "Booked a demo")
    lead.refresh_from_db()
    assert lead.last_sales_touch_at == call.occurred_at


@pytest.mark.django_db
def test_an_empty_touch_is_refused_with_a_message(client, marketer):
    lead = make_lead()
    client.force_login(marketer)
    response = client.post(
        f"/leads/{lead.pk}/touch/", {"kind": "note", "body": "  "}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400 and b"Write what happened." in response.content
    assert not Activity.objects.filter(lead=lead, kind="note").exists()


@pytest.mark.django_db
def test_moving_to_the_same_stage_says_why_it_did_nothing(client, marketer):
    lead = make_lead()
    client.force_login(marketer)
    response = client.post(f"/leads/{lead.pk}/move/", {"stage": "new"}, follow=True)
    assert b"The lead is already New." in response.content
    assert lead.stage_changes.count() == 1


@pytest.mark.django_db
def test_marketing_defines_custom_fields_on_their_page_and_reps_only_read_them(
    client, marketer, rep_ann
):
    client.force_login(marketer)
    bad = client.post("/leads/custom-fields/", {"label": "Tier", "name": "Tier!", "type": "choice"})
    assert bad.status_code == 400 and b"lower-case letters" in bad.content
    ok = client.post(
        "/leads/custom-fields/",
        {"label": "Tier", "name": "tier", "type": "choice", "choices": "Gold\nSilver"},
        follow=True,
    )
    assert b"Custom field \xe2\x80\x9cTier\xe2\x80\x9d added." in ok.content
    client.force_login(rep_ann)
    page = client.get("/leads/custom-fields/")
    assert b"Gold, Silver" in page.content and b"Add a field" not in page.content
    assert (
        client.post(
            "/leads/custom-fields/", {"label": "X", "name": "x", "type": "text"}
        ).status_code
        == 403
    )
