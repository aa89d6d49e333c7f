"""Edits by a person or an integration: fields (audited), custom field definitions, consent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from leads import hooks
from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import CustomField, Lead
from leads.services.audit import record_field_changes
from leads.services.capture import FILLABLE_FIELDS
from leads.services.identity import IDENTITY_FIELDS, require_identity
from leads.services.stages import move_stage

# Fields an edit (PATCH, lead page) may change; stage goes through move_stage.
EDITABLE_FIELDS = (*FILLABLE_FIELDS, "source", "custom")


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


def record_consent(*, lead_id: int, status: str, method: str, now: datetime) -> Lead:
    """Set the lead's marketing-email consent (status, when, how), audited."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.consent_status == status:
            return lead
        record_field_changes(
            lead,
            {"consent_status": (lead.consent_status, status)},
            by=None,
            channel=method[:32],
            now=now,
        )
        lead.consent_status, lead.consent_at, lead.consent_method = status, now, method[:100]
        lead.save(update_fields=["consent_status", "consent_at", "consent_method", "updated_at"])
        hooks.announce("consent_changed", lead_ids=[lead.pk], status=status, now=now)
    return lead
