"""Closed loop: what sales' decisions tell marketing — rejection reasons by source and
campaign, the recycled leads that later converted, and (once one exists) the predictive
model's view.

- Rejections: the handoffs sales rejected during the period, by the reason code given
  and the lead's source channel or campaign; the team filter is the team the handoff
  went to (read from RejectionDay, kept by the rollup job).
- Recycled: leads moved back into Nurturing (from MQL, SAL, SQL, lost or disqualified)
  during the period, counted once each from their first such move in it; "later
  reached" counts those whose stage history, after that move, reaches SQL (or further),
  opportunity (or further) and won (the visit's `reached_later`: the furthest stage its
  lead entered after it began). Source, campaign and team filter the visit's
  dimensions, as on the funnel.
"""

from __future__ import annotations

from collections import defaultdict

from dashboards.models import FUNNEL
from dashboards.selectors.filters import Filters, cursor, db_alias
from dashboards.tables import INT, RATE, TEXT, Column, Page, Table, chart, describe, ratio
from handoff.models import Handoff
from leads.models import Campaign, Source

NO_MODEL = "No predictive model is active yet."
LATER = ("sql", "opportunity", "won")  # "later reached" counts this stage or further
REASONS = list(Handoff.Reason.values)
LABELS = dict(Handoff.Reason.choices)


def rejected(f: Filters, by: str) -> dict:
    """(value of the RejectionDay column `by`: source or campaign_id) → reason →
    handoffs rejected in the period."""
    where, params = f.where()
    days, spans = f.period_rows()
    with cursor() as c:
        c.execute(
            f"SELECT {by}, reason, sum(handoffs) FROM dashboards_rejectionday "  # noqa: S608
            f"WHERE {days} AND {where} GROUP BY 1, 2 HAVING sum(handoffs) <> 0",
            [*spans, *params],
        )
        found: dict = defaultdict(dict)
        for key, reason, n in c.fetchall():
            found[key][reason] = int(n)
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
    found = rejected(f, "source")
    return _reason_rows(found, {s: Source(s).label for s in found if s in Source.values})


def rejections_by_campaign(f: Filters) -> list[dict]:
    found = rejected(f, "campaign_id")
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
              SELECT DISTINCT ON (v.lead_id) v.source, v.reached_later
              FROM dashboards_visit v
              WHERE v.stage = 'nurturing' AND v.backward AND v.entered_day BETWEEN %s AND %s
                AND {where}
              ORDER BY v.lead_id, v.entered_at
            )
            SELECT source, count(*), count(*) FILTER (WHERE reached_later >= %s),
                   count(*) FILTER (WHERE reached_later >= %s),
                   count(*) FILTER (WHERE reached_later >= %s)
            FROM recycled GROUP BY 1
            """,  # noqa: S608
            [f.start, f.end, *params, *(FUNNEL.index(s) + 1 for s in LATER)],
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


BANDS = [(80, 100), (60, 79), (40, 59), (20, 39), (0, 19)]


def predictive_view(f: Filters) -> Table | None:
    """The predictive model's view: the selection's open leads (created in the period,
    filtered as the rest of the page) by predicted chance to convert, beside where they
    are now and how many sales has already rejected. None while no model is active (its
    scores are null then); the page says NO_MODEL."""
    with cursor() as c:
        c.execute("SELECT auc, rule_auc FROM scoring_predictivemodel WHERE is_active LIMIT 1")
        model = c.fetchone()
        if model is None:
            return None
        low, high = f.bounds()
        where, params = f.lead_where("l")
        c.execute(
            f"""
            SELECT width_bucket(l.predictive_score, 0, 100, 5) AS band, count(*),
                   count(*) FILTER (WHERE l.stage IN ('new', 'nurturing')),
                   count(*) FILTER (WHERE l.stage = 'mql'),
                   count(*) FILTER (WHERE l.stage IN ('sal', 'sql', 'opportunity')),
                   count(*) FILTER (WHERE EXISTS (
                       SELECT 1 FROM handoff_handoff h WHERE h.lead_id = l.id
                         AND h.reject_reason <> ''))
            FROM leads_lead l
            WHERE l.predictive_score IS NOT NULL AND l.merged_into_id IS NULL
              AND l.created_at >= %s AND l.created_at < %s AND {where}
            GROUP BY 1
            """,  # noqa: S608 - `where` is the filters' own SQL; values are parameters
            [low, high, *params],
        )
        found = {min(int(b), 5): row for b, *row in c.fetchall()}
    rows = []
    for number, (lo, hi) in zip(range(5, 0, -1), BANDS, strict=True):
        n, early, mql, sales, rejected = found.get(number, (0, 0, 0, 0, 0))
        rows.append({"band": f"{lo}–{hi}", "leads": n, "early": early, "mql": mql,
                     "sales": sales, "rejected": rejected,
                     "rejected_share": ratio(rejected, n)})  # fmt: skip
    auc, rule_auc = (("–" if v is None else f"{v:.2f}") for v in model)
    return Table(
        "predictive",
        "The predictive model's view",
        [
            Column("band", "Predicted chance to convert (score)", TEXT),
            Column("leads", "Open leads"),
            Column("early", "New or nurturing"),
            Column("mql", "MQL"),
            Column("sales", "With sales (SAL to opportunity)"),
            Column("rejected", "Rejected by sales before"),
            Column("rejected_share", "Share rejected", RATE),
        ],
        rows,
        note=(
            "Open leads created in the period, by the active model's predictive score "
            f"(held-out AUC {auc} against the rule score's {rule_auc}): where they "
            "are now, and how many sales has rejected at least once. Closed leads have no "
            "predictive score."
        ),
    )


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
