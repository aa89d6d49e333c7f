"""Campaigns: attribution of leads to the campaigns that brought them in."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from leads.services.bulk import execute_on_targets


def bulk_set_campaign(*, leads, campaign, by, now: datetime) -> int:
    """Set the latest-touch campaign of every lead (and the first touch where empty), audited."""
    return execute_on_targets(
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
