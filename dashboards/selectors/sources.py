"""Sources and campaigns: what each channel and campaign brought, how far it got, what it
cost, and which campaigns sales rejects most and why.

- Counts are of the cohort, whatever the page's mode: the leads created in the period
  (CohortDay stage `created`), and how many of them ever reached MQL, SAL, SQL,
  opportunity and won; the MQL rate is MQLs over leads; won revenue is the amount of the
  won deals of those leads.
- Cost is attributed whole, never prorated by period: cost per lead (per opportunity,
  per won deal) is the campaign's whole cost over all the leads (opportunities, won
  deals) it ever brought, whatever the period and team. A channel's cost is the sum of
  the costs of the campaigns of that channel (`Campaign.channel`), over all the leads
  that ever came by the channel. a dash where there is no cost or nothing to divide by.
- Rejections: the handoffs sales rejected during the period (their reason code), by the
  lead's campaign; the team filter is the team the handoff went to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from dashboards.selectors.closed_loop import rejected
from dashboards.selectors.filters import Filters, cursor, db_alias
from dashboards.tables import (
    MONEY,
    RATE,
    TEXT,
    Column,
    Page,
    Table,
    chart,
    describe,
    money_per,
    ratio,
)
from handoff.models import Handoff
from leads.models import Campaign, Source

STAGES = ("created", "mql", "sal", "sql", "opportunity", "won")
NONE = "(no campaign)"

COUNT_COLUMNS = [
    Column("leads", "Leads"),
    Column("mql_rate", "MQL rate", RATE),
    Column("mql", "MQLs"),
    Column("sal", "SALs"),
    Column("sql", "SQLs"),
    Column("opportunity", "Opportunities"),
    Column("won", "Won"),
    Column("revenue", "Won revenue", MONEY),
    Column("cost", "Cost", MONEY),
    Column("cost_per_lead", "Cost per lead", MONEY),
    Column("cost_per_opportunity", "Cost per opportunity", MONEY),
    Column("cost_per_won", "Cost per won deal", MONEY),
]

NOTE_COUNTS = (
    "Leads created in the period, and how many of them ever reached each stage (whatever "
    "the counting mode). Cost per lead, opportunity and won deal divide a campaign's whole "
    "cost by all the leads, opportunities and won deals it ever brought — not prorated by "
    "period; a channel's cost is the sum of its campaigns' costs."
)
NOTE_REJECTIONS = (
    "Handoffs sales rejected during the period, by the lead's campaign and the reason "
    "given, beside the campaign's handoffs made in the period."
)


@dataclass
class Funnel:
    leads: int = 0
    mql: int = 0
    sal: int = 0
    sql: int = 0
    opportunity: int = 0
    won: int = 0
    revenue: Decimal = Decimal(0)

    def add(self, stage: str, n: int, amount) -> None:
        setattr(self, "leads" if stage == "created" else stage, n)
        if stage == "won":
            self.revenue = Decimal(amount or 0)


def _cohort(f: Filters, by: str, *, lifetime: bool = False) -> dict:
    """(key of `by`) → Funnel, from CohortDay: the period's cohort under the filters, or
    (`lifetime`, from CohortEver) every cohort of all time, unfiltered (what costs are
    divided by)."""
    where, params = ("TRUE", []) if lifetime else f.where()
    table = "dashboards_cohortever" if lifetime else "dashboards_cohortday"
    days, spans = ("TRUE", []) if lifetime else f.period_rows()
    with cursor() as c:
        c.execute(
            f"SELECT {by}, stage, sum(leads), sum(amount) FROM {table} "  # noqa: S608
            f"WHERE {days} AND {where} GROUP BY 1, 2",
            [*spans, *params],
        )  # every stage (no `stage = ANY(…)`: one index range, not one per stage)
        found: dict = defaultdict(Funnel)
        for key, stage, n, amount in c.fetchall():
            if stage in STAGES:
                found[key].add(stage, int(n), amount)
    return found


def _row(key, label: str, got: Funnel, cost: Decimal | None, ever: Funnel | None) -> dict:
    ever = ever or Funnel()
    return {
        "key": key,
        "label": label,
        "leads": got.leads,
        "mql_rate": ratio(got.mql, got.leads),
        "mql": got.mql,
        "sal": got.sal,
        "sql": got.sql,
        "opportunity": got.opportunity,
        "won": got.won,
        "revenue": got.revenue,
        "cost": cost,
        "cost_per_lead": money_per(cost, ever.leads),
        "cost_per_opportunity": money_per(cost, ever.opportunity),
        "cost_per_won": money_per(cost, ever.won),
    }


def _campaigns(ids) -> dict[int, Campaign]:
    return {c.pk: c for c in Campaign.objects.using(db_alias()).filter(pk__in=ids)}


def by_channel(f: Filters) -> list[dict]:
    now, ever = _cohort(f, "source"), _cohort(f, "source", lifetime=True)
    costs: dict[str, Decimal] = defaultdict(Decimal)
    for channel, cost in Campaign.objects.using(db_alias()).values_list("channel", "cost"):
        costs[channel] += cost
    rows = [
        _row(s, Source(s).label if s in Source.values else s, got, costs.get(s), ever.get(s))
        for s, got in now.items()
    ]
    return sorted(rows, key=lambda r: (-r["leads"], r["label"]))


def by_campaign(f: Filters) -> list[dict]:
    now, ever = _cohort(f, "campaign_id"), _cohort(f, "campaign_id", lifetime=True)
    campaigns = _campaigns([k for k in now if k])
    rows = []
    for cid, got in now.items():
        campaign = campaigns.get(cid)
        label = f"{campaign.name} ({campaign.code})" if campaign else NONE
        rows.append(
            _row(
                campaign.code if campaign else "",
                label,
                got,
                campaign.cost if campaign else None,
                ever.get(cid),
            )
        )
    return sorted(rows, key=lambda r: (-r["leads"], r["label"]))


def rejections(f: Filters) -> list[dict]:
    """Per campaign: the handoffs rejected in the period by reason, beside the handoffs
    made in the period (the share is rejected over made)."""
    where, params = f.where()
    days, spans = f.period_rows()
    by = rejected(f, "campaign_id")
    with cursor() as c:
        c.execute(
            f"SELECT campaign_id, sum(handoffs) FROM dashboards_handoffday "  # noqa: S608
            f"WHERE {days} AND {where} GROUP BY 1",
            [*spans, *params],
        )
        made = {k: int(n) for k, n in c.fetchall()}
    campaigns = _campaigns([k for k in by if k])
    rows = []
    for cid, reasons in by.items():
        campaign = campaigns.get(cid)
        total = sum(reasons.values())
        top = max(reasons.items(), key=lambda kv: (kv[1], kv[0]))[0]
        rows.append(
            {
                "label": f"{campaign.name} ({campaign.code})" if campaign else NONE,
                "rejected": total,
                "handoffs": made.get(cid, 0),
                "share": ratio(total, made.get(cid, 0)),
                "top_reason": Handoff.Reason(top).label if top in Handoff.Reason.values else top,
                **{r: reasons.get(r, 0) for r in Handoff.Reason.values},
            }
        )
    return sorted(rows, key=lambda r: (-r["rejected"], r["label"]))


def sources(f: Filters) -> Page:
    channels = Table(
        "channels",
        "By channel",
        [Column("label", "Channel", TEXT), *COUNT_COLUMNS],
        by_channel(f),
        note=NOTE_COUNTS,
        empty="No lead was created in this period.",
    )
    campaigns = Table(
        "campaigns",
        "By campaign",
        [Column("label", "Campaign", TEXT), *COUNT_COLUMNS],
        by_campaign(f),
        note=NOTE_COUNTS,
        empty="No lead was created in this period.",
    )
    rejected = Table(
        "rejections",
        "Campaigns sales rejects most",
        [
            Column("label", "Campaign", TEXT),
            Column("rejected", "Rejected"),
            Column("handoffs", "Handoffs made in the period"),
            Column("share", "Rejected per handoff made", RATE),
            Column("top_reason", "Most given reason", TEXT),
            *(Column(v, label) for v, label in Handoff.Reason.choices),
        ],
        rejections(f),
        note=NOTE_REJECTIONS,
        empty="Sales rejected no handoff in this period.",
    )
    chart(
        channels,
        label="label",
        series=["leads", "mql", "opportunity", "won"],
        summary=describe(
            channels.rows,
            what="Bar chart of leads by channel",
            empty="No leads by channel in this period.",
            part=lambda r: (
                f"{r['label']}: {r['leads']} leads, {r['mql']} MQLs, "
                f"{r['opportunity']} opportunities, {r['won']} won"
            ),
        ),
    )
    chart(
        rejected,
        label="label",
        series=list(Handoff.Reason.values),
        summary=describe(
            rejected.rows,
            what="Stacked bars of rejections by campaign and reason",
            empty="No rejections in this period.",
            part=lambda r: f"{r['label']}: {r['rejected']} rejected, mostly {r['top_reason']}",
        ),
        stacked=True,
    )
    return Page(tables=[channels, campaigns, rejected])
