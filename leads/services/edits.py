"""Edits by a person or an integration: fields (audited), custom field definitions, consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from leads import hooks
from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import ConsentStatus, CustomField, Lead
from leads.services.audit import record_field_changes
from leads.services.identity import FILLABLE_FIELDS, IDENTITY_FIELDS, require_identity
from leads.services.stages import move_stage

# Fields an edit (PATCH, lead page) may change; stage goes through move_stage, consent
# through record_consent.
EDITABLE_FIELDS = (*FILLABLE_FIELDS, "source", "custom", "consent_status")
_NOT_PLAIN = ("stage", "custom", "consent_status")


def consent_source(via: str, by=None) -> str:
    """How a consent was given, as `Lead.consent_method` keeps it: "api by marketer",
    "lead page by rep_ann"; the channel alone when no user acted."""
    return f"{via} by {by.get_username()}" if by is not None else via


def update_lead(
    *,
    lead_id: int,
    changes: dict[str, Any],
    by=None,
    reason: str = "",
    via: str = "edit",
    now: datetime,
) -> Lead:
    """Edit a lead's fields (audited); a changed stage goes through move_stage, a
    changed consent through record_consent (its method: `via` and who edits).

    `custom` is merged key by key: a None value removes that key. Fields a person
    edits are remembered, so later captures never overwrite or refill them. A person
    may set any consent, a withdrawn one granted again included (captures may not).
    """
    unknown = set(changes) - set(EDITABLE_FIELDS) - {"stage"}
    if unknown:
        raise LeadFlowError(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        audit: dict[str, tuple[Any, Any]] = {}
        for name, value in changes.items():
            if name in _NOT_PLAIN or getattr(lead, name) == value:
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
        require_identity({name: getattr(lead, name) for name in IDENTITY_FIELDS})
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
            record_field_changes(lead, audit, by=by, channel="edit", now=now)
        consented = bool(changes.get("consent_status")) and set_consent(
            lead, status=changes["consent_status"], method=consent_source(via, by), by=by,
            now=now,
        )  # fmt: skip
        if audit or consented:
            hooks.announce("lead_changed", lead_ids=[lead.pk], now=now)
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


def record_consent(*, lead_id: int, status: str, method: str, by=None, now: datetime) -> Lead:
    """Set the lead's marketing-email consent (status, when, how), audited (`by`: the
    user who set it, if one did); announces `consent_changed` and `lead_changed`
    (scoring rules may read the consent). Which captures may set it is the capture
    spec's `capture_may_state_consent`."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if set_consent(lead, status=status, method=method, by=by, now=now):
            hooks.announce("lead_changed", lead_ids=[lead.pk], now=now)
    return lead


def set_consent(lead: Lead, *, status: str, method: str, by=None, now: datetime) -> bool:
    """`record_consent` on a lead the caller holds locked (capture, edits), announcing
    `consent_changed` only; whether the status changed."""
    if status not in ConsentStatus.values:
        raise LeadFlowError(
            f"{status!r} is not a consent status ({', '.join(ConsentStatus.values)}).",
            field="consent",
        )
    if lead.consent_status == status:
        return False
    record_field_changes(
        lead, {"consent_status": (lead.consent_status, status)}, by=by, channel=method[:32],
        now=now,
    )  # fmt: skip
    lead.consent_status, lead.consent_at, lead.consent_method = status, now, method[:100]
    lead.save(update_fields=["consent_status", "consent_at", "consent_method", "updated_at"])
    hooks.announce("consent_changed", lead_ids=[lead.pk], status=status, now=now)
    return True
