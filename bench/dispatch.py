"""Dispatching nurture emails (issue 11): due email steps through the real SMTP code path
into a local SMTP server, beside `smtplib` sending the same messages on one connection;
and the dispatcher's claim of due enrolments among a million.

    make bench BENCH_ARGS="dispatch"            (20,000 emails, 1,000,000 enrolments)
    python -m bench dispatch --rows 2000        (smoke: 100 emails, 2,000 enrolments)

Two ways, each beside its own baseline: through the Celery worker with the default
settings (`make run`'s, from leadflow/Procfile: prefork, its concurrency), the tick
dispatching and the worker's processes sending the tasks its batches enqueue, timed
until no row is queued; and inline, as `manage.py tick` does it (`ticks.dispatch(now,
inline=True)`: the dispatcher's batches of `dispatch.BATCH` enrolments, sent in
`ticks.SEND_BATCH` rows per SMTP connection, every row checked, rendered, sent and
recorded one by one), the work of one process without the broker. The server
(aiosmtpd, bench/_smtp_sink.py) runs in a process of its own and counts messages by
Message-ID; the baseline renders nothing and checks nothing: the same rendered
messages, one `sendmail` after another.

Targets (issue 11): at least 500 emails/s and at least half smtplib's rate, 0 duplicates;
the due-step claim under 50 ms per batch with a million enrolments.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.test import override_settings

from bench._processes import celery_worker, stop
from bench._results import TARGET_ROWS, Row, explained, judged, option, side_by_side
from bench._smtp_sink import Sink
from leadflow.env import database_url
from leads.models import Lead
from nurturing.models import Send
from nurturing.services import dispatch, enrolment, sending, templates, ticks, tracks

EMAILS_AT_TARGET = 20_000
RATE_TARGET = 500  # emails/s
RATIO_TARGET = 0.5  # of smtplib's rate
CLAIM_TARGET = 0.050  # s per batch
POLL_SECONDS = 0.25  # how often the worker row looks whether all is sent (its resolution)
NOW = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday morning: business hours in UTC


def _leads(count: int, *, tag: str) -> None:
    """`count` consenting leads in UTC, in one set-based INSERT."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_lead (
                email, first_name, last_name, title, company, company_domain, website,
                industry, country, time_zone, source, stage, need, timeline, consent_status,
                consent_method, fit, engagement, score, grade, custom, human_edited,
                created_at, updated_at, in_handoff
            )
            SELECT %s || g || '@company' || (g %% 5000) || '.com',
                   (ARRAY['Ada','Bo','Cy','Di'])[1 + g %% 4], 'Surname' || g, 'CTO',
                   'Company ' || (g %% 5000), 'company' || (g %% 5000) || '.com', '',
                   'Software', '', 'UTC', 'webinar', 'new', '', '', 'granted', 'web form',
                   0, 0, 0, '', '{}'::jsonb, '{}', %s, %s, false
            FROM generate_series(1, %s) g
            """,
            [tag, NOW, NOW, count],
        )


def _track(now: datetime) -> int:
    template = templates.save_template(
        name=f"Welcome {now:%Y-%m-%d}",
        subject='Welcome, {{ first_name|default:"there" }}',
        html='<html><body><p>Hi {{ first_name|default:"there" }}, here is <a '
        'href="https://example.com/guide">the guide</a> and <a '
        'href="https://example.com/webinar">the recording</a>.</p></body></html>',
        text='Hi {{ first_name|default:"there" }}, the guide: https://example.com/guide',
    )
    track = tracks.create_track(name=f"Webinar follow-up {now:%Y-%m-%d}", now=now)
    tracks.add_step(track_id=track.pk, kind="email", data={"template": template.pk}, now=now)
    tracks.add_step(track_id=track.pk, kind="wait", data={"amount": 7, "unit": "days"}, now=now)
    tracks.set_active(track_id=track.pk, active=True, now=now)
    return track.pk


def _enrol(track_id: int, tag: str, now: datetime) -> int:
    leads = Lead.objects.filter(email__startswith=tag, enrolments__isnull=True)
    return enrolment.enrol_leads(leads=leads, track_id=track_id, now=now, by=None)


def _smtplib_of(sink: Sink, sends, emails: int) -> float:
    """smtplib sending the messages of `sends`, rendered beforehand, on one connection."""
    rendered = []
    for send in sends.select_related("lead", "lead__owner", "template").order_by("pk"):
        message = sending.build_message(send)
        rendered.append(
            (message.from_email, message.to, message.message().as_bytes(linesep="\r\n"))
        )
    sink.reset()
    theirs = _smtplib(sink, rendered)
    if sum(sink.counts().values()) != emails:
        raise SystemExit("smtplib's messages did not all arrive")
    return theirs


def _monday_morning_ahead() -> datetime:
    """10:00 UTC on a Monday at least a week ahead of the clock: the worker's tasks act
    at the later of their tick's instant and the clock (nurturing.tasks.send_emails), so
    this is the instant they act at, inside business hours whatever the day of the run."""
    day = (datetime.now(UTC) + timedelta(days=7)).date()
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 10, tzinfo=UTC)


@contextlib.contextmanager
def _worker(sink: Sink):
    """The Celery worker as `make run` starts it (leadflow/Procfile: prefork, concurrency
    2), on the bench database and Redis, sending to the sink; stopped after."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
    }
    procfile = (Path(__file__).resolve().parent.parent / "leadflow" / "Procfile").read_text()
    [line] = [line for line in procfile.splitlines() if line.startswith("worker:")]
    concurrency = line.split("--concurrency", 1)[1].split()[0]
    proc = celery_worker(env, "--loglevel", "warning", "--concurrency", concurrency)
    try:
        from leadflow.celery import app

        deadline = time.monotonic() + 120
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the Celery worker did not start")
        yield int(concurrency)
    finally:
        stop([proc], grace=60)


def _through_workers(sink: Sink, rows: int, emails: int) -> list[Row]:
    """The same due emails, dispatched by the tick and sent by the real worker: the
    dispatcher's batches enqueue their send tasks on commit, the worker's processes send
    them as they come (the time until none is queued)."""
    ahead = _monday_morning_ahead()
    track_id = _track(ahead)
    _leads(emails, tag="worker")
    if _enrol(track_id, "worker", ahead) != emails:
        raise SystemExit("not every lead was enrolled")
    # Polled while the worker sends, so cheap (the queued rows' partial index, no join)
    # and not often: a poll takes CPU from the processes measured.
    queued = Send.objects.filter(status="queued", track_id=track_id)
    sink.reset()
    with _worker(sink) as processes:
        started = time.perf_counter()
        ticks.dispatch(ahead)
        left, moved = queued.count(), time.perf_counter()
        while left:
            time.sleep(POLL_SECONDS)
            now_left = queued.count()
            if now_left < left:
                left, moved = now_left, time.perf_counter()
            elif time.perf_counter() - moved > 120:
                raise SystemExit(f"the worker sent nothing for 2 minutes ({left} queued)")
        ours = time.perf_counter() - started
    sends = Send.objects.filter(lead__email__startswith="worker")
    counts = sink.counts()
    sent = set(sends.filter(status="sent").values_list("message_id", flat=True))
    if len(sent) != emails or set(counts) != sent:
        raise SystemExit(f"the worker sent {len(sent)}, the server saw {len(counts)} messages")
    duplicates = sum(counts.values()) - len(counts)
    theirs = _smtplib_of(sink, sends, emails)
    work = (
        f"{emails:,} due email steps dispatched by the tick and sent by the Celery worker "
        f"as `make run` starts it ({processes} processes, {ticks.SEND_BATCH} per task and "
        f"SMTP connection) into a local SMTP server: {emails / ours:,.0f} emails/s, "
        f"{duplicates} duplicates, vs smtplib sending the same rendered messages on one "
        f"connection: {emails / theirs:,.0f} emails/s"
    )
    # The plan of the slowest statement of the same path (dispatch, then send_batch as
    # the worker runs it): a small dispatch more, inline, under EXPLAIN.
    _leads(200, tag="wexplained")
    _enrol(track_id, "wexplained", ahead)
    plan = explained(work, lambda: ticks.dispatch(ahead, inline=True))
    return [_send_row("send_worker", work, rows, emails, ours, theirs, duplicates, plan)]


def _send_row(key, work, rows, emails, ours, theirs, duplicates, explain="") -> Row:
    met = emails / ours >= RATE_TARGET and theirs / ours >= RATIO_TARGET and duplicates == 0
    return Row(
        key=key,
        work=work,
        leadflow=ours,
        baseline=theirs,
        target=f"≥ {RATE_TARGET} emails/s, ≥ {RATIO_TARGET}× smtplib's rate "
        f"(time ≤ {1 / RATIO_TARGET:g}× smtplib's), 0 duplicates",
        met=judged(met, rows),
        explain=explain,
    )


def _smtplib(sink: Sink, messages: list[tuple[str, list[str], bytes]]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for sender, to, data in messages:
            smtp.sendmail(sender, to, data)
    return time.perf_counter() - started


def _sending_rows(rows: int) -> list[Row]:
    emails = max(100, EMAILS_AT_TARGET * rows // TARGET_ROWS)
    sink = Sink.start()
    smtp = override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=sink.port,
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
    )
    try:
        with smtp:
            return _through_workers(sink, rows, emails) + _send_into(sink, rows, emails)
    finally:
        sink.stop()


def _send_into(sink: Sink, rows: int, emails: int) -> list[Row]:
    track_id = _track(NOW)
    sink.reset()
    _leads(emails, tag="reader")
    if _enrol(track_id, "reader", NOW) != emails:
        raise SystemExit("not every lead was enrolled")
    started = time.perf_counter()
    result = ticks.dispatch(NOW, inline=True)
    ours = time.perf_counter() - started
    counts = sink.counts()
    sends = Send.objects.filter(lead__email__startswith="reader")
    sent = set(sends.filter(status="sent").values_list("message_id", flat=True))
    if result.get("sent") != emails or len(sent) != emails or set(counts) != sent:
        raise SystemExit(f"dispatch sent {result}, the server saw {len(counts)} messages")
    duplicates = sum(counts.values()) - len(counts)

    theirs = _smtplib_of(sink, sends, emails)

    # The plan of the slowest statement: a small dispatch more, under EXPLAIN.
    _leads(200, tag="explained")
    _enrol(track_id, "explained", NOW)
    work = (
        f"{emails:,} due email steps dispatched and sent inline (batches of "
        f"{dispatch.BATCH} claimed, {ticks.SEND_BATCH} per SMTP connection, each checked, "
        f"rendered, sent, recorded) into a local SMTP server: {emails / ours:,.0f} "
        f"emails/s, {duplicates} duplicates, vs smtplib sending the same rendered "
        f"messages on one connection: {emails / theirs:,.0f} emails/s"
    )
    plan = explained(work, lambda: ticks.dispatch(NOW, inline=True))
    return [_send_row("send", work, rows, emails, ours, theirs, duplicates, plan)]


def _enrolments(count: int, step_id: int, track_id: int) -> int:
    """`count` more leads, each with an enrolment: 30% ended, and of the active ones 1 in
    100 due (an hour ago), the others due in the next 30 days. The due ones."""
    _leads(count, tag="enrolled")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO nurturing_enrolment
                (lead_id, track_id, rule_id, status, step_id, due_at, enrolled_at, exited_at,
                 exit_reason)
            SELECT l.id, %s, NULL,
                   CASE WHEN l.id %% 10 < 3 THEN 'completed' ELSE 'active' END, %s,
                   CASE WHEN l.id %% 10 < 3 THEN NULL
                        WHEN l.id %% 100 = 5 THEN %s - interval '1 hour'
                        ELSE %s + (1 + l.id %% 30) * interval '1 day' END,
                   %s, CASE WHEN l.id %% 10 < 3 THEN %s END,
                   CASE WHEN l.id %% 10 < 3 THEN 'completed' ELSE '' END
            FROM leads_lead l WHERE l.email LIKE 'enrolled%%'
            """,
            [track_id, step_id, NOW, NOW, NOW - timedelta(days=30), NOW],
        )
        cursor.execute("ANALYZE nurturing_enrolment")
        cursor.execute("ANALYZE leads_lead")
        cursor.execute(
            "SELECT count(*) FROM nurturing_enrolment WHERE status = 'active' AND due_at <= %s",
            [NOW],
        )
        return cursor.fetchone()[0]


def _rolled_back(fn):
    def run():
        with transaction.atomic():
            fn()
            transaction.set_rollback(True)  # the same due rows for every run

    return run


def _claim_rows(rows: int, repeat: int) -> list[Row]:
    step = tracks.add_step(
        track_id=_claim_track(), kind="wait", data={"amount": 1, "unit": "days"}, now=NOW
    )
    due = _enrolments(rows, step.pk, step.track_id)
    total = rows + Lead.objects.filter(email__startswith="reader").count()

    def ours():
        return dispatch.claim_due(now=NOW)

    def by_hand():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM nurturing_enrolment WHERE status = 'active' AND due_at <= %s "
                "LIMIT %s FOR UPDATE SKIP LOCKED",
                [NOW, dispatch.BATCH],
            )
            return cursor.fetchall()

    mine, hand = side_by_side(_rolled_back(ours), _rolled_back(by_hand), repeat=repeat)
    work = (
        f"the due-step claim (claim_due: {dispatch.BATCH} enrolments, oldest first, FOR UPDATE "
        f"SKIP LOCKED) with {total:,} enrolments ({due:,} due) vs a hand-written "
        "SELECT … LIMIT … FOR UPDATE SKIP LOCKED"
    )
    return [
        Row(
            key="claim",
            work=work,
            leadflow=mine,
            baseline=hand,
            runs=repeat,
            target=f"p95 < {CLAIM_TARGET * 1000:g} ms per batch",
            met=judged(mine < CLAIM_TARGET, rows),
            explain=explained(work, _rolled_back(ours)),
        )
    ]


def _claim_track() -> int:
    track = tracks.create_track(name="Claim", now=NOW)
    return track.pk


def main(options: list[str]) -> list[Row]:
    rows = option(options, "--rows", TARGET_ROWS)
    repeat = max(option(options, "--repeat", 3), 1) * 10  # a claim takes milliseconds
    print(f"sending {max(100, EMAILS_AT_TARGET * rows // TARGET_ROWS):,} emails", flush=True)
    result = _sending_rows(rows)
    print(f"claiming among {rows:,} enrolments", flush=True)
    result += _claim_rows(rows, repeat)
    for row in result:
        print(f"{row.work}: {row.leadflow:.3f} s vs {row.baseline:.3f} s", flush=True)
    return result
