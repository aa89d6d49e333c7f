"""Nurturing test data made through its services: templates, tracks, leads, a tick."""

from __future__ import annotations

from nurturing.services import templates, tracks
from tests.conftest import CURRENT_TIME
from tests.helpers import committed, make_lead

NOW = CURRENT_TIME  # a Monday, 09:30 UTC


def template(name="Welcome", subject='Welcome, {{ first_name|default:"there" }}', html=None):
    return templates.save_template(
        name=name,
        subject=subject,
        html=html
        or '<p>Hi {{ first_name|default:"there" }}, see <a href="https://example.com/guide">'
        "the guide</a>.</p>",
        text='Hi {{ first_name|default:"there" }}, see https://example.com/guide',
    )


def track(*steps, name="Webinar follow-up", source="webinar", active=True, recycle=False, now=NOW):
    made = tracks.create_track(name=name, recycle=recycle, now=now)
    for kind, data in steps:
        tracks.add_step(track_id=made.pk, kind=kind, data=data, now=now)
    if source:
        tracks.add_rule(track_id=made.pk, name=f"{source} leads", source=source, now=now)
    if active:
        tracks.set_active(track_id=made.pk, active=True, now=now)
    return made


def lead(**fields):
    data = {"source": "webinar", "consent_status": "granted", "first_name": "Ada", **fields}
    return make_lead(**data)


def tick(now=NOW):
    """One pass of nurturing's jobs, sending inline (what `manage.py tick --at` does),
    its on-commit work run as a commit would (tests.helpers.committed)."""
    from nurturing.services import ticks

    with committed():
        ticks.enrol(now)
        ticks.dispatch(now, inline=True)
    with committed():
        return ticks.sends(now, inline=True)


class RefusingBackend:
    """An email backend whose server refuses every message for good (a 550), so each
    send fails at once: `settings.EMAIL_BACKEND = "tests.nurturing_helpers.RefusingBackend"`."""

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return True

    def close(self):
        pass

    def send_messages(self, messages):
        import smtplib

        raise smtplib.SMTPDataError(550, b"5.1.1 Mailbox unknown")
