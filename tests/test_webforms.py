"""Web-to-lead forms: marketing builds one, any site embeds it, submissions become leads."""

from html import unescape

import pytest
from django.core.cache import cache

from leads.exceptions import LeadFlowError
from leads.models import Activity, Campaign, Lead, LeadForm
from leads.services import webforms
from leads.services.webforms import HONEYPOT
from scoring.models import ScoredEvent
from tests.scoring_helpers import DEFAULT_DEFINITION, activate

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def webinar_form(db):
    campaign = Campaign.objects.create(code="spring", name="Spring webinar", channel="webinar")
    cache.clear()
    return LeadForm.objects.create(
        slug="spring-webinar",
        name="Spring webinar sign-up",
        fields=["email", "first_name", "company", "phone"],
        required=["email", "first_name"],
        source="webinar",
        campaign=campaign,
        consent_text="Send me product news",
    )


@pytest.mark.django_db
def test_a_browser_submission_creates_a_lead_and_lands_on_the_thank_you_page(client, webinar_form):
    response = client.post(
        "/f/spring-webinar/",
        {"email": "Ada@Acme.io", "first_name": "Ada", "company": "Acme", "consent": "yes"},
    )
    assert response.status_code == 303
    assert response["Location"] == "/f/spring-webinar/thanks/"
    lead = Lead.objects.get()
    assert (lead.email, lead.source, lead.campaign.code) == ("ada@acme.io", "webinar", "spring")
    assert lead.consent_status == "granted" and lead.consent_method == "web form spring-webinar"
    assert Activity.objects.filter(lead=lead, kind="form_submit").count() == 1
    assert b"Thank you" in client.get(response["Location"]).content


@pytest.mark.django_db
def test_a_script_gets_json_with_cors_and_a_repeat_updates_the_same_lead(client, webinar_form):
    preflight = client.options("/f/spring-webinar/", HTTP_ORIGIN="https://partner.example")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    first = client.post("/f/spring-webinar/", {"email": "ada@acme.io", "first_name": "Ada"}, **JSON)
    assert (first.status_code, first.json()) == (201, {"ok": True})
    assert first["Access-Control-Allow-Origin"] == "*"
    again = client.post(
        "/f/spring-webinar/",
        {"email": "ada@acme.io", "first_name": "Ada", "company": "Acme"},
        **JSON,
    )
    assert again.status_code == 200
    assert Lead.objects.get().company == "Acme"
    assert Activity.objects.filter(kind="form_submit").count() == 2


@pytest.mark.django_db
def test_bad_submissions_get_field_errors_and_write_nothing(client, webinar_form):
    response = client.post("/f/spring-webinar/", {"email": "nope", "phone": "abc"}, **JSON)
    assert response.status_code == 400
    assert set(response.json()) == {"email", "first_name", "phone"}
    page = client.post("/f/spring-webinar/", {"email": "nope"})
    assert page.status_code == 400 and b"Please check the form" in page.content
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_the_honeypot_fools_bots_and_writes_nothing(client, webinar_form):
    response = client.post(
        "/f/spring-webinar/", {"email": "bot@spam.io", "first_name": "Bot", HONEYPOT: "x"}, **JSON
    )
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_too_many_submissions_from_one_address_get_429(client, webinar_form, settings):
    settings.FORM_RATE_LIMIT = 3
    codes = [
        client.post(
            "/f/spring-webinar/", {"email": f"p{i}@x.io", "first_name": "P"}, **JSON
        ).status_code
        for i in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]
    assert Lead.objects.count() == 3
    other_ip = client.post(
        "/f/spring-webinar/", {"email": "q@x.io", "first_name": "Q"}, REMOTE_ADDR="10.0.0.9", **JSON
    )
    assert other_ip.status_code == 201


@pytest.mark.django_db
def test_unknown_or_inactive_forms_are_404_and_get_is_405(client, webinar_form):
    assert client.post("/f/nope/", {"email": "a@b.co"}).status_code == 404
    assert client.get("/f/spring-webinar/").status_code == 405
    webinar_form.active = False
    webinar_form.save()
    assert (
        client.post("/f/spring-webinar/", {"email": "a@b.co", "first_name": "A"}).status_code == 404
    )


@pytest.mark.django_db
def test_marketing_creates_a_form_and_gets_an_embeddable_snippet(client, marketer, rep_ann):
    Campaign.objects.create(code="spring", name="Spring webinar", channel="webinar")
    client.force_login(marketer)
    bad = client.post("/leads/forms/", {"name": "", "fields": ["company"]})
    assert bad.status_code == 400
    assert b"Give the form a name." in bad.content and b"needs an email or a phone" in bad.content
    response = client.post(
        "/leads/forms/",
        {"name": "Spring sign-up", "fields": ["email", "first_name"], "required": ["email"],
         "source": "webinar", "campaign": "spring", "consent_text": "News please"},
        follow=True,
    )  # fmt: skip
    html = unescape(response.content.decode())  # the snippet is shown escaped in a textarea
    assert "Spring sign-up" in html
    assert 'action="http://testserver/f/spring-sign-up/"' in html
    assert f'name="{HONEYPOT}"' in html and "News please" in html
    client.force_login(rep_ann)
    assert client.get("/leads/forms/").status_code == 403
    assert client.get("/leads/forms/spring-sign-up/").status_code == 403


@pytest.mark.django_db
def test_a_submission_is_an_event_scoring_reacts_to(
    client, webinar_form, django_capture_on_commit_callbacks
):
    activate(DEFAULT_DEFINITION)  # form submits: 10 points
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/f/spring-webinar/", {"email": "ada@acme.io", "first_name": "Ada"})
    lead = Lead.objects.get()
    assert ScoredEvent.objects.filter(lead_id=lead.pk, event_type="form_submit").count() == 1
    assert lead.engagement == pytest.approx(10, abs=0.1)


@pytest.mark.django_db
def test_creating_forms_gives_each_a_unique_slug_and_lists_every_error(marketer, now):
    definition = webforms.Definition(name="Spring sign-up", fields=["email"], required=["email"])
    first = webforms.create_form(definition=definition, by=marketer, now=now)
    second = webforms.create_form(definition=definition, by=marketer, now=now)
    assert (first.slug, second.slug) == ("spring-sign-up", "spring-sign-up-2")
    assert (second.created_by, second.created_at) == (marketer, now)
    bad = webforms.Definition(
        name=" ", fields=["company"], campaign_code="nope", redirect_url="not a url"
    )
    with pytest.raises(LeadFlowError) as refused:
        webforms.create_form(definition=bad, by=marketer, now=now)
    assert set(refused.value.extra["errors"]) == {"name", "fields", "campaign", "redirect_url"}
    assert LeadForm.objects.count() == 2


@pytest.mark.django_db
def test_marketing_changes_a_form_and_switches_it_off_without_changing_its_address(
    client, marketer, webinar_form
):
    client.force_login(marketer)
    url = "/leads/forms/spring-webinar/"
    page = client.get(url).content.decode()
    assert 'value="Spring webinar sign-up"' in page and 'name="active" checked' in page
    bad = client.post(url, {"name": "Renamed", "fields": ["company"], "active": "on"})
    assert bad.status_code == 400 and b"needs an email or a phone" in bad.content
    response = client.post(
        url,
        {"name": "Renamed", "fields": ["email", "company"], "required": ["email"],
         "source": "webinar", "campaign": ""},
        follow=True,
    )  # fmt: skip
    assert "Form “Renamed” saved." in response.content.decode()
    webinar_form.refresh_from_db()
    assert (webinar_form.slug, webinar_form.name) == ("spring-webinar", "Renamed")
    assert (webinar_form.fields, webinar_form.campaign, webinar_form.active) == (
        ["email", "company"],
        None,
        False,
    )
    assert client.post("/f/spring-webinar/", {"email": "a@b.co"}).status_code == 404
