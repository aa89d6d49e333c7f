"""Scoring's reactions to the leads app's announcements (registered in apps.py).

Each is short. One event is ranked and its lead scored at once (an event changes the
engagement the lead page shows next); changed leads — captures, edits, imports — are
scored by the `score_changed` task, set-based: one per import or batch, and for
captures and edits at most one queued per `CHANGED_EVERY_SECONDS` however many leads
change (scoring a lead inline took 16 statements, more than its capture: half of a
`POST /api/v1/leads/`, bench/capture.py). A lost reaction is only
late: the tick's `score_changed` rescores every lead changed since it was scored, and
its rank sweep ranks events a crash left unranked.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.conf import settings

from scoring import services

# Reactions for at most this many leads run inside the announcement; more are a task.
INLINE_LEADS = 10
# Changed leads wait at least this long for the task that scores them (and every lead
# changed meanwhile): the first change queues it, the next ones find it queued.
CHANGED_EVERY_SECONDS = 1
# The mark "a score_changed is queued" (QUEUED_KEY), cleared by the task as it starts;
# it expires by itself after QUEUED_FOR, so a lost task holds back the next one no
# longer than that (and the tick scores the changed leads meanwhile).
QUEUED_KEY = "scoring:score_changed:queued"
QUEUED_FOR = 30
# The leads whose predictive score is due again (a set; score_changed drains it).
PREDICTIVE_PENDING = "scoring:predictive:changed"


def lead_changed(*, lead_ids: list[int], now: datetime) -> None:
    """Queue `score_changed` unless one is queued and not yet started. The task clears
    the mark before it selects the changed leads, so a change that found the mark (and
    committed before looking) is one the task sees, whatever the machines' clocks say;
    a cache that forgot the mark only queues one more (the task is idempotent)."""
    from scoring.tasks import score_changed

    # One round trip: the leads to score again with the predictive model, and the mark.
    pipe = _redis().pipeline(transaction=False)
    if lead_ids:
        pipe.sadd(PREDICTIVE_PENDING, *lead_ids)
    pipe.set(QUEUED_KEY, now.isoformat(), nx=True, ex=QUEUED_FOR)
    if pipe.execute()[-1]:
        score_changed.apply_async(countdown=CHANGED_EVERY_SECONDS)


def clear_queued() -> None:
    """What `score_changed` does as it starts: the next change queues the next run."""
    _redis().delete(QUEUED_KEY)


@cache
def _redis():
    """One client a process, on the broker's Redis (Django's cache builds a client for
    every call: a twentieth of a capture's CPU)."""
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def events_recorded(*, lead_ids: list[int], activity_ids: list[int], now: datetime) -> None:
    lead_changed(lead_ids=lead_ids, now=now)  # behaviour moves the predictive score
    if len(activity_ids) == 1:
        services.record_event_points(lead_id=lead_ids[0], activity_id=activity_ids[0], now=now)
    elif len(lead_ids) <= INLINE_LEADS:
        services.events_moved(lead_ids=lead_ids, now=now)
    else:
        from scoring.tasks import events_recorded as task

        task.delay_on_commit(lead_ids, now.isoformat())


def leads_merged(*, survivor_id: int, merged_id: int, lead_ids: list[int], now: datetime) -> None:
    """A merge (or its undo) moved events between the two leads: re-rank and rescore both."""
    services.events_moved(lead_ids=lead_ids, now=now)


leads_unmerged = leads_merged


def leads_changed_in_bulk(
    *, lead_ids: list[int] | None, now: datetime, import_id: int | None = None
) -> None:
    from scoring.tasks import score_changed

    if lead_ids is None and import_id is not None:
        lead_ids = _imported(import_id)
    client = _redis()
    for start in range(0, len(lead_ids or ()), PENDING_CHUNK):
        client.sadd(PREDICTIVE_PENDING, *lead_ids[start : start + PENDING_CHUNK])
    score_changed.delay_on_commit()


PENDING_CHUNK = 10_000


def _imported(import_id: int) -> list[int]:
    """The leads an import created or changed (or its undo touched): scored again."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM leads_lead WHERE import_job_id = %s UNION "
            "SELECT lead_id FROM leads_fieldchange WHERE import_job_id = %s",
            [import_id, import_id],
        )
        return [row[0] for row in cursor.fetchall()]
