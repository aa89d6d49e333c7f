"""Every change of a lead's state: one function per transition.

Pages, API views, tasks, commands and tests all call these; none writes a lead
with `.save()` and a rule of its own beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from leads import hooks
from leads.exceptions import IdentityConflict, InvalidTransition, LeadFlowError
from leads.models import Activity, CustomField, FieldChange, Lead, Source, Stage, StageChange
from leads.normalise import company_domain

# Fields a repeated capture may fill when they are empty on the existing lead.
FILLABLE_FIELDS = (
    "email",
    "phone",
    "external_id",
    "first_name",
    "last_name",
    "title",
    "company",
    "company_domain",
    "website",
    "company_size",
    "industry",
    "country",
    "time_zone",
    "campaign",
    "budget",
    "authority",
    "need",
    "timeline",
    "converted",
)
# Fields an edit (PATCH, lead page) may change; stage goes through move_stage.
EDITABLE_FIELDS = (*FILLABLE_FIELDS, "source", "custom")
# Stored in audit rows as JSON.
_AUDIT_AS_ID = {"campaign", "latest_campaign", "owner"}


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def _find_existing(data: dict[str, Any]) -> Lead | None:
    """The lead this capture identifies, locked: email, else source+external id, else phone.

    A lead found by external id or phone only counts when it has no other email:
    two people can share an office phone.
    """
    leads = Lead.objects.select_for_update()
    email, external_id, phone = data.get("email"), data.get("external_id"), data.get("phone")
    if email:
        lead = leads.filter(email=email).first()
        if lead:
            return lead
    if external_id:
        lead = leads.filter(
            source=data.get("source") or Source.OTHER, external_id=external_id
        ).first()
        if lead:
            if email and lead.email and lead.email != email:
                raise IdentityConflict(
                    f"External id {external_id!r} already belongs to lead {lead.pk} "
                    f"with another email address.",
                    field="external_id",
                )
            return lead
    if phone:
        candidates = leads.filter(phone=phone).order_by("created_at", "id")
        if email:
            candidates = candidates.filter(email__isnull=True)
        return candidates.first()
    return None


def capture_lead(
    *,
    data: dict[str, Any],
    by=None,
    channel: str,
    now: datetime,
    created_at: datetime | None = None,
) -> CaptureResult:
    """Create the lead `data` identifies, or update the existing one (never a duplicate).

    `data` holds validated, normalised model values (campaign as a Campaign).
    An existing lead only gets its empty fields filled and new custom keys; what is
    already there (often typed by a person) is never overwritten.
    """
    if not (data.get("email") or data.get("phone") or data.get("external_id")):
        raise LeadFlowError("A lead needs an email, a phone number or an external id.")
    data = dict(data)
    if not data.get("company_domain"):
        data["company_domain"] = company_domain(
            email=data.get("email"), website=data.get("website")
        )
    data["custom"] = {k: v for k, v in (data.get("custom") or {}).items() if v is not None}

    with transaction.atomic():
        existing = _find_existing(data)
        if existing is None:
            try:
                with transaction.atomic():
                    lead = _create(data, by=by, channel=channel, now=now, created_at=created_at)
                hooks.announce("lead_changed", lead_id=lead.pk)
                return CaptureResult(lead=lead, created=True)
            except IntegrityError:
                # A concurrent capture of the same identity won the insert: update that one.
                existing = _find_existing(data)
                if existing is None:
                    raise
        _fill(existing, data, by=by, channel=channel, now=now)
        hooks.announce("lead_changed", lead_id=existing.pk)
        return CaptureResult(lead=existing, created=False)


def _create(data, *, by, channel, now, created_at) -> Lead:
    stage = data.pop("stage", None) or Stage.NEW
    when = created_at or now
    lead = Lead.objects.create(
        **data,
        latest_campaign=data.get("campaign"),
        stage=stage,
        created_at=when,
        last_activity_at=when,
    )
    StageChange.objects.create(
        lead=lead, from_stage="", to_stage=stage, changed_at=when, changed_by=by, reason=channel
    )
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.CAPTURED,
        occurred_at=when,
        user=by,
        data={"channel": channel, "created": True},
    )
    return lead


def _audit_value(name: str, value: Any):
    if name in _AUDIT_AS_ID:
        return getattr(value, "pk", value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _record_changes(lead: Lead, changes: dict[str, tuple[Any, Any]], *, by, channel, now):
    FieldChange.objects.bulk_create(
        FieldChange(
            lead=lead,
            field=name,
            old_value=_audit_value(name, old),
            new_value=_audit_value(name, new),
            changed_at=now,
            changed_by=by,
            channel=channel,
        )
        for name, (old, new) in changes.items()
    )


def _fill(lead: Lead, data, *, by, channel, now) -> None:
    """Fill what is empty on the lead, except what a person edited by hand."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name in FILLABLE_FIELDS:
        value = data.get(name)
        if name in lead.human_edited or _is_empty(value):
            continue
        if _is_empty(getattr(lead, name)):
            changes[name] = (getattr(lead, name), value)
            setattr(lead, name, value)
    custom = dict(lead.custom)
    for key, value in data.get("custom", {}).items():
        if key not in custom and f"custom.{key}" not in lead.human_edited:
            custom[key] = value
            changes[f"custom.{key}"] = (None, value)
    lead.custom = custom
    campaign = data.get("campaign")
    if campaign is not None and lead.latest_campaign_id != campaign.pk:
        changes["latest_campaign"] = (lead.latest_campaign, campaign)
        lead.latest_campaign = campaign
    lead.last_activity_at = now
    fields = {name.split(".")[0] for name in changes}
    try:
        with transaction.atomic():
            lead.save(update_fields=[*fields, "last_activity_at", "updated_at"])
    except IntegrityError:
        raise IdentityConflict(
            "This lead's phone, email or external id already belongs to another lead."
        ) from None
    _record_changes(lead, changes, by=by, channel=channel, now=now)
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.CAPTURED,
        occurred_at=now,
        user=by,
        data={"channel": channel, "created": False, "filled": sorted(changes)},
    )


def move_stage(*, lead_id: int, to_stage: str, by=None, reason: str = "", now: datetime) -> Lead:
    """Move a lead to another funnel stage and record the transition."""
    if to_stage not in Stage.values:
        raise LeadFlowError(f"{to_stage!r} is not a stage.", field="stage")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.stage == to_stage:
            raise InvalidTransition(f"The lead is already in stage {to_stage!r}.", field="stage")
        StageChange.objects.create(
            lead=lead,
            from_stage=lead.stage,
            to_stage=to_stage,
            changed_at=now,
            changed_by=by,
            reason=reason,
        )
        lead.stage = to_stage
        lead.save(update_fields=["stage", "updated_at"])
    return lead


def assign_owner(*, lead_id: int, owner, by=None, now: datetime) -> Lead:
    """Give a lead to `owner` (a user, or None to unassign) and note it on the timeline."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        previous = lead.owner_id
        if previous == (owner.pk if owner else None):
            return lead
        lead.owner = owner
        lead.save(update_fields=["owner", "updated_at"])
        Activity.objects.create(
            lead=lead,
            kind=Activity.Kind.ASSIGNED,
            occurred_at=now,
            user=by,
            data={"owner": owner.username if owner else None, "previous_owner_id": previous},
        )
    return lead


def update_lead(
    *, lead_id: int, changes: dict[str, Any], by=None, reason: str = "", now: datetime
) -> Lead:
    """Edit a lead's fields (audited); a changed stage goes through move_stage.

    `custom` is merged key by key: a None value removes that key. Fields a person
    edits are remembered, so later captures never overwrite or refill them.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"stage"}
    if unknown:
        raise LeadFlowError(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        audit: dict[str, tuple[Any, Any]] = {}
        for name, value in changes.items():
            if name in ("stage", "custom") or getattr(lead, name) == value:
                continue
            audit[name] = (getattr(lead, name), value)
            setattr(lead, name, value)
        if "custom" in changes:
            custom = dict(lead.custom)
            for key, value in changes["custom"].items():
                if custom.get(key) != value:
                    audit[f"custom.{key}"] = (custom.get(key), value)
                    if value is None:
                        custom.pop(key, None)
                    else:
                        custom[key] = value
            lead.custom = custom
        if not (lead.email or lead.phone or lead.external_id):
            raise LeadFlowError("A lead needs an email, a phone number or an external id.")
        if audit:
            fields = {name.split(".")[0] for name in audit}
            if by is not None:
                lead.human_edited = sorted(set(lead.human_edited) | set(audit))
                fields.add("human_edited")
            try:
                with transaction.atomic():
                    lead.save(update_fields=[*fields, "updated_at"])
            except IntegrityError:
                raise IdentityConflict(
                    "Another lead already has this email, phone or external id."
                ) from None
            _record_changes(lead, audit, by=by, channel="edit", now=now)
            hooks.announce("lead_changed", lead_id=lead.pk)
        new_stage = changes.get("stage")
        if new_stage and new_stage != lead.stage:
            lead = move_stage(lead_id=lead.pk, to_stage=new_stage, by=by, reason=reason, now=now)
    return lead


def define_custom_field(*, name: str, label: str, type: str, choices: list[str], by=None):
    """Add a custom lead field (marketing). Names are unique and never reused for another type."""
    field = CustomField(name=name, label=label, type=type, choices=choices)
    field.full_clean()
    field.save()
    return field


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


# --- Bulk changes: set-based SQL over any queryset of leads (a selection or a whole filter) ---


def _target_sql(leads, exclude: Q | None = None) -> tuple[str, tuple] | None:
    """SQL selecting the ids of `leads` (minus `exclude`), for use inside IN (...);
    None when the queryset can match nothing (e.g. a user who sees no lead)."""
    ids = Lead.objects.filter(pk__in=leads.order_by().values("pk"))
    if exclude is not None:
        ids = ids.exclude(exclude)
    try:
        return ids.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return None


def _execute_on_targets(leads, exclude: Q | None, sql: str, before: list, after: list) -> int:
    """Run `sql` in a transaction with `{target}` replaced by the ids of `leads` minus
    `exclude` (SQL the ORM compiled, never user text); `before` / `after` are the
    parameters around the target's own."""
    compiled = _target_sql(leads, exclude)
    if compiled is None:
        return 0
    target, params = compiled
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(target=target), [*before, *params, *after])
        return cursor.rowcount


def bulk_move_stage(*, leads, to_stage: str, by, reason: str, now: datetime) -> int:
    """Move every lead of the queryset to `to_stage` (those already there are left alone),
    recording each transition; returns how many moved. One statement per table."""
    if to_stage not in Stage.values:
        raise LeadFlowError(f"{to_stage!r} is not a stage.", field="stage")
    return _execute_on_targets(
        leads,
        Q(stage=to_stage),
        """
            WITH locked AS (
                SELECT id, stage FROM leads_lead WHERE id IN ({target}) FOR UPDATE
            ), history AS (
                INSERT INTO leads_stagechange
                    (lead_id, from_stage, to_stage, changed_at, changed_by_id, reason)
                SELECT id, stage, %s, %s, %s, %s FROM locked
            )
            UPDATE leads_lead SET stage = %s, updated_at = %s
            WHERE id IN (SELECT id FROM locked)
        """,
        [],
        [to_stage, now, getattr(by, "pk", None), reason[:500], to_stage, now],
    )


def bulk_assign_owner(*, leads, owner, by, now: datetime) -> int:
    """Give every lead of the queryset to `owner` (None: unassign); returns how many changed."""
    owner_id = getattr(owner, "pk", None)
    exclude = Q(owner__isnull=True) if owner_id is None else Q(owner_id=owner_id)
    data = json.dumps({"owner": getattr(owner, "username", None)})
    return _execute_on_targets(
        leads,
        exclude,
        """
            WITH changed AS (
                UPDATE leads_lead SET owner_id = %s, updated_at = %s
                WHERE id IN ({target}) RETURNING id
            )
            INSERT INTO leads_activity (lead_id, kind, occurred_at, user_id, data, created_at)
            SELECT id, %s, %s, %s, %s::jsonb, %s FROM changed
        """,
        [owner_id, now],
        [Activity.Kind.ASSIGNED, now, getattr(by, "pk", None), data, now],
    )


def bulk_set_campaign(*, leads, campaign, by, now: datetime) -> int:
    """Set the latest-touch campaign of every lead (and the first touch where empty), audited."""
    return _execute_on_targets(
        leads,
        Q(latest_campaign=campaign),
        """
            WITH locked AS (
                SELECT id, latest_campaign_id FROM leads_lead WHERE id IN ({target}) FOR UPDATE
            ), audit AS (
                INSERT INTO leads_fieldchange
                    (lead_id, field, old_value, new_value, changed_at, changed_by_id, channel)
                SELECT id, 'latest_campaign', to_jsonb(latest_campaign_id), to_jsonb(%s::bigint),
                       %s, %s, 'edit'
                FROM locked
            )
            UPDATE leads_lead
            SET latest_campaign_id = %s, campaign_id = COALESCE(campaign_id, %s), updated_at = %s
            WHERE id IN (SELECT id FROM locked)
        """,
        [],
        [campaign.pk, now, getattr(by, "pk", None), campaign.pk, campaign.pk, now],
    )


def record_consent(*, lead_id: int, status: str, method: str, now: datetime) -> Lead:
    """Set the lead's marketing-email consent (status, when, how), audited."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.consent_status == status:
            return lead
        _record_changes(
            lead,
            {"consent_status": (lead.consent_status, status)},
            by=None,
            channel=method[:32],
            now=now,
        )
        lead.consent_status, lead.consent_at, lead.consent_method = status, now, method[:100]
        lead.save(update_fields=["consent_status", "consent_at", "consent_method", "updated_at"])
    return lead


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
