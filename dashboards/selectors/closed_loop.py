"""Closed loop: what sales' decisions tell marketing — rejection reasons by source and
campaign, the recycled leads that later converted, and (once one exists) the predictive
model's view.

- Rejections: the handoffs sales rejected during the period, by the reason code given
  and the lead's source channel or campaign; the team filter is the team the handoff
  went to.
- Recycled: leads moved back into Nurturing (from MQL, SAL, SQL, lost or disqualified)
  during the period, counted once each from their first such move in it; "later
  reached" counts those whose stage history, after that move, reaches SQL (or further),
  opportunity (or further) and won. Source, campaign and team filter the visit's
  dimensions, as on the funnel.
"""

from __future__ import annotations

from collections import defaultdict

from dashboards.selectors.filters import Filters, cursor, db_alias
from dashboards.tables import INT, RATE, TEXT, Column, Page, Table, chart, describe, ratio
from handoff.models import Handoff
from leads.models import Campaign, Source

NO_MODEL = "No predictive model is active yet."
REASONS = list(Handoff.Reason.values)
LABELS = dict(Handoff.Reason.choices)


def rejected(f: Filters, by: str) -> dict:
    """(value of the SQL `by`) → reason → handoffs rejected in the period."""
    low, high = f.bounds()
    where, params = f.handoff_where()
    with cursor() as c:
        c.execute(
            f"""
            SELECT {by}, h.reject_reason, count(*)
            FROM handoff_handoff h JOIN leads_lead l ON l.id = h.lead_id
            WHERE h.status = 'rejected' AND h.closed_at >= %s AND h.closed_at < %s
              AND {where}
            GROUP BY 1, 2
            """,  # noqa: S608
            [low, high, *params],
        )
        found: dict = defaultdict(dict)
        for key, reason, n in c.fetchall():
            found[key][reason] = n
    return found


def _reason_rows(found: dict, labels: dict) -> list[dict]:
    rows = [
        {
            "label": labels.get(key, key),
            "rejected": sum(reasons.values()),
            **{r: reasons.get(r, 0) for r in REASONS},
        }
        for key, reasons in found.items()
    ]
    return sorted(rows, key=lambda r: (-r["rejected"], r["label"]))


def rejections_by_source(f: Filters) -> list[dict]:
    found = rejected(f, "l.source")
    return _reason_rows(found, {s: Source(s).label for s in found if s in Source.values})


def rejections_by_campaign(f: Filters) -> list[dict]:
    found = rejected(f, "coalesce(l.campaign_id, 0)")
    labels = {
        c.pk: f"{c.name} ({c.code})"
        for c in Campaign.objects.using(db_alias()).filter(pk__in=list(found))
    }
    labels[0] = "(no campaign)"
    return _reason_rows(found, labels)


def recycled(f: Filters) -> list[dict]:
    """Per source channel: leads recycled in the period and what they later reached."""
    where, params = f.where("v")
    with cursor() as c:
        c.execute(
            f"""
            WITH recycled AS (
              SELECT v.lead_id, min(v.source) AS source, min(v.entered_at) AS at
              FROM dashboards_visit v
              WHERE v.stage = 'nurturing' AND v.backward AND v.entered_day BETWEEN %s AND %s
                AND {where}
              GROUP BY v.lead_id
            )
            SELECT r.source, count(*), count(*) FILTER (WHERE x.sql),
                   count(*) FILTER (WHERE x.opportunity), count(*) FILTER (WHERE x.won)
            FROM recycled r
            CROSS JOIN LATERAL (
              SELECT coalesce(bool_or(w.stage IN ('sql', 'opportunity', 'won')), false) AS sql,
                     coalesce(bool_or(w.stage IN ('opportunity', 'won')), false) AS opportunity,
                     coalesce(bool_or(w.stage = 'won'), false) AS won
              FROM dashboards_visit w WHERE w.lead_id = r.lead_id AND w.entered_at > r.at
            ) x
            GROUP BY 1
            """,  # noqa: S608
            [f.start, f.end, *params],
        )
        found = c.fetchall()
    rows = [
        {
            "label": Source(s).label if s in Source.values else s,
            "recycled": n,
            "sql": sql,
            "opportunity": opp,
            "won": won,
            "converted_share": ratio(sql, n),
        }
        for s, n, sql, opp, won in found
    ]
    return sorted(rows, key=lambda r: (-r["recycled"], r["label"]))


def predictive_view(f: Filters) -> Table | None:
    """THE PLACE FOR THE PREDICTIVE MODEL'S VIEW (to fill in once predictive scoring
    exists): a table of the selection's leads by predicted conversion beside what they
    did. None while no model is active; the page then says NO_MODEL."""
    del f
    return None


def closed_loop(f: Filters) -> Page:
    reason_columns = [Column(v, label) for v, label in Handoff.Reason.choices]
    sources = Table(
        "rejections_by_source",
        "Rejection reasons by source",
        [Column("label", "Channel", TEXT), Column("rejected", "Rejected", INT), *reason_columns],
        rejections_by_source(f),
        note="Handoffs sales rejected during the period, by the lead's channel and reason.",
        empty="Sales rejected no handoff in this period.",
    )
    campaigns = Table(
        "rejections_by_campaign",
        "Rejection reasons by campaign",
        [Column("label", "Campaign", TEXT), Column("rejected", "Rejected", INT), *reason_columns],
        rejections_by_campaign(f),
        note="Handoffs sales rejected during the period, by the lead's campaign and reason.",
        empty="Sales rejected no handoff in this period.",
    )
    again = Table(
        "recycled",
        "Recycled leads that later converted",
        [
            Column("label", "Channel", TEXT),
            Column("recycled", "Recycled"),
            Column("sql", "Later reached SQL"),
            Column("opportunity", "Later reached opportunity"),
            Column("won", "Later won"),
            Column("converted_share", "Converted after recycling", RATE),
        ],
        recycled(f),
        note="Leads moved back into Nurturing during the period (once each), and how many "
        "later reached SQL or further, opportunity or further, and won.",
        empty="No lead was recycled in this period.",
    )
    chart(
        sources,
        label="label",
        series=REASONS,
        stacked=True,
        summary=describe(
            sources.rows,
            what="Stacked bars of rejection reasons by channel",
            empty="No rejections in this period.",
            part=lambda r: (
                f"{r['label']}: {r['rejected']} rejected, mostly "
                f"{LABELS[max(REASONS, key=lambda k: r[k])]}"
            ),
        ),
    )
    tables = [sources, campaigns, again]
    model = predictive_view(f)
    notes = [] if model else [NO_MODEL]
    if model:
        tables.append(model)
    return Page(tables=tables, notes=notes)
