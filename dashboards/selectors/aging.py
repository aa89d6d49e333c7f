"""Aging: the MQLs and SALs nobody from sales has touched for N days, oldest first, with
their owner; and the same leads by intake batch — "the trade-show leads nobody called in
two months".

- A lead is listed when it is in MQL or SAL now (its open visit of the stage history),
  entered that stage during the period and at least N days before now, and has had no
  sales touch (a call, email or meeting: `last_sales_touch_at`) since it entered it.
  Merged-away leads are left out. Source, campaign and team filter the visit's
  dimensions, as on the funnel. The rollup job keeps these leads in AgingLead (with
  their batch and owner), so the page reads an index, not the visits and the timeline.
- The intake batch is the import that created the lead, else its campaign, else the web
  form it first came by (its first form submission), else its channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboards.selectors.filters import Filters, cursor, db_alias
from dashboards.tables import INT, TEXT, WHEN, Column, Page, Table, chart, describe, duration
from leads.exceptions import LeadFlowError
from leads.models import Campaign, ImportJob, LeadForm, Source, Stage

DEFAULT_DAYS = 3
PER_PAGE = 50
BATCH_ROWS = 100


@dataclass(frozen=True)
class Options:
    days: int = DEFAULT_DAYS
    page: int = 1


def options(params) -> Options:
    """`days` (1 to 3660) and `page` from the query; bad input names the parameter."""

    def number(name: str, default: int, high: int) -> int:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise LeadFlowError(f"Enter {name} as a whole number.", field=name) from None
        if not 1 <= value <= high:
            raise LeadFlowError(f"Enter {name} from 1 to {high}.", field=name)
        return value

    return Options(days=number("days", DEFAULT_DAYS, 3660), page=number("page", 1, 100_000))


def _condition(f: Filters, o: Options, now: datetime) -> tuple[str, list]:
    where, params = f.where("a")
    low, high = f.bounds()  # the period's days as instants too: an index range, oldest first
    return (
        f"a.entered_day BETWEEN %s AND %s AND a.entered_at >= %s AND a.entered_at < %s "
        f"AND a.entered_at <= %s AND {where}",
        [f.start, f.end, low, high, now - timedelta(days=o.days), *params],
    )


_FROM = "dashboards_aginglead a"


def untouched(f: Filters, o: Options, *, now: datetime) -> tuple[list[dict], int]:
    """A page of the untouched leads, oldest first, and how many there are in all."""
    cond, params = _condition(f, o, now)
    with cursor() as c:
        c.execute(f"SELECT count(*) FROM {_FROM} WHERE {cond}", params)  # noqa: S608
        count = c.fetchone()[0]
        c.execute(
            f"""
            SELECT l.id, l.first_name, l.last_name, l.email, l.company, a.stage, a.entered_at,
                   l.last_sales_touch_at, u.username, u.first_name, u.last_name, l.source
            FROM (SELECT a.lead_id, a.stage, a.entered_at FROM {_FROM} WHERE {cond}
                  ORDER BY a.entered_at, a.lead_id LIMIT %s OFFSET %s) a
            JOIN leads_lead l ON l.id = a.lead_id LEFT JOIN auth_user u ON u.id = l.owner_id
            ORDER BY a.entered_at, a.lead_id
            """,  # noqa: S608
            [*params, PER_PAGE, (o.page - 1) * PER_PAGE],
        )
        found = c.fetchall()
    rows = []
    for (
        lead_id,
        first,
        last,
        email,
        company,
        stage,
        since,
        touch,
        user,
        ufirst,
        ulast,
        src,
    ) in found:
        owner = f"{ufirst} {ulast}".strip() or user if user else "Nobody"
        rows.append(
            {
                "id": lead_id,
                "lead": f"{first} {last}".strip() or email or f"Lead {lead_id}",
                "company": company,
                "stage": Stage(stage).label,
                "since": since,
                "waiting": int((now - since).total_seconds()),
                "last_touch": touch,
                "owner": owner,
                "source": Source(src).label if src in Source.values else src,
            }
        )
    return rows, count


def by_batch(f: Filters, o: Options, *, now: datetime) -> list[dict]:
    """The untouched leads grouped by intake batch, the batch with the oldest first."""
    cond, params = _condition(f, o, now)
    with cursor() as c:
        # Per owner first, then per batch: the owners counted as groups, not by the sort
        # count(DISTINCT owner_id) needs (half the time at 1M leads).
        c.execute(
            f"""
            SELECT batch_kind, batch_key, sum(n)::int, sum(mql)::int, sum(sal)::int,
                   min(oldest), count(owner_id)
            FROM (
              SELECT batch_kind, batch_key, owner_id, count(*) AS n,
                     count(*) FILTER (WHERE stage = 'mql') AS mql,
                     count(*) FILTER (WHERE stage = 'sal') AS sal, min(entered_at) AS oldest
              FROM {_FROM} WHERE {cond}
              GROUP BY 1, 2, 3
            ) per_owner
            GROUP BY 1, 2 ORDER BY 6, 1, 2 LIMIT %s
            """,  # noqa: S608
            [*params, BATCH_ROWS],
        )
        found = c.fetchall()
    labels = _batch_labels(found)
    return [
        {
            "batch": labels.get((kind, key), key),
            "kind": KINDS[kind],
            "leads": n,
            "mql": mql,
            "sal": sal,
            "oldest": oldest,
            "waiting": int((now - oldest).total_seconds()),
            "owners": owners,
        }
        for kind, key, n, mql, sal, oldest, owners in found
    ]


KINDS = {"import": "Import", "campaign": "Campaign", "form": "Web form", "source": "Channel"}


def _batch_labels(found) -> dict[tuple[str, str], str]:
    keys: dict[str, list[str]] = {}
    for kind, key, *_ in found:
        keys.setdefault(kind, []).append(key)
    alias, labels = db_alias(), {}
    imports = ImportJob.objects.using(alias).filter(pk__in=[int(k) for k in keys.get("import", [])])
    for job in imports.only("id", "original_name", "created_at"):
        labels["import", str(job.pk)] = f"{job.original_name} ({job.created_at:%Y-%m-%d})"
    campaigns = Campaign.objects.using(alias).filter(
        pk__in=[int(k) for k in keys.get("campaign", [])]
    )
    for campaign in campaigns.only("id", "name", "code"):
        labels["campaign", str(campaign.pk)] = f"{campaign.name} ({campaign.code})"
    for slug, name in (
        LeadForm.objects.using(alias)
        .filter(slug__in=keys.get("form", []))
        .values_list("slug", "name")
    ):
        labels["form", slug] = name
    for key in keys.get("source", []):
        labels["source", key] = Source(key).label if key in Source.values else key
    return labels


@dataclass
class Aging(Page):
    options: Options = Options()
    count: int = 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // PER_PAGE))


def aging(f: Filters, o: Options, *, now: datetime) -> Aging:
    rows, count = untouched(f, o, now=now)
    note = (
        f"MQLs and SALs that entered their stage in the period, at least {o.days} day"
        f"{'' if o.days == 1 else 's'} ago, with no call, email or meeting logged since; "
        f"oldest first."
    )
    leads = Table(
        "untouched",
        f"Untouched for {o.days} day{'' if o.days == 1 else 's'} or more",
        [
            Column("lead", "Lead", TEXT, lead_link="id"),
            Column("company", "Company", TEXT),
            Column("stage", "Stage", TEXT),
            Column("since", "In the stage since", WHEN),
            Column("waiting", "Waiting", "seconds"),
            Column("last_touch", "Last sales touch", WHEN),
            Column("owner", "Owner", TEXT),
            Column("source", "Channel", TEXT),
        ],
        rows,
        note=note,
        total=count,
        empty="No MQL or SAL has waited that long untouched: sales is on it.",
    )
    batches = Table(
        "batches",
        "By intake batch",
        [
            Column("batch", "Batch", TEXT),
            Column("kind", "Kind", TEXT),
            Column("leads", "Untouched leads", INT),
            Column("mql", "MQLs"),
            Column("sal", "SALs"),
            Column("oldest", "Oldest waiting since", WHEN),
            Column("waiting", "Longest wait", "seconds"),
            Column("owners", "Owners"),
        ],
        by_batch(f, o, now=now),
        note="The batch is the import that created the lead, else its campaign, else the web "
        "form it first came by, else its channel.",
        empty="No batch has untouched leads.",
    )
    chart(
        batches,
        label="batch",
        series=["mql", "sal"],
        stacked=True,
        summary=describe(
            batches.rows,
            what="Stacked bars of untouched MQLs and SALs by intake batch",
            empty="No untouched leads.",
            part=lambda r: (
                f"{r['batch']}: {r['leads']} untouched, the oldest for {duration(r['waiting'])}"
            ),
        ),
    )
    return Aging(tables=[leads, batches], options=o, count=count)
