"""Nurturing's scheduler jobs (registered in apps.py), each a plain function of `now`.

- `nurturing.enrol`: active enrolments whose lead may no longer be nurtured end (MQL
  and later, disqualified, consent withdrawn, merged: an exit reaction a crash lost);
  then leads changed lately that are eligible and in no track enter the track their
  rules choose — how captured and imported leads come in, and the safety net for any
  enrolment reaction a crash lost.
- `nurturing.dispatch`: due steps run (nurturing.services.dispatch); new outbox rows are
  handed to the send task on commit.
- `nurturing.sends`: queued rows that are due and held by no worker — deferred rows now
  due, rows a lost doorbell left, rows whose worker died (lease run out) — are handed
  out again; sent rows whose timeline entry a killed worker did not write get it. With
  `inline` (`manage.py tick`), both jobs send themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from nurturing.services import dispatch as dispatching
from nurturing.services import enrolment, sending

# Leads changed this long ago or less are looked at by each pass (at least one pass
# runs in it; a lead is eligible until it enters a track, so none is missed).
ENROL_WINDOW = timedelta(days=1)
SEND_BATCH = 100  # rows per send task: one SMTP connection each


def enrol(now: datetime) -> dict:
    exited = enrolment.exit_stale(now=now)
    # A lead's updated_at is written by the wall clock, not by `now`: a pass as of
    # another instant (`tick --at`) looks back from the earlier of the two. The window
    # only bounds the work; eligibility itself is the lead's state.
    since = min(now, timezone.now()) - ENROL_WINDOW
    return {"exited": exited, "enrolled": len(enrolment.enrol_by_rules(now=now, since=since))}


def _hand_out(send_ids: list[int], *, now: datetime, inline: bool) -> dict:
    if inline:
        total = sending.Sent()
        for start in range(0, len(send_ids), SEND_BATCH):
            done = sending.send_batch(send_ids=send_ids[start : start + SEND_BATCH], now=now)
            for key, value in done.summary().items():
                setattr(total, key, getattr(total, key) + value)
        return total.summary()
    from nurturing.tasks import send_emails

    for start in range(0, len(send_ids), SEND_BATCH):
        send_emails.delay(send_ids[start : start + SEND_BATCH], at=now.isoformat())
    return {"handed_out": len(send_ids)}


def dispatch(now: datetime, *, inline: bool = False) -> dict:
    handed: dict = {}

    def on_queued(send_ids: list[int]) -> None:
        # Marked as handed out, so the sweep leaves them to this doorbell for a lease.
        from nurturing.models import Send

        Send.objects.filter(pk__in=send_ids, enqueued_at__isnull=True).update(enqueued_at=now)
        for key, value in _hand_out(send_ids, now=now, inline=inline).items():
            handed[key] = handed.get(key, 0) + value

    result = dispatching.dispatch(now=now, on_queued=on_queued)
    return {**result.summary(), **handed}


def sends(now: datetime, *, inline: bool = False) -> dict:
    recorded = {"timeline": n} if (n := sending.timeline_left(now=now)) else {}
    due = sending.due_for_sending(now=now)
    if not due:
        return {"due": 0, **recorded}
    return {"due": len(due), **recorded, **_hand_out(due, now=now, inline=inline)}
