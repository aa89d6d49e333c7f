"""Campaigns: adding them, and attributing leads to the campaigns that brought them in."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from leads.exceptions import LeadFlowError
from leads.idsets import listed
from leads.models import Campaign, Source
from leads.services.bulk import target_ids

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
    """Set the latest-touch campaign of every lead (and the first touch where empty), audited.

    The leads are locked and read by id first, then changed from those ids: each
    statement reads `leads_lead` once, whatever its statistics say (leads.services.bulk)."""
    ids = target_ids(leads, Q(latest_campaign=campaign))
    if not ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
                SELECT id, latest_campaign_id FROM leads_lead
                WHERE {listed("id")} AND latest_campaign_id IS DISTINCT FROM %s
                ORDER BY id FOR UPDATE
            """,  # noqa: S608 - listed() is this module's SQL; values are parameters
            [ids, campaign.pk],
        )
        locked = cursor.fetchall()
        if not locked:
            return 0
        cursor.execute(
            f"""
                WITH audit AS (
                    INSERT INTO leads_fieldchange
                        (lead_id, field, old_value, new_value, changed_at, changed_by_id, channel)
                    SELECT id, 'latest_campaign', to_jsonb(old), to_jsonb(%s::bigint), %s, %s,
                           'edit'
                    FROM unnest(%s::bigint[], %s::bigint[]) AS was(id, old)
                )
                UPDATE leads_lead
                SET latest_campaign_id = %s, campaign_id = COALESCE(campaign_id, %s),
                    updated_at = %s
                WHERE {listed("id")}
            """,  # noqa: S608
            [campaign.pk, now, getattr(by, "pk", None), [row[0] for row in locked],
             [row[1] for row in locked], campaign.pk, campaign.pk, now,
             [row[0] for row in locked]],
        )  # fmt: skip
        return cursor.rowcount
