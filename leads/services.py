"""Every change of a lead's state: one function per transition.

Pages, API views, tasks, commands and tests all call these; none writes a lead
with `.save()` and a rule of its own beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from leads.exceptions import IdentityConflict, InvalidTransition, LeadFlowError
from leads.models import Activity, Lead, Source, Stage, StageChange
from leads.normalise import domain_of_email

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
    if data.get("email") and not data.get("company_domain"):
        data["company_domain"] = domain_of_email(data["email"])

    with transaction.atomic():
        existing = _find_existing(data)
        if existing is None:
            try:
                with transaction.atomic():
                    lead = _create(data, by=by, channel=channel, now=now, created_at=created_at)
                return CaptureResult(lead=lead, created=True)
            except IntegrityError:
                # A concurrent capture of the same identity won the insert: update that one.
                existing = _find_existing(data)
                if existing is None:
                    raise
        _fill(existing, data, by=by, channel=channel, now=now)
        return CaptureResult(lead=existing, created=False)


def _create(data, *, by, channel, now, created_at) -> Lead:
    stage = data.pop("stage", None) or Stage.NEW
    when = created_at or now
    lead = Lead.objects.create(**data, stage=stage, created_at=when, last_activity_at=when)
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


def _fill(lead: Lead, data, *, by, channel, now) -> None:
    filled = []
    for name in FILLABLE_FIELDS:
        value = data.get(name)
        if not _is_empty(value) and _is_empty(getattr(lead, name)):
            setattr(lead, name, value)
            filled.append(name)
    new_custom = {k: v for k, v in (data.get("custom") or {}).items() if k not in lead.custom}
    if new_custom:
        lead.custom = {**lead.custom, **new_custom}
        filled.append("custom")
    lead.last_activity_at = now
    try:
        with transaction.atomic():
            lead.save(update_fields=[*filled, "last_activity_at", "updated_at"])
    except IntegrityError:
        raise IdentityConflict(
            "This lead's phone, email or external id already belongs to another lead."
        ) from None
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.CAPTURED,
        occurred_at=now,
        user=by,
        data={"channel": channel, "created": False, "filled": filled},
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
    """Edit a lead's fields; a changed stage goes through move_stage."""
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"stage"}
    if unknown:
        raise LeadFlowError(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        new_stage = changes.get("stage")
        fields = {k: v for k, v in changes.items() if k != "stage" and getattr(lead, k) != v}
        for name, value in fields.items():
            setattr(lead, name, value)
        if not (lead.email or lead.phone or lead.external_id):
            raise LeadFlowError("A lead needs an email, a phone number or an external id.")
        if fields:
            try:
                with transaction.atomic():
                    lead.save(update_fields=[*fields, "updated_at"])
            except IntegrityError:
                raise IdentityConflict(
                    "Another lead already has this email, phone or external id."
                ) from None
        if new_stage and new_stage != lead.stage:
            lead = move_stage(lead_id=lead.pk, to_stage=new_stage, by=by, reason=reason, now=now)
    return lead
