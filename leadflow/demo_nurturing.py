"""The demo's nurture tracks and their history (part of `seed_demo`).

Tracks for `trade_show`, `webinar` and `content_syndication` leads and a recycle track,
each starting with an email (so a lead gets its first one within one business day of
enrolling), are built and started through nurturing's services. The last weeks are then
replayed: scheduler passes every few hours enrol, dispatch and send through the real
outbox (into an in-memory mailbox: the demo mails nobody), and some recipients open
and click, through the same tracking service the pixel and the links call.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.core.mail import get_connection
from django.db import transaction

from leads.models import Lead, Source, Stage
from nurturing.models import Send
from nurturing.services import dispatch as dispatching
from nurturing.services import enrolment, recipients, sending, templates, tracks

REPLAY_DAYS = 21
REPLAY_EVERY = timedelta(hours=4)
OPEN_RATE, CLICK_RATE = 0.4, 0.12

_HTML = """<p>Hi {{ first_name|default:"there" }},</p>
<p>{body}</p>
<p><a href="https://leadflow.example/{link}">{cta}</a></p>
<p>{{% if owner_name %}}{{{{ owner_name }}}}{{% else %}}The LeadFlow team{{% endif %}}</p>"""
_TEXT = """Hi {{ first_name|default:"there" }},

{body}

{cta}: https://leadflow.example/{link}
"""
# name, source, (subject, body, call to action, link) per email
TRACKS = [
    (
        "Trade show follow-up",
        Source.TRADE_SHOW,
        [
            (
                "Great meeting you at the booth",
                "Thanks for stopping by. Here are the slides we "
                "showed, and a short video of lead routing in action.",
                "Watch the video",
                "video",
            ),
            (
                "How teams stop losing trade-show leads",
                "Most booth leads are never called. See how a two-hour SLA changes that.",
                "Read the guide",
                "sla-guide",
            ),
        ],
    ),
    (
        "Webinar nurture",
        Source.WEBINAR,
        [
            (
                "Your webinar recording",
                "Here is the recording and the deck from the session you signed up for.",
                "Watch the recording",
                "recording",
            ),
            (
                "Three questions from the webinar",
                "We answered the three questions we ran out of time for.",
                "Read the answers",
                "faq",
            ),
        ],
    ),
    (
        "Content syndication nurture",
        Source.CONTENT_SYNDICATION,
        [
            (
                "Your e-book: fixing the leaky pipeline",
                "Thanks for downloading the e-book. Chapter 3 is the one most readers start with.",
                "Open chapter 3",
                "ebook",
            ),
            (
                "A checklist to go with the e-book",
                "A one-page checklist of the fixes from the e-book.",
                "Get the checklist",
                "checklist",
            ),
        ],
    ),
]
RECYCLE = (
    "Recycle: back in touch",
    [
        (
            "Still looking at lead management?",
            "It has been a while. Here is what changed in LeadFlow since we last spoke.",
            "See what's new",
            "whats-new",
        ),
    ],
)


def _template(name: str, subject: str, body: str, cta: str, link: str):
    return templates.save_template(
        name=name,
        subject=subject,
        html=_HTML.format(body=body, cta=cta, link=link),
        text=_TEXT.format(body=body, cta=cta, link=link),
    )


def _build(name: str, source: str, emails, *, now: datetime, recycle: bool = False):
    about = f"Demo track for {source or 'recycled'} leads."
    track = tracks.create_track(name=name, recycle=recycle, now=now, description=about)
    for index, (subject, body, cta, link) in enumerate(emails):
        if index:
            tracks.add_step(
                track_id=track.pk,
                kind="wait",
                now=now,
                data={"amount": 3, "unit": "days", "business_days": True},
            )
        template = _template(f"{name}: email {index + 1}", subject, body, cta, link)
        tracks.add_step(track_id=track.pk, kind="email", data={"template": template.pk}, now=now)
    if source:
        tracks.add_rule(
            track_id=track.pk, name=f"{Source(source).label} leads", source=source, now=now
        )
    return tracks.set_active(track_id=track.pk, active=True, now=now)


def seed_nurturing(rng: random.Random, *, now: datetime) -> int:
    """Build the demo tracks and replay their last weeks; how many emails were sent."""
    start = now - timedelta(days=REPLAY_DAYS)
    with transaction.atomic():
        for name, source, emails in TRACKS:
            _build(name, source, emails, now=start)
        _build(RECYCLE[0], "", RECYCLE[1], now=start, recycle=True)
    mailbox = get_connection("django.core.mail.backends.locmem.EmailBackend")
    at = start
    while at <= now:
        ids = list(
            Lead.objects.filter(
                created_at__lte=at, stage__in=[Stage.NEW, Stage.NURTURING]
            ).values_list("pk", flat=True)
        )
        with transaction.atomic():
            enrolment.enrol_by_rules(now=at, lead_ids=ids)
            dispatching.dispatch(now=at)
        due = sending.due_for_sending(now=at)
        for first in range(0, len(due), 200):
            sending.send_batch(send_ids=due[first : first + 200], now=at, mailer=mailbox)
        at += REPLAY_EVERY
    mailbox.outbox = []
    sent = list(Send.objects.filter(status=Send.Status.SENT).values_list("pk", "sent_at"))
    for send_id, sent_at in sent:
        if rng.random() < OPEN_RATE:
            opened = sent_at + timedelta(hours=rng.uniform(0.2, 30))
            if opened < now:
                recipients.record_open(send_id=send_id, now=opened)
                if rng.random() < CLICK_RATE / OPEN_RATE:
                    recipients.record_click(send_id=send_id, now=opened + timedelta(minutes=2))
    return len(sent)
