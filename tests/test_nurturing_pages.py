"""Nurturing's pages: tracks built in the browser (htmx steps, rules), templates with
field errors, the preview and a test to oneself, the outbox, the lead list's "Enrol in a
track", the lead page's nurture panel and timeline — and who may see them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from leads.models import Campaign, Lead
from leads.services import log_touch
from nurturing.models import Enrolment, Send, Step, Template
from nurturing.services import recipients, tracks
from tests.helpers import make_lead
from tests.nurturing_helpers import NOW, lead, template, tick, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_tick(django_capture_on_commit_callbacks):
    return tick


@pytest.fixture
def as_marketer(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def two_emails():
    """A webinar track: an email, two days' wait, a second email."""
    return track(
        ("email", {"template": template().pk}),
        ("wait", {"amount": 2, "unit": "days"}),
        ("email", {"template": template(name="Second", subject="More for you").pk}),
    )


PAGES = ["/nurturing/", "/nurturing/templates/", "/nurturing/outbox/"]


@pytest.mark.parametrize("path", PAGES)
def test_only_marketing_gets_the_nurturing_pages_and_others_a_403_in_the_layout(
    client, path, rep_ann, manager, marketer
):
    assert client.get(path)["Location"].startswith("/login/")
    for user in (rep_ann, manager):
        client.force_login(user)
        denied = client.get(path)
        assert denied.status_code == 403 and b'class="mainnav"' in denied.content
        assert b'href="/nurturing/"' not in denied.content  # not in their navigation
    client.force_login(marketer)
    page = client.get(path)
    assert page.status_code == 200 and b'href="/nurturing/"' in page.content


def test_a_rep_cannot_change_a_track_by_posting_either(client, rep_ann, two_emails):
    client.force_login(rep_ann)
    first = two_emails.steps.first()
    assert client.post(f"/nurturing/steps/{first.pk}/remove/").status_code == 403
    assert client.post(f"/nurturing/tracks/{two_emails.pk}/active/").status_code == 403
    assert two_emails.steps.count() == 3


def test_a_marketer_creates_a_track_and_builds_its_steps_with_htmx(as_marketer):
    welcome = template()
    created = as_marketer.post("/nurturing/", {"name": "Webinar nurture"})
    track_ = Track_by_name("Webinar nurture")
    assert created["Location"] == f"/nurturing/tracks/{track_.pk}/"
    assert b"No steps yet" in as_marketer.get(created["Location"]).content
    htmx = {"HTTP_HX_REQUEST": "true"}
    add = f"/nurturing/tracks/{track_.pk}/steps/"
    answer = as_marketer.post(add, {"kind": "email", "template": welcome.pk}, **htmx)
    assert answer.status_code == 200 and b'id="steps"' in answer.content
    assert b"<html" not in answer.content  # the partial only
    as_marketer.post(add, {"kind": "wait", "amount": "3", "unit": "days"}, **htmx)
    wait = track_.steps.get(kind="wait")
    moved = as_marketer.post(f"/nurturing/steps/{wait.pk}/move/", {"position": "1"}, **htmx)
    assert moved.status_code == 200
    assert list(track_.steps.order_by("position").values_list("kind", flat=True)) == [
        "wait",
        "email",
    ]
    assert "Wait</strong>3 days" in " ".join(moved.content.decode().split()).replace("> ", ">")


def Track_by_name(name):
    from nurturing.models import Track

    return Track.objects.get(name=name)


def test_a_refused_step_answers_the_partial_with_the_error_and_a_4xx(as_marketer, two_emails):
    answer = as_marketer.post(
        f"/nurturing/tracks/{two_emails.pk}/steps/",
        {"kind": "wait", "amount": "0"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 400 and b'id="steps"' in answer.content
    assert b"Use 1 to 365 for the wait." in answer.content
    assert two_emails.steps.count() == 3
    # Without htmx the same refusal is a message on the track's page.
    page = as_marketer.post(
        f"/nurturing/tracks/{two_emails.pk}/steps/", {"kind": "email", "template": "x"}, follow=True
    )
    assert b"Choose the email&#x27;s template." in page.content


def test_removing_a_step_enrolments_wait_on_asks_first_and_says_how_many_move_on(
    as_marketer, two_emails, run_tick
):
    tracks.add_step(
        track_id=two_emails.pk, kind="wait", data={"amount": 7, "unit": "days"}, now=NOW
    )
    for _ in range(2):
        lead()
    run_tick()  # both got the first email and waited: the second email is their next step
    second = two_emails.steps.get(position=3)
    question = as_marketer.get(f"/nurturing/steps/{second.pk}/remove/").content.decode()
    assert "2 enrolments wait on this step." in question
    assert "They move on to step 3 after the removal (now step 4, wait)" in question
    assert two_emails.steps.count() == 4  # asking changed nothing
    done = as_marketer.post(f"/nurturing/steps/{second.pk}/remove/", follow=True)
    assert b"Removed step 3. 2 enrolments moved on to the next step." in done.content
    last = two_emails.steps.get(position=3)
    assert last.kind == "wait"
    assert set(Enrolment.objects.values_list("step", flat=True)) == {last.pk}


def test_template_errors_are_shown_under_each_field_and_nothing_is_saved(as_marketer):
    answer = as_marketer.post(
        "/nurturing/templates/new/",
        {"name": "Gap", "subject": "Hi {{ first_name }}", "html": "{% if %}", "text": ""},
    )
    html = answer.content.decode()
    assert answer.status_code == 400 and not Template.objects.exists()
    assert '<span class="fielderror" id="error-subject">Give {{ first_name }} a default' in html
    assert 'id="error-html">This does not compile' in html
    assert 'id="error-text">Write this part of the email.' in html
    assert 'value="Hi {{ first_name }}"' in html  # what was typed stays
    saved = as_marketer.post(
        "/nurturing/templates/new/",
        {"name": "Hello", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )
    assert saved["Location"] == f"/nurturing/templates/{Template.objects.get(name='Hello').pk}/"


def test_deleting_a_template_in_use_is_refused_with_a_message(as_marketer, two_emails):
    used = Template.objects.get(name="Welcome")
    page = as_marketer.post(f"/nurturing/templates/{used.pk}/delete/", follow=True)
    assert "is used by the track “Webinar follow-up”: remove its email steps first." in (
        page.content.decode()
    )
    assert Template.objects.filter(pk=used.pk).exists()
    spare = template(name="Spare")
    page = as_marketer.post(f"/nurturing/templates/{spare.pk}/delete/", follow=True)
    assert "Deleted the template “Spare”." in page.content.decode()


def test_the_preview_shows_a_real_leads_email_and_a_test_goes_to_the_marketer(
    as_marketer, marketer, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    marketer.email = "marketer@leadflow.test"
    marketer.save()
    welcome = template(
        subject='Welcome, {{ first_name|default:"there" }} from {{ company|default:"you" }}'
    )
    vera = make_lead(first_name="Vera", company="Acme")
    make_lead(first_name="Newest")
    page = as_marketer.get(f"/nurturing/templates/{welcome.pk}/preview/?lead={vera.pk}")
    html = page.content.decode()
    assert '<dd id="preview-subject">Welcome, Vera from Acme</dd>' in html
    assert "sandbox srcdoc=" in html and "Hi Vera" in html
    sent = as_marketer.post(f"/nurturing/templates/{welcome.pk}/test/", {"lead": vera.pk})
    assert sent["Location"] == f"/nurturing/templates/{welcome.pk}/preview/?lead={vera.pk}"
    assert [m.subject for m in mail.outbox] == ["[Test] Welcome, Vera from Acme"]
    assert mail.outbox[0].to == ["marketer@leadflow.test"]
    assert not Send.objects.exists()  # a test is no nurture email


def test_the_preview_of_a_lead_the_user_cannot_see_is_a_404(client, marketer, rep_ann):
    # Only marketing previews; the lead picked must exist and be visible.
    client.force_login(marketer)
    welcome = template()
    assert client.get(f"/nurturing/templates/{welcome.pk}/preview/?lead=999999").status_code == 404


def test_an_enrolment_rule_by_campaign_and_condition_is_added_and_shown_in_words(
    as_marketer, two_emails
):
    Campaign.objects.create(code="spring", name="Spring webinar", channel="webinar")
    page = as_marketer.post(
        f"/nurturing/tracks/{two_emails.pk}/rules/",
        {
            "name": "Spring big firms",
            "campaign": "spring",
            "field": "company_size",
            "op": "range",
            "min": "200",
            "consent_required": "on",
        },
        follow=True,
    )
    html = page.content.decode()
    assert "Added the rule “Spring big firms”." in html
    assert "campaign Spring webinar and Company size ≥ 200, with email consent" in html
    refused = as_marketer.post(
        f"/nurturing/tracks/{two_emails.pk}/rules/",
        {"name": "Bad", "field": "nope", "op": "equals", "value": "x"},
        follow=True,
    )
    assert b"nope" in refused.content and two_emails.rules.count() == 2


def test_enrol_in_a_track_from_the_lead_list_asks_with_the_count_for_all_matching(
    as_marketer, two_emails
):
    for i in range(3):
        make_lead(email=f"fan{i}@spring.io", consent_status="granted")
    make_lead(email="other@acme.io")
    listing = as_marketer.get("/leads/").content.decode()
    assert '<option value="enrol">Enrol in a track</option>' in listing
    assert f'<option value="{two_emails.pk}">Webinar follow-up</option>' in listing
    every = {
        "action": "enrol",
        "track": two_emails.pk,
        "scope": "all",
        "filter": "search=spring.io",
    }
    question = as_marketer.post("/leads/bulk/", every).content.decode()
    assert '<h1 id="confirm-question">Enrol 3 leads in the track “Webinar follow-up”?</h1>' in (
        question
    )
    assert f'<input type="hidden" name="track" value="{two_emails.pk}">' in question
    assert not Enrolment.objects.exists()
    done = as_marketer.post("/leads/bulk/", {**every, "confirmed": "yes"}, follow=True)
    assert "Enrolled 3 leads in “Webinar follow-up”." in done.content.decode()
    assert set(Enrolment.objects.values_list("lead__email", flat=True)) == {
        f"fan{i}@spring.io" for i in range(3)
    }
    again = as_marketer.post("/leads/bulk/", {**every, "confirmed": "yes"}, follow=True)
    assert "Enrolled 0 leads" in again.content.decode() and "3 were in a track already" in (
        again.content.decode()
    )
    missing = as_marketer.post("/leads/bulk/", {**every, "track": ""}, follow=True)
    assert b"Choose a track to enrol the leads in" in missing.content


def test_a_rep_gets_no_enrol_action_and_cannot_post_one(client, rep_ann, two_emails):
    mine = make_lead(owner=rep_ann)
    client.force_login(rep_ann)
    assert b'value="enrol"' not in client.get("/leads/").content
    client.post("/leads/bulk/", {"action": "enrol", "track": two_emails.pk, "ids": [mine.pk]})
    assert not Enrolment.objects.exists()


def _figures_row(html: str, first_cell: str) -> list[str]:
    import re

    row = html.split(first_cell, 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", c).split()[0] for c in row.split('<td class="num">')[1:]]


def test_the_tracks_page_shows_figures_in_the_same_queries_for_1_or_6_tracks(
    as_marketer, two_emails, run_tick, django_assert_num_queries
):
    first = lead()
    lead()
    run_tick()
    recipients.record_open(send_id=Send.objects.get(lead=first).pk, now=NOW)
    with django_assert_num_queries(6):
        html = as_marketer.get("/nurturing/").content.decode()
    # steps, enrolled, in it now, sent, opened, clicked, unsubscribed, bounced, capped, MQL
    assert _figures_row(html, "Webinar follow-up</a>") == [
        "3", "2", "2", "2", "1", "0", "0", "0", "0", "0"
    ]  # fmt: skip
    for i in range(5):
        track(("email", {"template": template(name=f"T{i}").pk}), name=f"Track {i}", source="")
    with django_assert_num_queries(6):
        assert as_marketer.get("/nurturing/").content.count(b"/nurturing/tracks/") == 6


def test_the_track_page_has_step_figures_and_warns_when_complaints_pass_a_tenth_percent(
    as_marketer, two_emails, run_tick, django_assert_num_queries
):
    leads = [lead() for _ in range(2)]
    run_tick()
    url = f"/nurturing/tracks/{two_emails.pk}/"
    with django_assert_num_queries(13):
        html = as_marketer.get(url).content.decode()
    assert 'id="complaints"' not in html
    # waiting, sent, opened, clicked, unsubscribed, bounced, capped, MQL
    assert _figures_row(html, 'aria-label="Step 3"') == ["2", "0", "0", "0", "0", "0", "0", "0"]
    assert _figures_row(html, 'aria-label="Step 1"')[:2] == ["0", "2"]
    message_id = Send.objects.get(lead=leads[0]).message_id
    recipients.record_email_event(type="complaint", message_id=message_id, now=NOW)
    html = as_marketer.get(url).content.decode()
    assert "Complaints are 50.0 % of this track's sends (1 of 2)" in html
    assert "Complaints 50.0 % of sends" in as_marketer.get("/nurturing/").content.decode()


def test_the_outbox_lists_failed_sends_to_retry_and_deferred_ones_with_why(
    as_marketer, run_tick, settings, rep_ann, django_assert_num_queries
):
    settings.EMAIL_BACKEND = "tests.nurturing_helpers.RefusingBackend"
    track(("email", {"template": template().pk}), ("wait", {"amount": 7, "unit": "days"}))
    failing = [lead() for _ in range(3)]
    touched = lead()
    log_touch(lead_id=touched.pk, kind="call", body="Hi", by=rep_ann, now=NOW, occurred_at=NOW)
    run_tick()
    assert Send.objects.filter(status="failed").count() == 3
    with django_assert_num_queries(6):
        html = as_marketer.get("/nurturing/outbox/").content.decode()
    assert html.count("Retry</button>") == 3 and "Mailbox unknown" in html
    deferred = as_marketer.get("/nurturing/outbox/?view=deferred").content.decode()
    assert "A rep touched the lead recently" in deferred and touched.email in deferred
    assert "in 3\xa0days" in deferred or "now (due" in deferred
    send = Send.objects.get(lead=failing[0])
    done = as_marketer.post(f"/nurturing/outbox/{send.pk}/retry/", follow=True)
    assert b"Queued the email to" in done.content
    send.refresh_from_db()
    assert send.status == "queued" and send.tries == 0
    again = as_marketer.post(f"/nurturing/outbox/{send.pk}/retry/", follow=True)
    assert b"not failed any more" in again.content


def test_the_outbox_pages_by_fifty_in_the_same_queries(
    as_marketer, run_tick, settings, django_assert_num_queries
):
    settings.EMAIL_BACKEND = "tests.nurturing_helpers.RefusingBackend"
    track(("email", {"template": template().pk}))
    for _ in range(53):
        lead()
    run_tick()
    with django_assert_num_queries(6):
        first = as_marketer.get("/nurturing/outbox/").content.decode()
    assert first.count("Retry</button>") == 50 and "Page 1 of 2" in first
    with django_assert_num_queries(6):
        second = as_marketer.get("/nurturing/outbox/?page=2").content.decode()
    assert second.count("Retry</button>") == 3


def test_a_rep_sees_the_nurture_panel_and_the_timeline_in_words_on_their_lead(
    client, rep_ann, two_emails, run_tick
):
    mine = lead(owner=rep_ann, time_zone="Europe/Berlin")
    run_tick()
    recipients.record_open(send_id=Send.objects.get(lead=mine).pk, now=NOW + timedelta(hours=1))
    client.force_login(rep_ann)
    html = client.get(f"/leads/{mine.pk}/").content.decode()
    panel = html.split('id="nurture-panel"', 1)[1].split("</table>", 1)[0]
    assert (
        "In the track <strong>Webinar follow-up</strong>, at step 3 (send email “Second”)" in panel
    )
    # Two days after the email, in Berlin time (09:30 UTC is 10:30 there).
    assert "Next step: <strong>Wed 2026-11-04 10:30</strong>" in panel
    assert "(Europe/Berlin)" in panel
    assert "Welcome, Ada" in panel and "2026-11-02 10:30" in panel  # the open
    assert "Entered the track “Webinar follow-up”" in html
    assert "Nurture email sent: Welcome, Ada" in html
    tracks_link = 'href="/nurturing/tracks/'
    assert tracks_link not in panel  # reps get no link to marketing's pages


def test_leaving_a_track_reads_with_its_reason_on_the_timeline(
    as_marketer, marketer, two_emails, run_tick, django_capture_on_commit_callbacks
):
    from leads.services import move_stage

    person = lead()
    run_tick()
    with django_capture_on_commit_callbacks(execute=True):
        move_stage(lead_id=person.pk, to_stage="mql", by=marketer, now=NOW, reason="Ready")
    html = as_marketer.get(f"/leads/{person.pk}/").content.decode()
    assert "Left the track “Webinar follow-up”: Became MQL" in html
    assert "Left the track “Webinar follow-up” on" in html and "Became MQL." in html
    assert Lead.objects.get(pk=person.pk).stage == "mql"


def test_a_track_can_be_started_only_with_an_email_step(as_marketer):
    empty = tracks.create_track(name="Empty", now=NOW)
    page = as_marketer.post(f"/nurturing/tracks/{empty.pk}/active/", {"active": "on"}, follow=True)
    assert b"Add an email step before starting the track." in page.content
    assert not Step.objects.exists()
