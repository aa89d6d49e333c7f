"""Nurture: per track and per step, what the emails did and how many leads left the track
as MQL.

- Emails counted are the sends written during the period (the outbox: one per
  enrolment and email step): sent, and of them those opened, clicked, unsubscribed from
  and bounced (whenever that happened); deferred by the cap counts the sends the
  frequency cap put off at least once.
- Left as MQL: enrolments that ended during the period because the lead became MQL; by
  step, at the step of the last email the lead was sent ("before the first email" when
  it had none).
- Source and campaign are the lead's, the team its team as on the funnel (the team of its
  latest handoff).
- Read from NurtureDay (per day, track and step), kept by the rollup job from a
  NurtureFact per email and per enrolment left as MQL.
"""

from __future__ import annotations

from dashboards.models import NURTURE_COUNTS
from dashboards.selectors.filters import Filters, cursor, db_alias
from dashboards.tables import RATE, TEXT, Column, Page, Table, chart, describe, ratio
from nurturing.models import Step, Track

COUNTS = ("sent", "opened", "clicked", "unsubscribed", "bounced", "capped")
COLUMNS = [
    Column("sent", "Sent"),
    Column("opened", "Opened"),
    Column("open_rate", "Open rate", RATE),
    Column("clicked", "Clicked"),
    Column("click_rate", "Click rate", RATE),
    Column("unsubscribed", "Unsubscribed"),
    Column("bounced", "Bounced"),
    Column("capped", "Deferred by the cap"),
    Column("mql", "Left as MQL"),
]
NOTE = (
    "Emails written to the outbox during the period, and what became of them (opened, "
    "clicked, unsubscribed, bounced: whenever it happened); deferred by the cap counts "
    "those the frequency cap put off at least once. Left as MQL: leads whose enrolment "
    "ended in the period because they became MQL, by step after the last email they got."
)


BEFORE_ANY = -1  # left before any email of the track (NurtureFact.step_id)
DELETED = 0  # a step since deleted


def _counts(f: Filters, by: str) -> tuple[dict, dict]:
    """(value of the NurtureDay column `by`) → the email counts, and → left as MQL."""
    where, params = f.where()
    days, spans = f.period_rows()
    with cursor() as c:
        c.execute(
            f"SELECT {by}, {', '.join(f'sum({n})' for n in NURTURE_COUNTS)} "  # noqa: S608
            f"FROM dashboards_nurtureday WHERE {days} AND {where} GROUP BY 1 "
            f"HAVING sum(sends) <> 0 OR sum(mql) <> 0",
            [*spans, *params],
        )
        sends, mql = {}, {}
        for key, *values in c.fetchall():
            got = dict(zip(NURTURE_COUNTS, (int(v) for v in values), strict=True))
            key = None if key == DELETED else key
            if got["sends"]:
                sends[key] = {n: got[n] for n in COUNTS}
            if got["mql"]:
                mql[key] = got["mql"]
    return sends, mql


def _row(counts: dict | None, mql: int) -> dict:
    row = dict.fromkeys(COUNTS, 0) | (counts or {})
    row["mql"] = mql
    row["open_rate"] = ratio(row["opened"], row["sent"])
    row["click_rate"] = ratio(row["clicked"], row["sent"])
    return row


def by_track(f: Filters) -> list[dict]:
    sends, mql = _counts(f, "track_id")
    names = dict(
        Track.objects.using(db_alias()).filter(pk__in=[*sends, *mql]).values_list("id", "name")
    )
    rows = [
        {"track": names.get(t, f"Track {t}"), **_row(sends.get(t), mql.get(t, 0))}
        for t in {*sends, *mql}
    ]
    return sorted(rows, key=lambda r: (-r["sent"], r["track"]))


def by_step(f: Filters) -> list[dict]:
    sends, mql = _counts(f, "step_id")
    steps = {
        s.pk: s
        for s in Step.objects.using(db_alias())
        .select_related("track", "template")
        .filter(pk__in=[k for k in (*sends, *mql) if k])
    }
    rows = []
    for key in {*sends, *mql}:
        step = steps.get(key)
        if key == BEFORE_ANY:
            track, label, order = "(any track)", "Before the first email", (-1, 0)
        elif step is None:
            track, label, order = "(deleted steps)", "A step since deleted", (2**31, 0)
        else:
            what = step.template.name if step.template_id else step.get_kind_display()
            track, label = step.track.name, f"{step.position}. {what}"
            order = (step.track_id, step.position)
        rows.append(
            {
                "track": track,
                "step": label,
                "_order": order,
                **_row(sends.get(key), mql.get(key, 0)),
            }
        )
    rows.sort(key=lambda r: (r["track"], r.pop("_order")))
    return rows


def nurture(f: Filters) -> Page:
    tracks = Table(
        "tracks",
        "By track",
        [Column("track", "Track", TEXT), *COLUMNS],
        by_track(f),
        note=NOTE,
        empty="No nurture email in this period.",
    )
    steps = Table(
        "steps",
        "By step",
        [Column("track", "Track", TEXT), Column("step", "Step", TEXT), *COLUMNS],
        by_step(f),
        note=NOTE,
        empty="No nurture email in this period.",
    )
    chart(
        tracks,
        label="track",
        series=["sent", "opened", "clicked", "mql"],
        summary=describe(
            tracks.rows,
            what="Bar chart of nurture emails by track",
            empty="No nurture emails in this period.",
            part=lambda r: (
                f"{r['track']}: {r['sent']} sent, {r['opened']} opened, "
                f"{r['clicked']} clicked, {r['mql']} left as MQL"
            ),
        ),
    )
    return Page(tables=[tracks, steps])
