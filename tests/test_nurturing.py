"""Nurturing: tracks of steps, enrolment by rules, the outbox, send-time respect for the
recipient, exits and re-entry, unsubscribes, bounces, opens and clicks."""

from __future__ import annotations

import email.policy
import threading
from datetime import timedelta

import hypothesis
import pytest
from django.core import mail, signing
from django.core.mail.backends import locmem
from django.db import IntegrityError, transaction
from hypothesis import strategies as st

from leads.models import Activity, ConsentStatus, Lead, Stage, StageChange
from leads.services import log_touch, move_stage, record_consent
from nurturing.models import Enrolment, Send, Suppression
from nurturing.services import dispatch, enrolment, links, recipients, sending, templates, tracks
from tests.conftest import CURRENT_TIME
from tests.helpers import committed, make_lead
from tests.nurturing_helpers import lead as _lead
from tests.nurturing_helpers import template as _template
from tests.nurturing_helpers import tick as _tick
from tests.nurturing_helpers import track as _track

NOW = CURRENT_TIME  # a Monday, 09:30 UTC
pytestmark = pytest.mark.django_db


@pytest.fixture
def email_track():
    """An email, then a week's wait (so the enrolment is still active after the email)."""
    return _track(("email", {"template": _template().pk}), ("wait", {"amount": 7, "unit": "days"}))


# --- templates ----------------------------------------------------------------------


def test_a_template_that_does_not_compile_is_a_field_error_when_saved():
    with pytest.raises(templates.TemplateError) as caught:
        templates.save_template(name="Bad", subject="Hi", html="{% if %}", text="x")
    assert "html" in caught.value.errors and "compile" in caught.value.errors["html"]


def test_a_merge_field_without_a_default_is_refused_so_no_email_reads_hi_comma():
    with pytest.raises(templates.TemplateError) as caught:
        templates.save_template(
            name="Gap", subject="Hi {{ first_name }},", html="<p>x</p>", text="x"
        )
    assert "default" in caught.value.errors["subject"]
    # Inside an {% if %} on the same field it is fine.
    saved = templates.save_template(
        name="Ok",
        subject="Hi{% if first_name %} {{ first_name }}{% endif %}",
        html="<p>x</p>",
        text="x",
    )
    assert saved.pk


def test_templates_cannot_include_load_or_use_unknown_fields():
    for html, words in [
        ('{% include "x.html" %}', "include"),
        ("{% load static %}", "load"),
        ("{{ password|default:'' }}", "Unknown merge field"),
    ]:
        with pytest.raises(templates.TemplateError) as caught:
            templates.save_template(name="T", subject="S", html=html, text="t")
        assert words in caught.value.errors["html"], html


def test_rendering_escapes_lead_values_in_html_and_uses_defaults():
    template = _template()
    lead = make_lead(first_name="<script>x</script>", company="Acme")
    rendered = templates.render(template, templates.merge_values(lead, unsubscribe_url="u"))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    nameless = make_lead(first_name="")
    rendered = templates.render(template, templates.merge_values(nameless, unsubscribe_url="u"))
    assert rendered.subject == "Welcome, there" and "Hi there," in rendered.text


# --- enrolment ----------------------------------------------------------------------


def test_a_consenting_webinar_lead_enters_its_track_and_moves_to_nurturing(email_track):
    lead = _lead()
    other = _lead(source="referral")
    shy = _lead(consent_status="unknown")
    assert enrolment.enrol_by_rules(now=NOW) == [lead.pk]
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURING
    change = StageChange.objects.filter(lead=lead).order_by("changed_at", "id").last()
    assert (change.from_stage, change.to_stage, change.changed_at) == ("new", "nurturing", NOW)
    assert Activity.objects.filter(lead=lead, kind=enrolment.ENROLLED).count() == 1
    assert not Enrolment.objects.filter(lead__in=[other, shy]).exists()
    assert enrolment.enrol_by_rules(now=NOW) == []  # the second pass enrols nobody


def test_a_lead_is_in_at_most_one_track_by_a_database_constraint(email_track):
    lead = _lead()
    enrolment.enrol(lead_id=lead.pk, track_id=email_track.pk, now=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrolment.objects.create(lead=lead, track=email_track, enrolled_at=NOW)


def test_bulk_enrolment_is_set_based_and_skips_leads_in_a_track(
    email_track, marketer, django_assert_max_num_queries
):
    leads = [_lead(source="referral") for _ in range(30)]
    enrolment.enrol(lead_id=leads[0].pk, track_id=email_track.pk, now=NOW)
    with django_assert_max_num_queries(20):
        count = enrolment.enrol_leads(
            leads=Lead.objects.filter(pk__in=[x.pk for x in leads]),
            track_id=email_track.pk,
            now=NOW,
            by=marketer,
        )
    assert count == 29
    assert Lead.objects.filter(pk__in=[x.pk for x in leads], stage=Stage.NURTURING).count() == 30


# --- dispatch and sending -----------------------------------------------------------


def test_an_email_step_writes_one_outbox_row_and_the_email_leaves_with_rfc8058_headers(
    email_track, smtp_server
):
    lead = _lead(email="ada@example.com")
    result = _tick()
    assert result == {"due": 0}  # sent by the dispatch's own doorbell already
    send = Send.objects.get(lead=lead)
    assert send.status == Send.Status.SENT and send.sent_at == NOW
    [message] = smtp_server.to("ada@example.com")
    assert message["Message-ID"] == send.message_id
    unfolded = " ".join(message["List-Unsubscribe"].split())
    assert unfolded == f"<{links.unsubscribe_url(send)}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_payload()[0].get_payload(decode=True).decode()
    assert "Unsubscribe: http" in body  # visible in the text part too
    assert Activity.objects.filter(lead=lead, kind=sending.SENT).count() == 1
    # Ticks again, and two passes at once, send nothing more.
    _tick()
    _tick(NOW + timedelta(minutes=1))
    assert smtp_server.ids()[send.message_id] == 1


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    name=st.sampled_from(["Subject", "To", "List-Unsubscribe", "X-Long-Header-Name"]),
    value=st.text(st.characters(max_codepoint=0x17F), max_size=90)
    | st.text(st.sampled_from('ab \t\x0b\x0c\x1c\r\n=?:<>"@.'), max_size=80),
)
def test_quick_headers_write_every_header_as_compat32_does(name, value):
    """The send's header policy takes a short way for plain one-line values only; for
    any value its bytes, or its error, are compat32's."""
    quick, plain = (p.clone(linesep="\r\n") for p in (sending.QUICK_HEADERS, email.policy.compat32))
    try:
        expected = plain.fold_binary(name, value)
    except Exception as exc:  # compat32 refuses what looks like an embedded header
        with pytest.raises(type(exc)):
            quick.fold_binary(name, value)
    else:
        assert quick.fold_binary(name, value) == expected


def test_an_email_is_the_same_bytes_with_the_quick_headers(email_track):
    lead = _lead(email="zoe@example.com", first_name="Zoë " + "Long" * 15)
    _tick()
    send = Send.objects.select_related("lead", "template").get(lead=lead)
    mime = sending.build_message(send).message()
    quick = mime.as_bytes(linesep="\r\n")
    mime.policy = email.policy.compat32
    assert quick == mime.as_bytes(linesep="\r\n")
    assert b"=?utf-8?" in quick  # the encoded name went compat32's own way


def test_a_wait_step_holds_the_next_step_and_the_track_then_completes(smtp_server):
    template = _template()
    _track(
        ("email", {"template": template.pk}),
        ("wait", {"amount": 2, "unit": "days"}),
        ("email", {"template": _template(name="Second").pk}),
    )
    lead = _lead()
    _tick()
    assert Send.objects.filter(lead=lead).count() == 1
    _tick(NOW + timedelta(days=1))
    assert Send.objects.filter(lead=lead).count() == 1
    _tick(NOW + timedelta(days=2, minutes=1))
    assert Send.objects.filter(lead=lead, status="sent").count() == 2
    _tick(NOW + timedelta(days=2, minutes=2))
    assert Enrolment.objects.get(lead=lead).status == Enrolment.Status.COMPLETED


def test_consent_and_suppression_are_checked_when_the_email_leaves(email_track, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    withdrawn = _lead(email="w@example.com")
    _lead(email="s@example.com")
    enrolment.enrol_by_rules(now=NOW)
    dispatch.dispatch(now=NOW)  # queued, not yet sent
    Lead.objects.filter(pk=withdrawn.pk).update(consent_status=ConsentStatus.WITHDRAWN)
    recipients.suppress(email="s@example.com", reason="complaint", now=NOW)
    result = sending.send_batch(send_ids=list(Send.objects.values_list("pk", flat=True)), now=NOW)
    assert result.skipped == 2 and mail.outbox == []
    reasons = set(Send.objects.values_list("skip_reason", flat=True))
    assert any("consent" in r for r in reasons) and any("suppressed" in r for r in reasons)


def test_the_frequency_cap_counts_sales_touches_and_defers_never_drops(settings, rep_ann):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NURTURE_TOUCH_PAUSE_DAYS = 0
    settings.NURTURE_CAP = 2
    _track(("email", {"template": _template().pk}))
    lead = _lead()
    log_touch(
        lead_id=lead.pk,
        kind="call",
        body="Intro call",
        by=rep_ann,
        now=NOW - timedelta(days=6),
        occurred_at=NOW - timedelta(days=6),
    )
    log_touch(
        lead_id=lead.pk,
        kind="meeting",
        body="Demo",
        by=rep_ann,
        now=NOW - timedelta(days=1),
        occurred_at=NOW - timedelta(days=1),
    )
    _tick()
    send = Send.objects.get(lead=lead)
    assert send.status == Send.Status.QUEUED and send.deferred == Send.Deferral.CAP
    assert send.not_before == NOW + timedelta(days=1)  # when the call leaves the window
    assert send.capped and mail.outbox == []
    _tick(NOW + timedelta(days=1, minutes=1))
    send.refresh_from_db()
    assert send.status == Send.Status.SENT and len(mail.outbox) == 1


def test_nurture_pauses_while_a_rep_touched_the_lead_recently(settings, rep_ann, email_track):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lead = _lead()
    log_touch(
        lead_id=lead.pk,
        kind="email",
        body="Hi",
        by=rep_ann,
        now=NOW - timedelta(days=1),
        occurred_at=NOW - timedelta(days=1),
    )
    _tick()
    send = Send.objects.get(lead=lead)
    assert send.deferred == Send.Deferral.TOUCH and send.not_before == NOW + timedelta(days=2)


def test_a_step_due_at_night_in_the_leads_time_zone_waits_for_its_morning(settings, email_track):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lead = _lead(time_zone="Asia/Tokyo")  # 09:30 UTC is 18:30 in Tokyo
    _tick()
    send = Send.objects.get(lead=lead)
    assert send.deferred == Send.Deferral.HOURS
    assert send.not_before.isoformat() == "2026-11-03T00:00:00+00:00"  # 09:00 in Tokyo
    german = _lead(country="DE", email="de@example.com")  # no time zone: Berlin's hours
    _tick(NOW.replace(hour=7))  # 08:00 in Berlin
    assert Send.objects.get(lead=german).not_before.isoformat() == "2026-11-02T08:00:00+00:00"


def test_a_temporary_smtp_failure_retries_with_backoff_then_fails_visibly(
    email_track, smtp_server, settings
):
    settings.NURTURE_MAX_TRIES = 2
    smtp_server.refuse = 10
    lead = _lead()
    _tick()
    send = Send.objects.get(lead=lead)
    assert send.status == Send.Status.QUEUED and send.tries == 1
    assert send.deferred == Send.Deferral.RETRY and send.not_before == NOW + timedelta(seconds=60)
    _tick(NOW + timedelta(minutes=2))
    send.refresh_from_db()
    assert send.status == Send.Status.FAILED and "421" in send.last_error
    smtp_server.refuse = 0
    assert sending.retry_failed(send_id=send.pk, now=NOW + timedelta(minutes=3))
    _tick(NOW + timedelta(minutes=3))
    send.refresh_from_db()
    assert send.status == Send.Status.SENT and smtp_server.ids()[send.message_id] == 1


def test_a_dead_workers_lease_runs_out_and_the_sweep_sends_the_row_again(email_track, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _lead()
    enrolment.enrol_by_rules(now=NOW)
    dispatch.dispatch(now=NOW)
    send = Send.objects.get()
    assert sending.claim(send_ids=[send.pk], now=NOW) == [send.pk]  # then the worker died
    assert sending.due_for_sending(now=NOW + timedelta(minutes=1)) == []  # leased
    later = NOW + sending.LEASE + timedelta(seconds=1)
    assert sending.due_for_sending(now=later) == [send.pk]
    assert sending.send_batch(send_ids=[send.pk], now=later).sent == 1


def test_a_send_whose_batch_died_before_its_end_gets_its_timeline_entry_from_the_sweep(
    email_track, settings, monkeypatch
):
    """A batch writes its sent rows' timeline entries at its end; a worker killed before
    that leaves sent rows without one, which the tick's sweep writes, once."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lead = _lead()
    enrolment.enrol_by_rules(now=NOW)
    dispatch.dispatch(now=NOW)
    send = Send.objects.get()
    with monkeypatch.context() as patched:  # the worker dies right after the send
        patched.setattr(sending, "put_on_timeline", lambda sends, now: None)
        assert sending.send_batch(send_ids=[send.pk], now=NOW).sent == 1
    send.refresh_from_db()
    assert (send.status, send.on_timeline) == (Send.Status.SENT, False)
    assert not Activity.objects.filter(lead=lead, kind=sending.SENT).exists()
    later = NOW + timedelta(minutes=1)
    assert _tick(later) == {"due": 0, "timeline": 1}
    [entry] = Activity.objects.filter(lead=lead, kind=sending.SENT)
    assert entry.occurred_at == NOW and entry.data["message_id"] == send.message_id
    assert entry.data["subject"] == send.subject != ""
    assert _tick(later) == {"due": 0}  # once
    assert Activity.objects.filter(lead=lead, kind=sending.SENT).count() == 1


class _Mailer(locmem.EmailBackend):
    """A locmem connection that runs `before(message)` as each message leaves."""

    def __init__(self, before):
        super().__init__()
        self.before = before

    def send_messages(self, messages):
        for message in messages:
            self.before(message)
        return super().send_messages(messages)


def _in_another_worker(work):
    """Run `work()` on a thread of its own, with its own database connection (another
    worker process, as far as PostgreSQL can tell)."""
    from django.db import connection

    done = []

    def run():
        try:
            done.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return done[0]


@pytest.mark.django_db(transaction=True)
def test_a_row_whose_lease_runs_out_mid_batch_is_sent_once(email_track, settings):
    """A slow server: the batch's lease runs out while its first message is on the wire,
    the sweep hands its rows out again, and another worker takes them up."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _lead(email="a@example.com"), _lead(email="b@example.com")
    enrolment.enrol_by_rules(now=NOW)
    dispatch.dispatch(now=NOW)
    first, second = Send.objects.order_by("pk")
    later = NOW + sending.LEASE + timedelta(seconds=1)

    def slow_server(message):
        if message.extra_headers["Message-ID"] == first.message_id:
            _in_another_worker(
                lambda: sending.send_batch(send_ids=[second.pk], now=later).summary()
            )

    sending.send_batch(send_ids=[first.pk, second.pk], now=NOW, mailer=_Mailer(slow_server))
    sending.send_batch(send_ids=sending.due_for_sending(now=later), now=later)  # the sweep
    sent = [m.extra_headers["Message-ID"] for m in mail.outbox]
    assert sorted(sent) == sorted([first.message_id, second.message_id])  # each once
    assert set(Send.objects.values_list("status", flat=True)) == {Send.Status.SENT}


# --- branches, exits, re-entry ------------------------------------------------------


def test_a_branch_on_an_opened_email_takes_the_then_step(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    track = _track(("email", {"template": _template().pk}), ("wait", {"amount": 1, "unit": "days"}))
    opened = tracks.add_step(
        track_id=track.pk, kind="email", data={"template": _template(name="Opened").pk}, now=NOW
    )
    unopened = tracks.add_step(
        track_id=track.pk, kind="email", data={"template": _template(name="Nudge").pk}, now=NOW
    )
    branch = tracks.add_step(
        track_id=track.pk,
        kind="branch",
        position=3,
        now=NOW,
        data={"test": "opened", "within_days": 3, "then_step": opened.pk, "else_step": unopened.pk},
    )
    assert branch.position == 3
    reader, ignorer = _lead(email="r@example.com"), _lead(email="i@example.com")
    _tick()
    recipients.record_open(send_id=Send.objects.get(lead=reader).pk, now=NOW + timedelta(hours=2))
    _tick(NOW + timedelta(days=1, minutes=1))
    assert Send.objects.get(lead=reader, template__name="Opened")
    assert Send.objects.get(lead=ignorer, template__name="Nudge")


def test_becoming_mql_or_withdrawing_consent_exits_the_track_and_cancels_queued_email(
    email_track, marketer
):
    mql, shy = _lead(), _lead()
    enrolment.enrol_by_rules(now=NOW)
    dispatch.dispatch(now=NOW)
    with committed():
        move_stage(lead_id=mql.pk, to_stage=Stage.MQL, by=marketer, now=NOW)
        record_consent(lead_id=shy.pk, status="withdrawn", method="phone call", now=NOW)
    reasons = dict(Enrolment.objects.values_list("lead_id", "exit_reason"))
    assert reasons == {mql.pk: "mql", shy.pk: "consent"}
    assert set(Send.objects.values_list("status", flat=True)) == {Send.Status.SKIPPED}


def test_a_recycled_lead_re_enters_through_the_recycle_track(email_track, marketer):
    recycle = _track(
        ("email", {"template": _template(name="Back").pk}), name="Recycle", source="", recycle=True
    )
    lead = _lead()
    enrolment.enrol_by_rules(now=NOW)
    with committed():
        move_stage(lead_id=lead.pk, to_stage=Stage.MQL, by=marketer, now=NOW)
    later = NOW + timedelta(days=3)
    with committed():
        move_stage(
            lead_id=lead.pk, to_stage=Stage.NURTURING, by=marketer, reason="Not ready", now=later
        )
    active = Enrolment.objects.get(lead=lead, status="active")
    assert active.track == recycle and active.enrolled_at == later


def test_a_track_in_use_can_be_reordered_and_enrolments_keep_their_step(settings):
    track = _track(("wait", {"amount": 1, "unit": "days"}), ("email", {"template": _template().pk}))
    lead = _lead()
    _tick()
    enrolled = Enrolment.objects.get(lead=lead)  # waited: the email is next
    email_step = enrolled.step
    wait_step = track.steps.get(kind="wait")
    tracks.move_step(step_id=email_step.pk, position=1, now=NOW)
    enrolled.refresh_from_db()
    assert enrolled.step == email_step  # by identity, not by index
    assert list(track.steps.values_list("kind", flat=True)) == ["email", "wait"]
    removed = tracks.remove_step(step_id=email_step.pk, now=NOW)
    enrolled.refresh_from_db()
    assert removed == 1 and enrolled.step == wait_step  # the step after the removed one
    assert list(track.steps.values_list("position", flat=True)) == [1]


# --- unsubscribe, bounces, opens and clicks -----------------------------------------


@pytest.fixture
def sent(email_track, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lead = _lead(email="ada@example.com")
    _tick()
    return Send.objects.get(lead=lead)


def test_the_unsubscribe_page_asks_first_and_the_one_click_post_unsubscribes(client, sent):
    url = links.unsubscribe_url(sent).removeprefix("http://127.0.0.1:8000")
    page = client.get(url)
    assert page.status_code == 200 and b"<button" in page.content
    assert Lead.objects.get(pk=sent.lead_id).consent_status == ConsentStatus.GRANTED
    for _ in range(2):  # idempotent
        answer = client.post(url, {"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200 and b"You are unsubscribed" in answer.content
    lead = Lead.objects.get(pk=sent.lead_id)
    assert lead.consent_status == ConsentStatus.WITHDRAWN
    assert Suppression.objects.filter(email="ada@example.com", reason="unsubscribed").exists()
    assert Enrolment.objects.get(lead=lead).exit_reason == "unsubscribed"
    assert Activity.objects.filter(lead=lead, kind="unsubscribe").count() == 1


def test_an_unsubscribe_token_cannot_be_forged_or_turned_into_another_leads(client, sent):
    other = signing.Signer(salt="wrong").sign_object([sent.pk, "someone@else.com"])
    assert client.post(f"/u/{other}/").status_code == 404
    token = links.unsubscribe_token(sent)
    assert client.post(f"/u/{token[:-2]}xx/").status_code == 404
    assert Lead.objects.get(pk=sent.lead_id).consent_status == ConsentStatus.GRANTED


def test_a_hard_bounce_by_message_id_suppresses_and_exits(api_as, marketer, sent):
    answer = api_as(marketer).post(
        "/api/v1/email-events/",
        {"type": "hard_bounce", "message_id": sent.message_id},
        format="json",
    )
    assert answer.status_code == 200 and answer.json()["suppressed"] is True
    assert Suppression.objects.filter(email="ada@example.com", reason="hard_bounce").exists()
    assert Activity.objects.filter(lead_id=sent.lead_id, kind="bounce").count() == 1
    unknown = api_as(marketer).post(
        "/api/v1/email-events/", {"type": "complaint", "message_id": "<nope@x>"}, format="json"
    )
    assert unknown.status_code == 404


def test_repeated_soft_bounces_count_as_hard(sent):
    for i in range(recipients.SOFT_BOUNCES_AS_HARD):
        event = recipients.record_email_event(
            type="soft_bounce", email="ada@example.com", now=NOW + timedelta(days=i)
        )
    assert event.suppressed and Suppression.objects.get().reason == "soft_bounces"


def test_the_email_events_webhook_needs_a_marketing_token(api_as, rep_ann, client):
    body = {"type": "hard_bounce", "email": "x@example.com"}
    assert client.post("/api/v1/email-events/", body).status_code in (401, 403)
    assert api_as(rep_ann).post("/api/v1/email-events/", body, format="json").status_code == 403


def test_opens_and_clicks_are_events_once_per_send_and_clicks_redirect_safely(client, sent):
    opened = links.open_url(sent).removeprefix("http://127.0.0.1:8000")
    for _ in range(2):
        assert client.get(opened)["Content-Type"] == "image/gif"
    click = links.click_url(sent, "https://example.com/guide").removeprefix("http://127.0.0.1:8000")
    answer = client.get(click)
    assert answer.status_code == 302 and answer["Location"] == "https://example.com/guide"
    kinds = list(
        Activity.objects.filter(lead_id=sent.lead_id, kind__startswith="email_").values_list(
            "kind", flat=True
        )
    )
    assert sorted(kinds) == ["email_click", "email_open"]
    forged = signing.Signer(salt="nurturing.other").sign_object([sent.pk, "https://evil.example"])
    assert client.get(f"/n/c/{forged}/").status_code == 404
    javascript = signing.Signer(salt=links.CLICK).sign_object([sent.pk, "javascript:alert(1)"])
    assert client.get(f"/n/c/{javascript}/").status_code == 404


def test_the_tick_ends_enrolments_whose_exit_reaction_was_lost(email_track, marketer):
    """A lead moved on with announcements muted (a crash between commit and handler)."""
    from leads import hooks

    mql, shy = _lead(), _lead()
    enrolment.enrol_by_rules(now=NOW)
    with hooks.muted():
        move_stage(lead_id=mql.pk, to_stage=Stage.MQL, by=marketer, now=NOW)
        record_consent(lead_id=shy.pk, status="withdrawn", method="phone call", now=NOW)
    assert Enrolment.objects.filter(status="active").count() == 2
    _tick(NOW + timedelta(minutes=1))
    reasons = dict(Enrolment.objects.values_list("lead_id", "exit_reason"))
    assert reasons == {mql.pk: "mql", shy.pk: "consent"}
    assert not Send.objects.filter(status="sent").exists()  # none left before the exit


def test_business_hours_follow_dst_and_skip_the_leads_public_holidays(settings, email_track):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The day after New York left summer time: 09:30 UTC is 04:30 there (UTC-5, not -4).
    new_york = _lead(time_zone="America/New_York", email="ny@example.com")
    _tick()
    assert Send.objects.get(lead=new_york).not_before.isoformat() == "2026-11-02T14:00:00+00:00"
    # Christmas Day and Boxing Day are German holidays; the 26th is a Saturday anyway.
    christmas = NOW.replace(month=12, day=25, hour=10)
    german = _lead(country="DE", email="de@example.com")
    _tick(christmas)
    send = Send.objects.get(lead=german)
    assert send.deferred == Send.Deferral.HOURS
    assert send.not_before.isoformat() == "2026-12-28T08:00:00+00:00"  # Monday 09:00 Berlin
