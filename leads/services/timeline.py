"""The lead's timeline: the one way any app adds to it, and the dates it keeps current.

`record_activities` (and `record_activity` for one) is how every entry gets there —
behavioural events, human touches, and what other apps do to a lead (nurture sends,
handoff steps, SLA breaches, with kinds they register) — once per idempotency key,
set-based. `Lead.last_activity_at` and `last_sales_touch_at` follow from the timeline
by one rule (`COUNTS_AS_ACTIVITY`, `SALES_TOUCHES`): moved forward as entries arrive,
and recomputed from the timeline when entries move between leads (merges).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from leads import hooks
from leads.exceptions import LeadFlowError
from leads.idsets import among
from leads.models import EVENT_TYPES, Activity, Lead
from leads.models.leads import ACTIVITY_LABELS, ACTIVITY_TITLES

HUMAN_TOUCHES = (Activity.Kind.NOTE, Activity.Kind.CALL, Activity.Kind.EMAIL, Activity.Kind.MEETING)
# A call, email or meeting is a sales touch (a note is not).
SALES_TOUCHES = frozenset({Activity.Kind.CALL, Activity.Kind.EMAIL, Activity.Kind.MEETING})
# What the person or a rep did: these move `last_activity_at`. System records (assigned,
# merged, what other apps register unless they say otherwise) do not.
COUNTS_AS_ACTIVITY = {*EVENT_TYPES, *HUMAN_TOUCHES, Activity.Kind.CAPTURED}

FUTURE_TOLERANCE_SECONDS = 300  # clocks differ: an event up to 5 minutes ahead is accepted
# Nothing LeadFlow records happened before this: an older date is a typo or an attack.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


def register_kind(
    kind: str,
    label: str,
    *,
    counts_as_activity: bool = False,
    title: Callable[[dict], str] | None = None,
) -> None:
    """A timeline entry kind of a higher app (e.g. nurturing's "email_sent"), with the
    label the timeline shows; call it from the app's `AppConfig.ready()`. `title(data)`,
    when given, says an entry in words from its data ("Entered the track “Webinar”"),
    in place of the label; it must not query."""
    if len(kind) > Activity._meta.get_field("kind").max_length:
        raise ValueError(f"activity kind {kind!r} is too long")
    ACTIVITY_LABELS[kind] = label
    if title is not None:
        ACTIVITY_TITLES[kind] = title
    if counts_as_activity:
        COUNTS_AS_ACTIVITY.add(kind)


@dataclass(frozen=True)
class EventResult:
    activity: Activity
    created: bool


@dataclass(frozen=True)
class Entry:
    """One timeline entry to record."""

    lead_id: int
    kind: str
    occurred_at: datetime
    key: str | None = None
    data: dict | None = None
    user_id: int | None = None


def _check(entry: Entry, now: datetime, *, events_only: bool) -> Entry:
    kinds = EVENT_TYPES if events_only else ACTIVITY_LABELS
    if entry.kind not in kinds:
        what = "an event type" if events_only else "a timeline entry kind"
        listed = f" (use one of {', '.join(EVENT_TYPES)})" if events_only else ""
        raise LeadFlowError(f"{entry.kind!r} is not {what}{listed}.", field="type")
    if (entry.occurred_at - now).total_seconds() > FUTURE_TOLERANCE_SECONDS:
        raise LeadFlowError("The event is in the future.", field="occurred_at")
    if entry.occurred_at < EARLIEST:
        raise LeadFlowError(
            f"{entry.occurred_at:%Y-%m-%d} is not a plausible date (nothing before {EARLIEST:%Y})."[
                :200
            ],
            field="occurred_at",
        )
    key = (entry.key or "").strip() or None
    return Entry(entry.lead_id, entry.kind, entry.occurred_at, key, entry.data, entry.user_id)


def record_activities(
    entries: list[Entry], *, now: datetime, events_only: bool = False
) -> list[EventResult]:
    """Record timeline entries in one statement, each once per (lead, key): an entry
    whose key its lead has seen before (or that repeats a key of this batch) records
    nothing and answers the existing entry. Results in input order. Moves the leads'
    activity dates and announces `events_recorded` once for the new behavioural events.
    Concurrent batches with the same keys are safe: the unique (lead, key) constraint
    decides, without locking the leads. Two statements for one entry (capture, touches)."""
    entries = [_check(entry, now, events_only=events_only) for entry in entries]
    if not entries:
        return []
    lead_ids = sorted({e.lead_id for e in entries})
    if len(lead_ids) > 1 and Lead.objects.filter(pk__in=lead_ids).count() != len(lead_ids):
        raise Lead.DoesNotExist("No such lead.")
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        ids = _insert(cursor, entries, now=now)
        new = [
            Activity(id=i, lead_id=e.lead_id, kind=e.kind, occurred_at=e.occurred_at,
                     user_id=e.user_id, key=e.key, data=e.data or {}, created_at=now)
            for i, e in zip(ids, entries, strict=True)
            if i is not None
        ]  # fmt: skip
        _move_activity_dates(cursor, new, now=now)
    repeated = {(e.lead_id, e.key) for i, e in zip(ids, entries, strict=True) if i is None}
    existing = {}
    if repeated:
        for activity in Activity.objects.filter(
            lead_id__in={lead for lead, _ in repeated}, key__in={key for _, key in repeated}
        ):
            existing[(activity.lead_id, activity.key)] = activity
    made = iter(new)
    results = [
        EventResult(next(made), True)
        if i is not None
        else EventResult(existing[(e.lead_id, e.key)], False)
        for i, e in zip(ids, entries, strict=True)
    ]
    events = [a for a in new if a.kind in EVENT_TYPES]
    if events:
        hooks.announce(
            "events_recorded",
            lead_ids=sorted({a.lead_id for a in events}),
            activity_ids=[a.pk for a in events],
            now=now,
        )
    return results


# Fixed SQL fragments of this module (the statements below are built from them only).
# ruff: noqa: S608
_COLUMNS = "lead_id, kind, occurred_at, user_id, key, data, created_at"
_CONFLICT = "ON CONFLICT (lead_id, key) WHERE key IS NOT NULL DO NOTHING RETURNING id"


def _insert(cursor, entries: list[Entry], *, now: datetime) -> list[int | None]:
    """Each entry's new id, or None where its key was seen before."""

    def values(e):
        return [e.lead_id, e.kind, e.occurred_at, e.user_id, e.key, json.dumps(e.data or {}), now]

    if len(entries) == 1:
        cursor.execute(
            f"INSERT INTO leads_activity ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            f"{_CONFLICT}",
            values(entries[0]),
        )
        row = cursor.fetchone()
        return [row[0] if row else None]
    # Ids first, so each inserted row is known to belong to its input position.
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence('leads_activity', 'id')) "
        "FROM generate_series(1, %s)",
        [len(entries)],
    )
    ids = [row[0] for row in cursor.fetchall()]
    columns = list(zip(*(values(e) for e in entries), strict=True))
    cursor.execute(
        f"""
        INSERT INTO leads_activity (id, {_COLUMNS})
        SELECT *, %s FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::timestamptz[],
                                 %s::integer[], %s::text[], %s::jsonb[])
        {_CONFLICT}
        """,
        [now, ids, *(list(column) for column in columns[:-1])],
    )
    inserted = {row[0] for row in cursor.fetchall()}
    return [i if i in inserted else None for i in ids]


def captured_entries_sql(source: str) -> str:
    """The statement that records a capture's `captured` entry for every lead of
    `source` (a table, a CTE or a subquery with the leads' `id`): a capture writes
    the entry beside the lead's INSERT (one statement) or after its fill's UPDATE. The
    entry counts as activity (`COUNTS_AS_ACTIVITY`) and is no sales touch, so that
    INSERT or UPDATE writes what recording it would move the lead's dates to:
    `last_activity_at` = the later of the lead's and the entry's `occurred_at`,
    `updated_at` = `now`. Check the entry with `check_entry` first. Its parameters:
    occurred_at, user_id, data (JSON), now, then those of `source`."""
    # `source` is SQL of the caller's own statement, never input.
    return (
        f"INSERT INTO leads_activity ({_COLUMNS}) SELECT id, "
        f"'{Activity.Kind.CAPTURED}', %s, %s, NULL, %s::jsonb, %s FROM {source}"
    )


def check_entry(entry: Entry, *, now: datetime) -> Entry:
    """The entry as `record_activities` would record it (LeadFlowError for a kind it does
    not know or an implausible date)."""
    return _check(entry, now, events_only=False)


def _move_activity_dates(cursor, activities: list[Activity], *, now: datetime) -> None:
    """Move each lead's last activity and last sales touch forward to its new entries."""
    latest: dict[int, list] = {}
    for a in activities:
        if a.kind not in COUNTS_AS_ACTIVITY:
            continue
        at, touch = latest.get(a.lead_id, [None, None])
        at = a.occurred_at if at is None else max(at, a.occurred_at)
        if a.kind in SALES_TOUCHES:
            touch = a.occurred_at if touch is None else max(touch, a.occurred_at)
        latest[a.lead_id] = [at, touch]
    if not latest:
        return
    cursor.execute(
        """
        UPDATE leads_lead l
        SET last_activity_at = GREATEST(l.last_activity_at, m.at),
            last_sales_touch_at = GREATEST(l.last_sales_touch_at, m.touch),
            updated_at = %s
        FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS m(lead_id, at, touch)
        WHERE l.id = m.lead_id
          AND (l.last_activity_at IS NULL OR l.last_activity_at < m.at
               OR (m.touch IS NOT NULL AND (l.last_sales_touch_at IS NULL
                                            OR l.last_sales_touch_at < m.touch)))
        """,
        [now, list(latest), [v[0] for v in latest.values()], [v[1] for v in latest.values()]],
    )


def refresh_activity_dates(*, lead_ids: list[int]) -> None:
    """Recompute the leads' last activity and last sales touch from their timelines
    (after entries moved between leads: a merge or its undo)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE leads_lead l
            SET last_activity_at = m.at, last_sales_touch_at = m.touch
            FROM (SELECT l2.id,
                         (SELECT max(a.occurred_at) FROM leads_activity a
                          WHERE a.lead_id = l2.id AND a.kind = ANY(%s)) AS at,
                         (SELECT max(a.occurred_at) FROM leads_activity a
                          WHERE a.lead_id = l2.id AND a.kind = ANY(%s)) AS touch
                  FROM leads_lead l2 WHERE {among("l2.id")}) m
            WHERE l.id = m.id AND (l.last_activity_at IS DISTINCT FROM m.at
                                   OR l.last_sales_touch_at IS DISTINCT FROM m.touch)
            """,
            [sorted(COUNTS_AS_ACTIVITY), list(SALES_TOUCHES), lead_ids],
        )


def record_activity(
    *,
    lead_id: int,
    kind: str,
    occurred_at: datetime,
    now: datetime,
    by=None,
    key: str | None = None,
    data: dict | None = None,
) -> EventResult:
    """Add one entry to a lead's timeline (once per `key`): see record_activities."""
    entry = Entry(lead_id, kind, occurred_at, key, data, getattr(by, "pk", None))
    return record_activities([entry], now=now)[0]


def record_event(
    *,
    lead_id: int,
    type: str,
    occurred_at: datetime,
    key: str | None = None,
    data: dict | None = None,
    now: datetime,
) -> EventResult:
    """Record a behavioural event on the lead's timeline, once per idempotency key."""
    entry = Entry(lead_id, type, occurred_at, key, data)
    return record_activities([entry], now=now, events_only=True)[0]


def record_events(events: list[dict], *, now: datetime) -> list[EventResult]:
    """A batch of behavioural events (`lead`, `type`, `occurred_at`, optional `key`,
    `data`) in one statement, announced once: what bursts of opens and clicks use."""
    entries = [
        Entry(e["lead"], e["type"], e["occurred_at"], e.get("key"), e.get("data")) for e in events
    ]
    return record_activities(entries, now=now, events_only=True)


def log_touch(
    *, lead_id: int, kind: str, body: str, by, now: datetime, occurred_at: datetime | None = None
) -> Activity:
    """Record a note, call, email or meeting on the lead's timeline (a call, email or
    meeting is a sales touch: it moves `last_sales_touch_at`)."""
    if kind not in HUMAN_TOUCHES:
        raise LeadFlowError(f"{kind!r} is not a note, call, email or meeting.", field="kind")
    body = body.strip()
    if not body:
        raise LeadFlowError("Write what happened.", field="body")
    if "\x00" in body:
        raise LeadFlowError("The text cannot contain NUL characters.", field="body")
    when = occurred_at or now
    if when > now:
        raise LeadFlowError("A touch cannot be in the future.", field="occurred_at")
    return record_activity(
        lead_id=lead_id, kind=kind, occurred_at=when, by=by, data={"body": body[:5000]}, now=now
    ).activity
