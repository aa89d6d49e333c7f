"""Who owns a lead."""

from __future__ import annotations

import json
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from leads.models import Activity, Lead
from leads.services.bulk import execute_on_targets


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


def bulk_assign_owner(*, leads, owner, by, now: datetime) -> int:
    """Give every lead of the queryset to `owner` (None: unassign); returns how many changed."""
    owner_id = getattr(owner, "pk", None)
    exclude = Q(owner__isnull=True) if owner_id is None else Q(owner_id=owner_id)
    data = json.dumps({"owner": getattr(owner, "username", None)})
    return execute_on_targets(
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
