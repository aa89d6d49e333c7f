"""Campaigns with what they brought in: first- and latest-touch leads, cost per lead."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from leads.models import Campaign, Lead

CENT = Decimal("0.01")


def _leads_per_campaign(fk: str) -> Subquery:
    """How many live (not merged) leads point at the outer campaign through `fk`: one
    index lookup per campaign (`lead_<fk>_live_idx`), never a join of both touches."""
    counted = (
        Lead.objects.filter(**{fk: OuterRef("pk")}, merged_into__isnull=True)
        .order_by()
        .values(fk)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def campaigns_with_counts() -> QuerySet[Campaign]:
    """Every campaign, newest first, with `first_touch` and `latest_touch`: its live
    leads by first and by latest campaign. One query; per campaign and touch one
    index-only range (`lead_campaign_live_idx`, `lead_latest_campaign_live_idx`,
    migration 0015), so the cost follows the campaigns' leads, not their product."""
    return Campaign.objects.annotate(
        first_touch=_leads_per_campaign("campaign"),
        latest_touch=_leads_per_campaign("latest_campaign"),
    ).order_by("-starts_on", "code")


def campaign_rows() -> list[Campaign]:
    """`campaigns_with_counts`, each with `cost_per_lead` (Decimal to the cent; None
    without first-touch leads)."""
    rows = list(campaigns_with_counts())
    for row in rows:
        row.cost_per_lead = cost_per_lead(row.cost, row.first_touch)
    return rows


def cost_per_lead(cost: Decimal, leads: int) -> Decimal | None:
    """The cost shared by the first-touch leads, rounded half up to the cent."""
    if not leads:
        return None
    return (Decimal(cost) / leads).quantize(CENT, rounding=ROUND_HALF_UP)
