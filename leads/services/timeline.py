"""The lead's timeline: human touches and behavioural events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from leads import hooks
from leads.exceptions import LeadFlowError
from leads.models import Activity, Lead

HUMAN_TOUCHES = (Activity.Kind.NOTE, Activity.Kind.CALL, Activity.Kind.EMAIL, Activity.Kind.MEETING)


def log_touch(
    *, lead_id: int, kind: str, body: str, by, now: datetime, occurred_at: datetime | None = None
) -> Activity:
    """Record a note, call, email or meeting on the lead's timeline.

    A call, email or meeting is a sales touch: it moves `last_sales_touch_at`.
    """
    if kind not in HUMAN_TOUCHES:
        raise LeadFlowError(f"{kind!r} is not a note, call, email or meeting.", field="kind")
    body = body.strip()
    if not body:
        raise LeadFlowError("Write what happened.", field="body")
    when = occurred_at or now
    if when > now:
        raise LeadFlowError("A touch cannot be in the future.", field="occurred_at")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        activity = Activity.objects.create(
            lead=lead, kind=kind, occurred_at=when, user=by, data={"body": body[:5000]}
        )
        fields = []
        if lead.last_activity_at is None or when > lead.last_activity_at:
            lead.last_activity_at = when
            fields.append("last_activity_at")
        if kind != Activity.Kind.NOTE and (
            lead.last_sales_touch_at is None or when > lead.last_sales_touch_at
        ):
            lead.last_sales_touch_at = when
            fields.append("last_sales_touch_at")
        if fields:
            lead.save(update_fields=[*fields, "updated_at"])
    return activity


FUTURE_TOLERANCE_SECONDS = 300  # clocks differ: an event up to 5 minutes ahead is accepted


@dataclass(frozen=True)
class EventResult:
    activity: Activity
    created: bool


def record_event(
    *,
    lead_id: int,
    type: str,
    occurred_at: datetime,
    key: str | None = None,
    data: dict | None = None,
    now: datetime,
) -> EventResult:
    """Record a behavioural event on the lead's timeline, once per idempotency key: the
    one path of every event (API, web forms, ...), so scoring reacts to each."""
    from leads.models import EVENT_TYPES

    if type not in EVENT_TYPES:
        raise LeadFlowError(
            f"{type!r} is not an event type (use one of {', '.join(EVENT_TYPES)}).", field="type"
        )
    if (occurred_at - now).total_seconds() > FUTURE_TOLERANCE_SECONDS:
        raise LeadFlowError("The event is in the future.", field="occurred_at")
    key = (key or "").strip() or None
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if key is not None:
            existing = Activity.objects.filter(lead=lead, key=key).first()
            if existing is not None:
                return EventResult(activity=existing, created=False)
        fields = {"lead": lead, "kind": type, "occurred_at": occurred_at, "data": data or {}}
        if key is None:
            activity = Activity.objects.create(**fields)
        else:
            try:
                with transaction.atomic():
                    activity = Activity.objects.create(**fields, key=key)
            except IntegrityError:  # the same key, recorded concurrently
                existing = Activity.objects.get(lead=lead, key=key)
                return EventResult(activity=existing, created=False)
        if lead.last_activity_at is None or occurred_at > lead.last_activity_at:
            lead.last_activity_at = occurred_at
            lead.save(update_fields=["last_activity_at", "updated_at"])
        hooks.announce("event_recorded", lead_id=lead.pk, activity_id=activity.pk)
    return EventResult(activity=activity, created=True)
