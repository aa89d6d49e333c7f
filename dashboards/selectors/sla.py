"""SLA: how fast sales accepts and first contacts the leads handed to it, in business time,
and who misses the deadlines.

- The handoffs counted are those made during the period (`handoff_handoff.created_at`);
  source and campaign are the lead's, the team is the one the handoff went to.
- Accepted within SLA: accepted without its accept deadline ever being missed (no accept
  breach, no escalation); its share is of the handoffs made. Contacted within SLA: first
  contact logged before the contact deadline; its share is of the accepted handoffs.
- Time to accept runs from the handoff to its acceptance, time to first contact from the
  acceptance to the first logged call, email or meeting — both in the team's business
  hours (its calendar), written on the handoff when each happens
  (`accept_business_seconds`, `contact_business_seconds`); the medians are over those,
  read from their duration buckets (dashboards.buckets: within 5 %).
- Everything is read from the handoff rollups (HandoffDay, HandoffTimeDay, BlameDay: per
  day the handoff was made), kept by the rollup job.
- Breaches are deadlines missed (accept or contact), escalations pending handoffs given
  to another rep after the grace period. By rep, a breach counts against the rep who
  held the handoff when it was missed and an escalation against the rep it was taken
  from (their timeline entries); the other figures by rep are of the rep who holds the
  handoff now ("Team queue": nobody yet).
- The trend is by week (Monday first) of the handoff.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Q

from dashboards import buckets
from dashboards.models import HandoffTimeDay
from dashboards.selectors.filters import Filters, cursor, db_alias
from dashboards.tables import RATE, SECONDS, TEXT, Column, Page, Table, chart, describe, ratio
from leads.models import Team

QUEUE = "Team queue"
_SUMS = ("handoffs", "accepted", "accepted_in_sla", "contacted", "contacted_in_sla", "breaches",
         "escalations")  # fmt: skip
_NAMES = (
    "handoffs",
    "accepted",
    "accepted_in_sla",
    "contacted",
    "contacted_in_sla",
    "accept_median",
    "contact_median",
    "breaches",
    "escalations",
)

FIGURE_COLUMNS = [
    Column("handoffs", "Handoffs"),
    Column("accepted_share", "Accepted within SLA", RATE),
    Column("contacted_share", "Contacted within SLA", RATE),
    Column("accept_median", "Median time to accept", SECONDS),
    Column("contact_median", "Median time to first contact", SECONDS),
    Column("breaches", "Breaches"),
    Column("escalations", "Escalations"),
]
NOTE = (
    "Handoffs made in the period. Accepted within SLA: accepted before the accept deadline "
    "with no breach or escalation (share of handoffs made); contacted within SLA: first "
    "contact before its deadline (share of accepted handoffs). Times are business hours "
    "of the team's calendar; the medians are read from duration buckets, within 5 %."
)
NOTE_REPS = (
    "A breach counts against the rep who held the handoff when the deadline passed, an "
    "escalation against the rep it was taken from; the other figures are of the rep who "
    "holds the handoff now."
)


def _figures(row: dict) -> dict:
    row["accepted_share"] = ratio(row["accepted_in_sla"], row["handoffs"])
    row["contacted_share"] = ratio(row["contacted_in_sla"], row["accepted"])
    row["breaches"], row["escalations"] = int(row["breaches"]), int(row["escalations"])
    return row


def _grouped(f: Filters, group: str | None, *, months: bool = True) -> list[tuple]:
    """The figures (in _NAMES' order) per value of `group` (a HandoffDay column or
    expression; None: one row for all), from the handoff rollups; the medians from the
    duration buckets."""
    where, params = f.where()
    days, spans = f.period_rows(months=months)
    key = group or "NULL::int"
    keep = "GROUP BY 1 HAVING sum(handoffs) <> 0" if group else ""  # else: one row
    with cursor() as c:
        c.execute(
            f"SELECT {key}, {', '.join(f'coalesce(sum({n}), 0)' for n in _SUMS)} "  # noqa: S608
            f"FROM dashboards_handoffday WHERE {days} AND {where} {keep}",
            [*spans, *params],
        )
        sums = {k: dict(zip(_SUMS, (int(v) for v in values), strict=True))
                for k, *values in c.fetchall()}  # fmt: skip
        c.execute(
            f"SELECT {key}, what, bucket, sum(handoffs) FROM dashboards_handofftimeday "  # noqa: S608
            f"WHERE {days} AND {where} GROUP BY 1, 2, 3",
            [*spans, *params],
        )
        times: dict = defaultdict(list)
        for k, what, number, n in c.fetchall():
            times[k, what].append((number, int(n)))
    return [
        (k, *(row[n] for n in _NAMES[:5]),
         buckets.percentile(times[k, HandoffTimeDay.ACCEPT], 0.5),
         buckets.percentile(times[k, HandoffTimeDay.CONTACT], 0.5),
         row["breaches"], row["escalations"])
        for k, row in sums.items()
    ]  # fmt: skip


def _as_rows(found: list[tuple]) -> list[dict]:
    rows = []
    for values in found:
        key, values = values[0], values[1:]
        rows.append(_figures({"key": key, **dict(zip(_NAMES, values, strict=True))}))
    return rows


def _blame(f: Filters) -> dict[str | None, dict[str, int]]:
    """username (None: the queue) → breaches and escalations, from the timeline entries
    of the selected handoffs (summed per day in BlameDay)."""
    where, params = f.where()
    days, spans = f.period_rows()
    with cursor() as c:
        c.execute(
            f"SELECT username, sum(breaches), sum(escalations) FROM dashboards_blameday "  # noqa: S608
            f"WHERE {days} AND {where} GROUP BY 1 "
            f"HAVING sum(breaches) <> 0 OR sum(escalations) <> 0",
            [*spans, *params],
        )
        return {name or None: {"breaches": int(b), "escalations": int(e)}
                for name, b, e in c.fetchall()}  # fmt: skip


def by_rep(f: Filters) -> list[dict]:
    held = _as_rows(_grouped(f, "rep_id"))
    blame = _blame(f)
    ids = [r["key"] for r in held if r["key"]]
    names = [n for n in blame if n]
    users = list(
        get_user_model()
        .objects.using(db_alias())
        .filter(Q(pk__in=ids) | Q(username__in=names))
        .only("id", "username", "first_name", "last_name")
    )
    by_id = {u.pk: u for u in users}
    by_name = {u.username: u for u in users}
    rows: dict[str | None, dict] = {}
    for row in held:
        user = by_id.get(row["key"])
        name = user.username if user else None
        row.update(
            label=(user.get_full_name() or user.username) if user else QUEUE,
            breaches=0,
            escalations=0,
        )
        rows[name] = row
    for name, counts in blame.items():
        row = rows.get(name)
        if row is None:
            user = by_name.get(name)
            row = _figures({"key": None, **dict.fromkeys(_NAMES, 0)})
            label = (user.get_full_name() or user.username) if user else (name or QUEUE)
            row.update(
                accept_median=None,
                contact_median=None,
                accepted_share=None,
                contacted_share=None,
                label=label,
            )
            rows[name] = row
        row.update(counts)
    return sorted(rows.values(), key=lambda r: (-r["breaches"], -r["handoffs"], r["label"]))


def by_team(f: Filters) -> list[dict]:
    rows = _as_rows(_grouped(f, "team_id"))
    names = dict(
        Team.objects.using(db_alias())
        .filter(pk__in=[r["key"] for r in rows])
        .values_list("id", "name")
    )
    for row in rows:
        row["label"] = names.get(row["key"], f"Team {row['key']}")
    return sorted(rows, key=lambda r: (-r["breaches"], r["label"]))


def by_week(f: Filters) -> list[dict]:
    week = "date_trunc('week', day)::date"  # days are the installation's (filters.zone)
    rows = _as_rows(_grouped(f, week, months=False))  # weeks: from the day rows
    for row in rows:
        row["label"] = row["key"].isoformat()
    return sorted(rows, key=lambda r: r["key"])


def total(f: Filters) -> dict:
    row = _as_rows(_grouped(f, None))[0]
    row["key"] = None
    row["label"] = "All handoffs"
    return row


def sla(f: Filters) -> Page:
    overall = total(f)
    summary = Table(
        "summary",
        "All handoffs of the selection",
        [Column("label", "Selection", TEXT), *FIGURE_COLUMNS],
        [overall] if overall["handoffs"] else [],
        note=NOTE,
        empty="No lead was handed off in this period.",
    )
    teams = Table(
        "teams",
        "By team",
        [Column("label", "Team", TEXT), *FIGURE_COLUMNS],
        by_team(f),
        note=NOTE,
        empty="No lead was handed off in this period.",
    )
    reps = Table(
        "reps",
        "By rep",
        [Column("label", "Rep", TEXT), *FIGURE_COLUMNS],
        by_rep(f),
        note=NOTE_REPS,
        empty="No lead was handed off in this period.",
    )
    weeks = Table(
        "weeks",
        "Trend by week",
        [Column("label", "Week of", TEXT), *FIGURE_COLUMNS],
        by_week(f),
        note="Handoffs made each week (Monday first).",
        empty="No lead was handed off in this period.",
    )
    chart(
        weeks,
        label="label",
        series=["accepted_share", "contacted_share"],
        kind="line",
        percent=True,
        summary=describe(
            weeks.rows[-8:],
            what="Chart of the SLA by week (share within SLA)",
            empty="No handoffs in this period.",
            part=lambda r: (
                f"week of {r['label']}: {_pct(r['accepted_share'])} accepted and "
                f"{_pct(r['contacted_share'])} contacted within SLA"
            ),
        ),
    )
    chart(
        reps,
        label="label",
        series=["breaches", "escalations"],
        summary=describe(
            reps.rows,
            what="Bar chart of breaches and escalations by rep",
            empty="No handoffs in this period.",
            part=lambda r: (
                f"{r['label']}: {r['breaches']} breaches, {r['escalations']} escalations"
            ),
        ),
    )
    return Page(tables=[summary, teams, reps, weeks])


def _pct(value) -> str:
    return "–" if value is None else f"{float(value) * 100:.0f} %"
