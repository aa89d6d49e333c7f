"""Scoring's reactions to the leads app's announcements (registered in apps.py).

Each is short: one lead (or a handful) is scored at once, since a lead page or an API
answer should show its new score; anything bigger is a task enqueued on commit. A lost
reaction is only late: the tick's `score_changed` rescores every lead changed since it
was scored, and its rank sweep ranks events a crash left unranked.
"""

from __future__ import annotations

from datetime import datetime

from scoring import services

# Reactions for at most this many leads run inside the announcement; more are a task.
INLINE_LEADS = 10


def lead_changed(*, lead_ids: list[int], now: datetime) -> None:
    if len(lead_ids) > INLINE_LEADS:
        from scoring.tasks import score_changed

        score_changed.delay_on_commit()
        return
    for lead_id in lead_ids:
        services.score_lead(lead_id=lead_id, now=now)


def events_recorded(*, lead_ids: list[int], activity_ids: list[int], now: datetime) -> None:
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

    score_changed.delay_on_commit()
