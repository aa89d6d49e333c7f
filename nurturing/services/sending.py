"""Sending the outbox: exactly what is due, checked when it leaves, never lost, never
doubled by a retry.

A send batch claims its rows with a lease (a conditional UPDATE: queued, due, and no
live lease), then for each row, in order:

1. checks the recipient **at send time**: the lead is still in the track (or ended it
   normally), its consent is `granted`, its address is not suppressed; a rep touched it
   in the last NURTURE_TOUCH_PAUSE_DAYS → deferred until then; the frequency cap
   (NURTURE_CAP emails in a rolling 7 days, counting every track and the calls, emails
   and meetings reps log) → deferred until the window frees up; outside the lead's
   business hours → deferred to the next opening. A deferral is never a drop.
2. re-reads the row (still queued, still this batch's lease: a lease that ran out on a
   slow server may have let another worker take the row), sends it over the batch's one
   SMTP connection, with its stable Message-ID and the RFC 8058 headers, and records it
   as sent right after the server accepted it (the statement that records it also reads
   the next row's lease). The batch's "email sent" timeline entries are written at its
   end, in one statement; the sweep writes those of a batch killed before its end.

The batch holds its leads' advisory locks throughout, so the frequency cap it read
once for them counts what any other worker sent.

A temporary failure (4xx, a dropped connection) puts the row off with backoff; after
NURTURE_MAX_TRIES it is `failed` (the outbox page retries it). A worker killed
mid-batch leaves its rows leased: when the lease runs out the tick's sweep hands them
out again, so the one message in flight at the kill may go twice, with the same
Message-ID, and nothing is lost.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email._policybase import Compat32
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import Q
from django.utils.html import escape

from leadflow import business_time
from leads.exceptions import LeadFlowError
from leads.models import Activity, ConsentStatus, Stage
from leads.services.timeline import SALES_TOUCHES, Entry, record_activities
from nurturing.models import Enrolment, Send, Suppression, Template
from nurturing.services import links, templates
from nurturing.services.dispatch import calendar_of

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
CAP_WINDOW = timedelta(days=7)
SENT = "nurture_email_sent"
NATURAL_ENDS = (Enrolment.Exit.EXIT_STEP, Enrolment.Exit.COMPLETED)
NURTURED = (Stage.NEW, Stage.NURTURING)  # past these, sales has the lead: no nurture email
SWEEP_LIMIT = 5000
_HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)


@dataclass
class Sent:
    sent: int = 0
    deferred: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    released: int = 0  # claimed but left for later (the connection failed first)
    busy: int = 0  # claimed elsewhere meanwhile
    sends: list[Send] = field(default_factory=list)  # the rows sent

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "sends"}


@dataclass(frozen=True)
class Verdict:
    action: str  # send, defer, skip
    until: datetime | None = None
    why: str = ""
    reason: str = ""  # skip reason in words


def message_id_domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "leadflow.localhost"


def claim(*, send_ids: list[int], now: datetime) -> list[int]:
    """Lease the rows of `send_ids` that are queued, due and not leased elsewhere."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE nurturing_send SET lease_until = %s
            WHERE id IN (SELECT id FROM nurturing_send
                         WHERE id = ANY(%s) AND status = 'queued' AND not_before <= %s
                           AND (lease_until IS NULL OR lease_until < %s)
                         ORDER BY id FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            [now + LEASE, list(send_ids), now, now],
        )
        return sorted(row[0] for row in cursor.fetchall())


def verdict(send: Send, *, now: datetime, checks: _Checks | None = None) -> Verdict:
    """Whether `send` may leave now, checked against the state of now (`checks`: the
    suppressions and cap windows of its batch, read once for all its rows)."""
    checks = checks or _Checks.read([send], now=now)
    enrolment, lead = send.enrolment, send.lead
    ended = enrolment.status != Enrolment.Status.ACTIVE
    if ended and enrolment.exit_reason not in NATURAL_ENDS:
        return Verdict("skip", reason="The lead left the track.")
    if lead.merged_into_id is not None:
        return Verdict("skip", reason="The lead was merged into another.")
    if lead.in_handoff or lead.stage not in NURTURED:
        return Verdict("skip", reason=f"The lead is {lead.get_stage_display()} now.")
    if lead.consent_status != ConsentStatus.GRANTED:
        label = ConsentStatus(lead.consent_status).label.lower()
        return Verdict("skip", reason=f"No marketing-email consent ({label}).")
    if not lead.email:
        return Verdict("skip", reason="The lead has no email address.")
    suppressed = checks.suppressed.get(lead.email)
    if suppressed is not None:
        label = Suppression.Reason(suppressed).label.lower()
        return Verdict("skip", reason=f"The address is suppressed ({label}).")
    pause = timedelta(days=settings.NURTURE_TOUCH_PAUSE_DAYS)
    if lead.last_sales_touch_at is not None and lead.last_sales_touch_at > now - pause:
        return Verdict("defer", until=lead.last_sales_touch_at + pause, why=Send.Deferral.TOUCH)
    counted = checks.windows[lead.pk]
    if len(counted) >= settings.NURTURE_CAP:
        # Free when enough of the window's items have aged out to leave room for one.
        until = counted[len(counted) - settings.NURTURE_CAP] + CAP_WINDOW
        return Verdict("defer", until=max(until, now + timedelta(seconds=1)), why=Send.Deferral.CAP)
    calendar = calendar_of(lead)
    if not business_time.is_open(calendar, now):
        return Verdict(
            "defer", until=business_time.next_open(calendar, now), why=Send.Deferral.HOURS
        )
    return Verdict("send")


@dataclass
class _Checks:
    """What a batch's verdicts read from the database, read once: the suppressed
    addresses among its recipients, and when each of its leads' marketing emails and
    sales touches of the last 7 days happened, oldest first (what the cap counts). The
    batch holds its leads' locks, so only its own sends change the windows meanwhile."""

    suppressed: dict[str, str]
    windows: dict[int, list[datetime]]

    @classmethod
    def read(cls, rows: list[Send], *, now: datetime) -> _Checks:
        emails = {r.lead.email for r in rows if r.lead.email}
        suppressed = dict(
            Suppression.objects.filter(email__in=emails).values_list("email", "reason")
        )
        lead_ids = {r.lead_id for r in rows}
        since = now - CAP_WINDOW
        windows: dict[int, list[datetime]] = {lead_id: [] for lead_id in lead_ids}
        sent = Send.objects.filter(
            lead_id__in=lead_ids, status=Send.Status.SENT, sent_at__gt=since, sent_at__lte=now
        ).values_list("lead_id", "sent_at")
        touches = Activity.objects.filter(
            Q(lead_id__in=lead_ids, kind__in=SALES_TOUCHES)
            & Q(occurred_at__gt=since, occurred_at__lte=now)
        ).values_list("lead_id", "occurred_at")
        for lead_id, at in [*sent, *touches]:
            windows[lead_id].append(at)
        for items in windows.values():
            items.sort()
        return cls(suppressed, windows)

    def sent(self, send: Send, *, now: datetime) -> None:
        self.windows[send.lead_id].append(now)


def build_message(send: Send, *, connection=None) -> EmailMultiAlternatives:
    """The email of `send` as the lead gets it: merge fields from a plain dict, a visible
    unsubscribe link, click-tracked links, an open pixel, and the headers of RFC 8058."""
    unsubscribe = links.unsubscribe_url(send)
    values = templates.merge_values(send.lead, unsubscribe_url=unsubscribe)
    rendered = templates.render(send.template, values)
    send._subject = rendered.subject
    html = _HREF.sub(lambda m: f'href="{escape(links.click_url(send, m.group(1)))}"', rendered.html)
    footer = (
        f'<p style="font-size:12px;color:#555">Don\'t want these emails? '
        f'<a href="{escape(unsubscribe)}">Unsubscribe</a>.</p>'
        f'<img src="{escape(links.open_url(send))}" width="1" height="1" alt="">'
    )
    html = html.replace("</body>", footer + "</body>") if "</body>" in html else html + footer
    text = f"{rendered.text.rstrip()}\n\n--\nUnsubscribe: {unsubscribe}\n"
    message = _Email(
        subject=rendered.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[send.lead.email],
        connection=connection,
        headers={
            "Message-ID": send.message_id,
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


# A header value compat32 writes as it is when it fits on its line: printable ASCII,
# spaces and tabs (other control characters count as line breaks to it).
_PLAIN = re.compile(r"[\t\x20-\x7e]*")


class _QuickHeaders(Compat32):
    """compat32, the policy of Django's messages, writing a header that fits on one line
    of plain ASCII as it is, which is what compat32 makes of it (tests compare the two on
    any value): without building an `email.header.Header` for every header of every
    email, a tenth of a send's time. Anything else goes compat32's own way."""

    def fold_binary(self, name, value):
        if (
            isinstance(value, str)
            and self.max_line_length
            and len(name) + 2 + len(value) <= self.max_line_length
            and _PLAIN.fullmatch(value)
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


QUICK_HEADERS = _QuickHeaders()


class _Email(EmailMultiAlternatives):
    """A nurture email whose MIME boundary comes from its Message-ID: the same on every
    retry, and given, so the generator need not invent one and search the parts for it
    (a regular expression compiled per message, a tenth of the send's time); its headers
    written by QUICK_HEADERS (the generator writes every part with the message's
    policy)."""

    def message(self, *args, **kwargs):
        mime = super().message(*args, **kwargs)
        digest = hashlib.sha256(f"boundary:{self.extra_headers['Message-ID']}".encode())
        mime.set_boundary(f"==leadflow-{digest.hexdigest()[:40]}==")
        mime.policy = QUICK_HEADERS
        return mime


def _temporary(exc: Exception) -> bool:
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= c < 500 for c in codes)
    if code is not None:
        return 400 <= code < 500
    return isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError)


def _connection_level(exc: Exception) -> bool:
    """A failure of the connection, not of this message: the rest of the batch waits."""
    return isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError) or (
        getattr(exc, "smtp_code", None) == 421
    )


def backoff(tries: int) -> timedelta:
    base = settings.NURTURE_RETRY_SECONDS
    return timedelta(seconds=min(base * 2 ** max(tries - 1, 0), 3600))


def send_batch(*, send_ids: list[int], now: datetime, mailer=None) -> Sent:
    """Claim and send the due rows of `send_ids` on one SMTP connection (see the module;
    `mailer`: an email backend connection to use instead of opening one)."""
    result = Sent()
    claimed = claim(send_ids=send_ids, now=now)
    result.busy = len(set(send_ids)) - len(claimed)
    if not claimed:
        return result
    lease = now + LEASE  # what claim() wrote on every row it leased
    rows = list(
        Send.objects.filter(pk__in=claimed)
        .select_related("lead", "lead__owner", "template", "enrolment")
        .order_by("pk")
    )
    locked = _lock_leads({send.lead_id for send in rows})
    smtp = mailer
    _quick_commits(True)
    try:
        elsewhere = [send for send in rows if send.lead_id not in locked]
        _release(elsewhere)  # another worker is sending to these leads: later
        result.busy += len(elsewhere)
        rows = [send for send in rows if send.lead_id in locked]
        checks = _Checks.read(rows, now=now)
        leased = None  # whether the row is still this batch's, when the last write read it
        for index, send in enumerate(rows):
            if not (_still_leased(send, lease=lease) if leased is None else leased):
                result.busy += 1
                leased = None
                continue
            outcome = _one(
                send, rows, index, now=now, lease=lease, result=result, smtp=smtp, checks=checks
            )
            smtp, leased = outcome.smtp, outcome.next_leased
            if outcome.stop:
                break
    finally:
        try:
            put_on_timeline(result.sends, now=now)
        finally:
            _quick_commits(False)
            _unlock_leads(locked)
        if smtp is not None:
            _closed(smtp)
    return result


def _quick_commits(on: bool) -> None:
    """The batch's records commit without waiting for the WAL flush (synchronous_commit
    off, for this session while the batch runs): a commit is visible and kept at once, and
    a killed worker loses nothing; only a crash of PostgreSQL itself within a fraction of
    a second (wal_writer_delay) may forget a row was sent, which then goes again with the
    same Message-ID. Per email this saves the disk flush that was most of its time."""
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off" if on else "RESET synchronous_commit")


@dataclass
class _Outcome:
    smtp: object
    stop: bool = False
    next_leased: bool | None = None  # the next row's lease, read with this row's record


def _one(
    send: Send, rows: list[Send], index: int, *, now, lease, result: Sent, smtp, checks: _Checks
) -> _Outcome:
    """Check, send and record one row (its lead locked against other workers, so the
    frequency cap counts what they sent)."""
    decision = verdict(send, now=now, checks=checks)
    if decision.action == "skip":
        _finish(send, status=Send.Status.SKIPPED, skip_reason=decision.reason)
        result.skipped += 1
        return _Outcome(smtp)
    if decision.action == "defer":
        _defer(send, until=decision.until, why=decision.why)
        result.deferred += 1
        return _Outcome(smtp)
    if send.template is None:
        _finish(send, status=Send.Status.SKIPPED, skip_reason="Its template was deleted.")
        result.skipped += 1
        return _Outcome(smtp)
    try:
        if smtp is None:
            smtp = get_connection(fail_silently=False)
            smtp.open()
        build_message(send, connection=smtp).send()
    except Exception as exc:
        if not _temporary(exc):
            _finish(send, status=Send.Status.FAILED, last_error=str(exc)[:2000])
            result.failed += 1
            return _Outcome(smtp)
        gave_up = _retry(send, now=now, error=exc)
        result.failed += int(gave_up)
        result.retrying += int(not gave_up)
        if _connection_level(exc):
            _release(rows[index + 1 :])
            result.released += len(rows) - index - 1
            if smtp is not None:
                _closed(smtp)
            return _Outcome(None, stop=True)
        return _Outcome(smtp)
    following = rows[index + 1] if index + 1 < len(rows) else None
    next_leased = _mark_sent(send, now=now, lease=lease, following=following)
    checks.sent(send, now=now)
    result.sent += 1
    result.sends.append(send)
    return _Outcome(smtp, next_leased=next_leased)


def _closed(smtp):
    try:
        smtp.close()
    except Exception:
        logger.warning("closing the SMTP connection failed", exc_info=True)


LEAD_LOCKS = 7_306  # advisory lock namespace: one lead's sends, one worker at a time


def _lock_leads(lead_ids: set[int]) -> set[int]:
    """Take the advisory lock of each lead that no other worker holds (one statement, held
    for the batch); the leads locked."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lead_id FROM unnest(%s::int[]) AS lead_id "
            "WHERE pg_try_advisory_lock(%s, lead_id)",
            [sorted(lead_ids), LEAD_LOCKS],
        )
        return {row[0] for row in cursor.fetchall()}


def _unlock_leads(lead_ids: set[int]) -> None:
    if lead_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, lead_id) FROM unnest(%s::int[]) AS lead_id",
                [LEAD_LOCKS, sorted(lead_ids)],
            )


def _still_leased(send: Send, *, lease: datetime) -> bool:
    """Whether the row is still this batch's, read under its lead's lock right before it
    leaves: queued, with this batch's lease. When the lease ran out mid-batch (a slow
    server), the sweep may have handed the row to another worker that sent it already;
    its lock on the lead is gone by then, so this read sees its record."""
    with connection.cursor() as cursor:  # per row sent: plain SQL, no query to compile
        cursor.execute(_LEASED, [send.pk, Send.Status.QUEUED, lease])
        return cursor.fetchone() is not None


# Whether a row is still queued with a batch's lease (`_still_leased`, `_mark_sent`).
_LEASED = "SELECT 1 FROM nurturing_send WHERE id = %s AND status = %s AND lease_until = %s"
# The sent record, reading the next row's lease in the same statement (`_mark_sent`).
_MARK_SENT = (
    "WITH sent AS (UPDATE nurturing_send SET status = %s, sent_at = %s, "  # noqa: S608 - ours
    "lease_until = NULL, deferred = '', to_email = %s, subject = %s WHERE id = %s "
    f"RETURNING id) SELECT EXISTS ({_LEASED})"
)


def _mark_sent(
    send: Send, *, now: datetime, lease: datetime, following: Send | None
) -> bool | None:
    """Recorded the moment the server accepted it: one statement, its own transaction
    (its timeline entry follows with the batch's, `put_on_timeline`). The same statement
    reads whether the `following` row is still this batch's (`_still_leased`, one round
    trip less per email); None without one."""
    with connection.cursor() as cursor:  # per row sent: plain SQL, no query to compile
        cursor.execute(
            _MARK_SENT,
            [Send.Status.SENT, now, send.lead.email, _subject(send), send.pk,
             following.pk if following else None, Send.Status.QUEUED, lease],
        )  # fmt: skip
        leased = cursor.fetchone()[0]
    send.status, send.sent_at, send.subject = Send.Status.SENT, now, _subject(send)
    return leased if following is not None else None


def put_on_timeline(sends: list[Send], *, now: datetime) -> None:
    """The "email sent" entries of `sends` (sent rows) on their leads' timelines, in one
    set-based write, once each (the entry's key is the send's). Only the rows it can lock
    and that have none yet: a row the sweep holds is the sweep's to write (two writers of
    the same entries would wait on each other's keys)."""
    if not sends:
        return
    with transaction.atomic():
        held = set(
            Send.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[send.pk for send in sends], on_timeline=False)
            .values_list("pk", flat=True)
        )
        sends = [send for send in sends if send.pk in held]
        if sends:
            _write_entries(sends, now=now)


def _write_entries(sends: list[Send], *, now: datetime) -> None:
    entries = [
        Entry(
            send.lead_id,
            SENT,
            send.sent_at,
            f"nurture-send:{send.pk}",
            {
                "send": send.pk,
                "track": send.track_id,
                "subject": send.subject,
                "message_id": send.message_id,
            },
        )
        for send in sends
    ]
    record_activities(entries, now=now)
    Send.objects.filter(pk__in=[send.pk for send in sends]).update(on_timeline=True)


def timeline_left(*, now: datetime, limit: int = SWEEP_LIMIT) -> int:
    """Write the timeline entries of sent rows that have none (a worker killed between a
    send and its batch's end); how many. Rows another pass holds are skipped."""
    with transaction.atomic():
        sends = list(
            Send.objects.select_for_update(skip_locked=True)
            .filter(status=Send.Status.SENT, on_timeline=False)
            .order_by("sent_at", "id")
            .only("id", "lead_id", "track_id", "subject", "message_id", "sent_at")[:limit]
        )
        if sends:
            _write_entries(sends, now=now)
    return len(sends)


def _subject(send: Send) -> str:
    if not hasattr(send, "_subject"):
        values = templates.merge_values(send.lead, unsubscribe_url="")
        send._subject = templates.render(send.template, values).subject
    return send._subject


def _finish(send: Send, **fields) -> None:
    Send.objects.filter(pk=send.pk).update(lease_until=None, **fields)


def _defer(send: Send, *, until: datetime, why: str) -> None:
    extra = {"capped": True} if why == Send.Deferral.CAP else {}
    Send.objects.filter(pk=send.pk).update(
        not_before=until,
        deferred=why,
        deferrals=send.deferrals + 1,
        lease_until=None,
        enqueued_at=None,
        **extra,
    )


def _retry(send: Send, *, now: datetime, error: Exception) -> bool:
    """Put a temporarily failed row off with backoff, or give up after MAX_TRIES; whether
    it gave up."""
    tries = send.tries + 1
    if tries >= settings.NURTURE_MAX_TRIES:
        _finish(send, status=Send.Status.FAILED, tries=tries, last_error=str(error)[:2000])
        return True
    Send.objects.filter(pk=send.pk).update(
        tries=tries,
        not_before=now + backoff(tries),
        deferred=Send.Deferral.RETRY,
        last_error=str(error)[:2000],
        lease_until=None,
        enqueued_at=None,
    )
    return False


def _release(rows: list[Send]) -> None:
    if rows:
        Send.objects.filter(pk__in=[r.pk for r in rows]).update(lease_until=None, enqueued_at=None)


def due_for_sending(*, now: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Mark and return the queued rows that are due and that no worker holds or was
    handed recently: new rows a lost doorbell left, deferred rows now due, and rows
    whose lease ran out (a dead worker)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE nurturing_send SET enqueued_at = %s
            WHERE id IN (SELECT id FROM nurturing_send
                         WHERE status = 'queued' AND not_before <= %s
                           AND (lease_until IS NULL OR lease_until < %s)
                           AND (enqueued_at IS NULL OR enqueued_at < %s)
                         ORDER BY not_before, id LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING id
            """,
            [now, now, now, now - LEASE, limit],
        )
        return sorted(row[0] for row in cursor.fetchall())


def retry_failed(*, send_id: int, now: datetime) -> bool:
    """Queue a failed row again (the outbox page's retry button); False when it is not
    failed (already retried, or sent)."""
    return bool(
        Send.objects.filter(pk=send_id, status=Send.Status.FAILED).update(
            status=Send.Status.QUEUED,
            tries=0,
            not_before=now,
            deferred="",
            lease_until=None,
            enqueued_at=None,
            last_error="",
        )
    )


def send_test(*, template_id: int, lead, to: str) -> str:
    """Send the template rendered with `lead`'s data to `to` (the marketer), marked as a
    test: no outbox row, no tracking, nothing on the lead's timeline. The subject sent."""
    if not to:
        raise LeadFlowError("Your user has no email address to send the test to.", field="to")
    template = Template.objects.get(pk=template_id)
    rendered = templates.preview(template, lead)
    message = EmailMultiAlternatives(
        subject=f"[Test] {rendered.subject}",
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(rendered.html, "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise LeadFlowError(f"The test could not be sent: {exc}", field="to") from None
    return message.subject
