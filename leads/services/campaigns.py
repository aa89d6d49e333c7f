"""Campaigns: adding them, and attributing leads to the campaigns that brought them in."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from leads.exceptions import LeadFlowError
from leads.models import Campaign, Source
from leads.services.bulk import execute_on_targets

# Which field a broken table constraint is about, so the page can mark it.
_CONSTRAINT_FIELDS = {"campaign_cost_not_negative": "cost", "campaign_ends_after_start": "ends_on"}


def create_campaign(
    *,
    code: str,
    name: str,
    channel: str = Source.OTHER,
    cost: Decimal | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
    now: datetime,
) -> Campaign:
    """Add a campaign. Anything the table would refuse (a code that is not a slug or is
    taken, a negative cost, an end before the start) raises one LeadFlowError listing
    the field errors (`errors`); nothing is saved."""
    campaign = Campaign(
        code=code.strip(),
        name=name.strip(),
        channel=channel or Source.OTHER,
        cost=Decimal(0) if cost is None else cost,
        starts_on=starts_on,
        ends_on=ends_on,
        created_at=now,
    )
    errors: dict[str, str] = {}
    try:
        campaign.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = {name: " ".join(messages) for name, messages in exc.message_dict.items()}
    for constraint in Campaign._meta.constraints:
        try:
            constraint.validate(Campaign, campaign)
        except ValidationError as exc:
            field = _CONSTRAINT_FIELDS.get(constraint.name, "__all__")
            errors.setdefault(field, " ".join(exc.messages))
    if errors:
        raise LeadFlowError("The campaign has errors; nothing was saved.", errors=errors)
    try:
        with transaction.atomic():
            campaign.save()
    except IntegrityError:  # the same code, added a moment ago by someone else
        message = "Campaign with this Code already exists."
        raise LeadFlowError(message, field="code", errors={"code": message}) from None
    return campaign


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
