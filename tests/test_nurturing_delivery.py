"""Nurturing's delivery guarantee (issue 11), against a real SMTP server that counts what
it receives by Message-ID: a dispatch of thousands of due emails during which the real
Celery worker is SIGKILLed twice and the server answers 421 for a while ends with every
due email delivered, none lost and at most one duplicate per kill (the message in flight,
with its Message-ID); the same tick run twice, or two at once, sends nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from leads.models import Activity, ConsentStatus, Lead
from nurturing.models import Send
from nurturing.services import enrolment, sending, templates, ticks, tracks
from nurturing.tasks import send_emails
from tests.helpers import database_url, race

ROOT = Path(__file__).resolve().parent.parent
LEADS = 2_000
WITHDRAWN = 50  # leads whose consent goes between the dispatch and the send
KILL_AT = (700, 1_400)  # messages received when the worker is killed
REFUSE_AFTER, REFUSALS = 1_000, 40  # the server answers 421 to 40 messages after 1,000
DEADLINE = 90  # seconds, for each wait


def _monday_morning_ahead() -> datetime:
    """10:00 UTC on a Monday at least a week ahead of the clock. The tick's instants are
    later than the worker's clock, so its tasks act at the instant the tick gave them
    (nurturing.tasks.send_emails), inside business hours whatever the day of the run."""
    day = (timezone.now() + timedelta(days=7)).date()
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 10, tzinfo=UTC)


class Clock:
    """The scheduler's clock in this test: runs with real time from `start` and jumps
    forward when the test says (a worker died; its lease runs out)."""

    def __init__(self, start: datetime):
        self.start, self.began, self.jumped = start, time.monotonic(), timedelta(0)

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began) + self.jumped

    def jump(self, by: timedelta) -> None:
        self.jumped += by


def wait_until(
    condition: Callable[[], bool], *, what: str, each: Callable[[], object] | None = None
):
    """Poll `condition` (running `each` first, if given) until it holds or DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while True:
        if each is not None:
            each()
        if condition():
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def workers(transactional_db, smtp_server, settings, monkeypatch, tmp_path):
    """workers.start() runs a real `celery worker` (solo pool: one message in flight)
    in a session of its own, on a queue of this test, pointed at the test database, the
    test Redis and the test SMTP server; workers.kill(proc) SIGKILLs it (the pid of its
    --pidfile). Stopped before the database is flushed."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(
        send_emails,
        "delay",
        lambda send_ids, at=None: send_emails.apply_async([send_ids], {"at": at}, queue=queue),
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_server.port}",
        "NURTURE_RETRY_SECONDS": "1",
    }
    started: list[subprocess.Popen] = []

    class Workers:
        def start(self) -> subprocess.Popen:
            pidfile = tmp_path / f"worker{len(started)}.pid"
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "leadflow", "worker",
                    "--queues", queue, "--pool", "solo", "--loglevel", "warning",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                    "--pidfile", str(pidfile),
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )  # fmt: skip
            proc.pidfile = pidfile
            started.append(proc)
            wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="pidfile")
            return proc

        def kill(self, proc: subprocess.Popen) -> None:
            pid = int(proc.pidfile.read_text())
            assert pid == proc.pid
            os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=30)

    yield Workers()
    for proc in started:
        proc.terminate()  # nothing for one already killed and reaped
        proc.wait(timeout=30)


def _email_track(now: datetime):
    """An active track: one email, then a week's wait."""
    template = templates.save_template(
        name="Welcome",
        subject='Welcome, {{ first_name|default:"there" }}',
        html='<p>Hi {{ first_name|default:"there" }}, see <a href="https://example.com/g">'
        "the guide</a>.</p>",
        text='Hi {{ first_name|default:"there" }}, see https://example.com/g',
    )
    track = tracks.create_track(name="Webinar follow-up", now=now)
    tracks.add_step(track_id=track.pk, kind="email", data={"template": template.pk}, now=now)
    tracks.add_step(track_id=track.pk, kind="wait", data={"amount": 7, "unit": "days"}, now=now)
    tracks.set_active(track_id=track.pk, active=True, now=now)
    return track


def _enrolled_leads(count: int, *, now: datetime, by) -> list[int]:
    """`count` consenting leads in business hours (UTC), in the track (set-based)."""
    Lead.objects.bulk_create(
        Lead(email=f"reader{i}@example.com", first_name="Ada", source="webinar",
             consent_status=ConsentStatus.GRANTED, time_zone="UTC", created_at=now)
        for i in range(count)
    )  # fmt: skip
    track = _email_track(now)
    leads = Lead.objects.filter(email__startswith="reader")
    assert enrolment.enrol_leads(leads=leads, track_id=track.pk, now=now, by=by) == count
    return list(leads.order_by("pk").values_list("pk", flat=True))


def _statuses() -> dict[str, int]:
    return {status: Send.objects.filter(status=status).count() for status in Send.Status.values}


def test_every_due_email_is_delivered_through_two_worker_kills_and_a_421_stretch(
    workers, smtp_server, marketer
):
    began = time.monotonic()
    clock = Clock(_monday_morning_ahead())
    lead_ids = _enrolled_leads(LEADS, now=clock(), by=marketer)
    dispatched = ticks.dispatch(clock())  # the doorbells wait in Redis for a worker
    assert (dispatched["queued"], dispatched["handed_out"]) == (LEADS, LEADS)
    # Consent withdrawn after the email was queued (a reaction lost): checked at send time.
    withdrawn = lead_ids[-WITHDRAWN:]
    Lead.objects.filter(pk__in=withdrawn).update(consent_status=ConsentStatus.WITHDRAWN)
    smtp_server.refuse_later(after=REFUSE_AFTER, count=REFUSALS)

    def beat():  # the test is beat: the sweep, as often as beat would run it
        ticks.sends(clock())

    worker = workers.start()
    for received in KILL_AT:
        wait_until(
            lambda n=received: smtp_server.count() >= n, what=f"{received} messages", each=beat
        )
        workers.kill(worker)
        # Its batch stays leased and its reserved tasks unacked (until Redis's visibility
        # timeout, an hour): the sweep takes them up once the lease has run out.
        clock.jump(sending.LEASE + timedelta(seconds=1))
        worker = workers.start()
    wait_until(
        lambda: not Send.objects.filter(status=Send.Status.QUEUED).exists(),
        what="every row to be sent or skipped",
        each=beat,
    )

    statuses = _statuses()
    assert statuses == {"queued": 0, "sent": LEADS - WITHDRAWN, "failed": 0,
                        "skipped": WITHDRAWN}, statuses  # fmt: skip
    received = smtp_server.ids()
    sent = set(Send.objects.filter(status=Send.Status.SENT).values_list("message_id", flat=True))
    assert set(received) == sent  # none lost, nothing else
    duplicates = {message_id: n - 1 for message_id, n in received.items() if n > 1}
    assert sum(duplicates.values()) <= len(KILL_AT), duplicates  # one in flight per kill
    # Every sent row is on its lead's timeline once, killed batches' rows by the sweep.
    beat()
    assert not Send.objects.filter(status=Send.Status.SENT, on_timeline=False).exists()
    assert Activity.objects.filter(kind=sending.SENT).count() == len(sent)
    skipped = Send.objects.filter(lead_id__in=withdrawn)
    assert {s.status for s in skipped} == {Send.Status.SKIPPED}
    assert all("consent" in s.skip_reason for s in skipped)
    assert smtp_server.refusals == REFUSALS
    assert Send.objects.filter(status=Send.Status.SENT, tries__gt=0).exists()  # retried
    print(
        f"\n{LEADS:,} due emails, {len(KILL_AT)} kills, {smtp_server.refusals} refusals (421): "
        f"{len(sent):,} delivered, {sum(duplicates.values())} duplicate(s), "
        f"{WITHDRAWN} skipped (consent), {time.monotonic() - began:.1f} s"
    )


def test_the_same_tick_twice_or_two_ticks_at_once_send_nothing_twice(
    transactional_db, smtp_server, marketer
):
    now = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday morning
    _enrolled_leads(300, now=now, by=marketer)

    def tick(_):
        return ticks.dispatch(now, inline=True), ticks.sends(now, inline=True)

    race(tick, times=2)  # two at once, each on its own connection
    tick(0)
    tick(0)  # and the same tick again, twice
    assert _statuses()["sent"] == 300
    received = smtp_server.ids()
    assert len(received) == 300 and set(received.values()) == {1}
