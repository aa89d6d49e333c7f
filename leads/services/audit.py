"""The field audit: which field of a lead changed from what to what, by whom, through what."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from leads.models import FieldChange, Lead

# Stored in audit rows as JSON.
_AUDIT_AS_ID = {"campaign", "latest_campaign", "owner"}


def audit_value(name: str, value: Any):
    if name in _AUDIT_AS_ID:
        return getattr(value, "pk", value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def record_field_changes(lead: Lead, changes: dict[str, tuple[Any, Any]], *, by, channel, now):
    FieldChange.objects.bulk_create(
        FieldChange(
            lead=lead,
            field=name,
            old_value=audit_value(name, old),
            new_value=audit_value(name, new),
            changed_at=now,
            changed_by=by,
            channel=channel,
        )
        for name, (old, new) in changes.items()
    )
