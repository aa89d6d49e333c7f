"""Web-to-lead forms: marketing builds one, any site embeds it, submissions become leads."""

from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.core.cache import cache

from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import Activity, Campaign, Lead, LeadForm
from leads.services import record_consent, webforms
from leads.services.webforms import HONEYPOT
from scoring.models import ScoredEvent
from tests.helpers import make_lead
from tests.scoring_helpers import DEFAULT_DEFINITION, activate

JSON = {"HTTP_ACCEPT": "application/json"}

MID_MINUTE = datetime(2026, 3, 2, 10, 15, 30, tzinfo=UTC)


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
    assert (first.status_code, first.json()) == (200, {"ok": True})
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
def test_too_many_submissions_from_one_address_get_429(client, webinar_form, settings, monkeypatch):
    settings.FORM_RATE_LIMIT = 3
    # One instant for every request: on the wall clock a minute could turn between two
    # posts and start a new window (the test failed now and then).
    monkeypatch.setattr("django.utils.timezone.now", lambda: MID_MINUTE)
    codes = [
        client.post(
            "/f/spring-webinar/", {"email": f"p{i}@x.io", "first_name": "P"}, **JSON
        ).status_code
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    assert Lead.objects.count() == 3
    other_ip = client.post(
        "/f/spring-webinar/", {"email": "q@x.io", "first_name": "Q"}, REMOTE_ADDR="10.0.0.9", **JSON
    )
    assert other_ip.status_code == 200


@pytest.mark.django_db
def test_the_submission_limit_counts_per_minute(webinar_form, settings):
    settings.FORM_RATE_LIMIT = 2
    allowed = [
        webforms.allow_submission(
            form=webinar_form, ip="10.0.0.7", now=MID_MINUTE + timedelta(seconds=s)
        )
        for s in (0, 10, 20, 30)
    ]
    assert allowed == [True, True, False, True]  # the fourth is in the next minute


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


# --- what the public form tells, and what it may change --------------------------------


def _answer(response) -> tuple:
    """Everything a client of the form sees, apart from cookies (CSRF, session)."""
    headers = {k: v for k, v in response.headers.items() if k.lower() not in {"set-cookie", "date"}}
    return response.status_code, headers, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("accept", [{}, JSON], ids=["browser", "script"])
def test_the_form_answers_the_same_for_a_new_and_a_known_email(client, webinar_form, accept):
    make_lead(email="known@acme.io", first_name="Kim", company="Acme")
    new = client.post("/f/spring-webinar/", {"email": "new@acme.io", "first_name": "Nia"}, **accept)
    known = client.post(
        "/f/spring-webinar/", {"email": "known@acme.io", "first_name": "Kim"}, **accept
    )
    assert _answer(new) == _answer(known)
    assert Lead.objects.filter(email="new@acme.io").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("refused", ["withdrawn", "denied"])
def test_ticking_consent_never_re_grants_a_refused_one_but_asks_the_person_to_confirm(
    client, marketer, webinar_form, now, refused
):
    lead = make_lead(email="ada@acme.io", first_name="Ada")
    record_consent(lead_id=lead.pk, status=refused, method="unsubscribe link", now=now)
    fresh = client.post(
        "/f/spring-webinar/", {"email": "new@acme.io", "first_name": "Nia", "consent": "yes"}
    )
    again = client.post(
        "/f/spring-webinar/", {"email": "ada@acme.io", "first_name": "Ada", "consent": "yes"}
    )
    assert _answer(again) == _answer(fresh)  # nothing tells the refusal apart
    lead.refresh_from_db()
    assert (lead.consent_status, lead.consent_at, lead.consent_method) == (
        refused, now, "unsubscribe link",
    )  # fmt: skip
    requested = Activity.objects.get(lead=lead, kind="consent_requested")
    assert requested.data == {"form": "spring-webinar"}
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Consent confirmation requested" in html


@pytest.mark.django_db
def test_a_submission_for_a_known_lead_shows_what_it_filled_on_the_timeline(
    client, marketer, webinar_form
):
    webinar_form.fields = ["email", "first_name", "company", "title"]
    webinar_form.save()
    lead = make_lead(email="ada@acme.io", first_name="Ada", company="")
    client.post(
        "/f/spring-webinar/",
        {"email": "ada@acme.io", "first_name": "Eve", "company": "Acme", "title": "CTO"},
    )
    lead.refresh_from_db()
    assert (lead.first_name, lead.company, lead.title) == ("Ada", "Acme", "CTO")
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Web form filled: campaign, company, title" in html  # the form's campaign too


@pytest.mark.django_db
def test_a_thank_you_page_must_be_an_http_or_https_address(marketer, now):
    for bad in ("ftp://files.example.com/thanks", "javascript:alert(1)", "ftps://x.example/t"):
        definition = webforms.Definition(name="Sign-up", fields=["email"], redirect_url=bad)
        with pytest.raises(LeadFlowError) as refused:
            webforms.create_form(definition=definition, by=marketer, now=now)
        assert "http" in refused.value.extra["errors"]["redirect_url"], bad
    good = webforms.Definition(
        name="Sign-up", fields=["email"], redirect_url="https://acme.example/thanks"
    )
    assert webforms.create_form(definition=good, by=marketer, now=now).redirect_url == (
        "https://acme.example/thanks"
    )


@pytest.mark.django_db
def test_a_form_may_ask_for_bant(client, marketer, now):
    cache.clear()
    definition = webforms.Definition(
        name="Demo", fields=["email", "budget", "authority", "need", "timeline"]
    )
    form = webforms.create_form(definition=definition, by=marketer, now=now)
    html = webforms.snippet(form, action_url="https://leads.example/f/demo/")
    assert 'name="budget"' in html and 'name="need"' in html and 'name="timeline"' in html
    assert '<select id="lf-authority" name="authority">' in html
    client.post(
        f"/f/{form.slug}/",
        {"email": "ada@acme.io", "budget": "20,000", "authority": "yes", "need": "Reports",
         "timeline": "Q2"},
    )  # fmt: skip
    lead = Lead.objects.get()
    assert (str(lead.budget), lead.authority, lead.need, lead.timeline) == (
        "20000.00", True, "Reports", "Q2",
    )  # fmt: skip
    bad = client.post(f"/f/{form.slug}/", {"email": "bo@acme.io", "budget": "-1"}, **JSON)
    assert bad.status_code == 400 and "budget" in bad.json()


@pytest.mark.django_db
def test_a_capture_refused_for_identities_of_existing_leads_answers_as_usual(
    client, webinar_form, monkeypatch
):
    def refuse(**kwargs):
        raise IdentityConflict("Email 'ada@acme.io' already belongs to lead 7.")

    usual = client.post("/f/spring-webinar/", {"email": "new@acme.io", "first_name": "Nia"}, **JSON)
    monkeypatch.setattr(webforms, "capture_lead", refuse)
    refused = client.post(
        "/f/spring-webinar/", {"email": "ada@acme.io", "first_name": "Ada"}, **JSON
    )
    assert _answer(refused) == _answer(usual)
    assert not Lead.objects.filter(email="ada@acme.io").exists()
