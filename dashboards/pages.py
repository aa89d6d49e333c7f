"""The six dashboard pages: each one's name, title, what it counts (one or two plain
sentences shown on the page) and the selector that builds its tables. The pages
(dashboards.views), their CSV downloads and `GET /api/v1/dashboards/<page>/` all read
this registry, so a page's numbers are the same wherever they are read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dashboards.selectors import aging, closed_loop, nurture, sla, sources
from dashboards.selectors.filters import COHORT, Filters
from dashboards.selectors.funnel import Funnel, StageRow, funnel
from dashboards.tables import RATE, SECONDS, TEXT, Column, Page, Table, chart


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    counts: str  # what the page counts, in a sentence or two
    build: Callable[[Filters, object, datetime], Page]
    modes: bool = False  # the cohort / period switch applies


@dataclass
class FunnelPage(Page):
    funnel: Funnel | None = None


def _stage_row(r: StageRow) -> dict:
    return {
        "stage": r.label,
        "entered": r.entered,
        "converted": r.converted if r.conversion_to_next is not None else None,
        "conversion": r.conversion_to_next,
        "previous_entered": r.previous_entered,
        "previous_conversion": r.previous_conversion,
        "drop_off": r.drop_off,
        "median": r.median_seconds,
        "p90": r.p90_seconds,
        "reentries": r.reentries,
        "backward": r.backward,
        "waiting": r.waiting,
    }


def funnel_page(f: Filters, params, now: datetime) -> FunnelPage:
    del params, now
    result = funnel(f)
    cohort = f.mode == COHORT
    entered = "Reached the stage" if cohort else "Entries"
    columns = [
        Column("stage", "Stage", TEXT),
        Column("entered", entered),
        Column("converted", "Went further on"),
        Column("conversion", "Conversion to next", RATE),
        Column("previous_conversion", "Previous period", RATE),
        Column("drop_off", "Drop-off"),
        Column("previous_entered", f"{entered}, previous period"),
        Column("median", "Median time in stage", SECONDS),
        Column("p90", "p90 time in stage", SECONDS),
    ]
    if not cohort:
        columns += [
            Column("reentries", "Re-entries"),
            Column("backward", "Moves back"),
            Column("waiting", "Still in the stage"),
        ]
    if cohort:
        note = (
            f"{result.created:,} leads were created in the period ({result.previous_created:,} "
            "in the previous one). A lead counts once in each stage it ever reached, however "
            "often it came back; conversion is the share that later went further on."
        )
    else:
        note = (
            "Every entry into each stage during the period, re-entries included (also shown "
            "apart, with the moves back along the funnel); conversion is the share of entries "
            "whose next move went further on."
        )
    note += (
        " A lead that skipped the next stage counts as converted. Time in stage is over the "
        "stays that ended; its median and p90 are read from duration buckets, within 5 % of "
        "the exact figure."
    )
    stages = Table(
        "stages",
        "The funnel",
        columns,
        [_stage_row(r) for r in result.stages],
        note=note,
        empty="No lead in this selection.",
    )
    exits = Table(
        "exits",
        "Exits",
        [
            c
            for c in columns
            if c.key in ("stage", "entered", "previous_entered", "reentries", "backward")
        ],
        [_stage_row(r) for r in result.exits],
        note="Leads lost or disqualified, counted the same way.",
    )
    chart(
        stages,
        label="stage",
        series=["entered", "previous_entered"],
        summary=_funnel_summary(result, entered.lower()),
    )
    steps = Table(
        "conversion",
        "Conversion to the next stage",
        [
            Column("stage", "Step", TEXT),
            Column("conversion", "This period", RATE),
            Column("previous_conversion", "Previous period", RATE),
        ],
        [
            _stage_row(r)
            for r in result.stages
            if r.conversion_to_next is not None or r.previous_conversion is not None
        ],
        note="Of the leads in each stage, the share that went further on.",
    )
    chart(
        steps,
        label="stage",
        series=["conversion", "previous_conversion"],
        percent=True,
        summary=_conversion_summary(result),
    )
    return FunnelPage(tables=[stages, steps, exits], notes=[result.leak], funnel=result)


def _funnel_summary(result: Funnel, what: str) -> str:
    parts = [f"{r.label} {r.entered} (previously {r.previous_entered})" for r in result.stages]
    return (
        f"Bar chart of {what} per stage, this period beside the previous one: "
        + ", ".join(parts)
        + "."
    )


def _conversion_summary(result: Funnel) -> str:
    def pct(v):
        return "–" if v is None else f"{float(v) * 100:.0f} %"

    parts = [
        f"{r.label} {pct(r.conversion_to_next)} (previously {pct(r.previous_conversion)})"
        for r in result.stages
        if r.conversion_to_next is not None
    ]
    return "Bar chart of conversion to the next stage: " + ", ".join(parts) + "."


DASHBOARDS = {
    d.slug: d
    for d in (
        Dashboard(
            "funnel",
            "Funnel",
            "Leads entering each stage, the conversion to the next, the drop-off and the "
            "time in each stage, beside the previous period of the same length.",
            funnel_page,
            modes=True,
        ),
        Dashboard(
            "sources",
            "Sources and campaigns",
            "What each channel and campaign brought, how far its leads got and what "
            "it cost; which campaigns sales rejects most, and why.",
            lambda f, params, now: sources.sources(f),
        ),
        Dashboard(
            "sla",
            "SLA",
            "How fast sales accepts and first contacts its handoffs (business hours), "
            "breaches and escalations by rep and team, week by week.",
            lambda f, params, now: sla.sla(f),
        ),
        Dashboard(
            "aging",
            "Aging",
            "MQLs and SALs nobody from sales has touched for N days, oldest first, "
            "and the intake batches they came in.",
            lambda f, params, now: aging.aging(f, aging.options(params), now=now),
        ),
        Dashboard(
            "closed-loop",
            "Closed loop",
            "Why sales rejects leads, by source and campaign; recycled leads that "
            "later converted; the predictive model's view once one is active.",
            lambda f, params, now: closed_loop.closed_loop(f),
        ),
        Dashboard(
            "nurture",
            "Nurture",
            "Per track and step: emails sent, opened, clicked, unsubscribed, bounced, "
            "deferred by the cap, and leads that left as MQL.",
            lambda f, params, now: nurture.nurture(f),
        ),
    )
}
