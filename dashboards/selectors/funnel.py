"""The funnel, in either counting mode, from the rollups (counts) and the visit facts
(time in stage), with the previous period beside it and the sentence naming its
biggest leak.

- cohort: the leads created in the period; `entered` is how many of them ever reached
  each stage, `converted` how many of those later went further on.
- period: every entry into each stage during the period, re-entries included (shown
  apart); `converted` counts the entries whose next move went further on.
A conversion counts a lead that skipped the next stage too (new → MQL directly is a
conversion of New). Drop-off is entered minus converted. Time in stage is over the visits
that have ended: its median and p90 come from the visits' duration buckets
(dashboards.buckets, within 5 % of the exact figure); how many visits it is over is exact.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from dashboards import buckets
from dashboards.models import EXITS, FUNNEL, TimeDay
from dashboards.selectors.filters import COHORT, Filters, cursor, freshness
from leads.models import Stage

# The leak sentence counts the visits longer than a day: a bucket edge, so exactly.
WAITED = timedelta(seconds=buckets.MORE_THAN_A_DAY - 1)
MIN_FOR_LEAK = 10  # a step compared with fewer entries in either period says nothing


def label(stage: str) -> str:
    return Stage(stage).label if stage in Stage.values else stage


def rate(part: int, whole: int) -> Decimal | None:
    """part / whole as a fraction rounded to four places (None: nothing to divide)."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def percent(value: Decimal | None) -> str:
    return "–" if value is None else f"{(value * 100).quantize(Decimal('1'), ROUND_HALF_UP)} %"


@dataclass
class StageRow:
    stage: str
    entered: int = 0
    converted: int = 0
    reentries: int = 0  # period mode: entries by leads that had been in the stage before
    backward: int = 0  # period mode: entries that were moves back along the funnel
    waiting: int = 0  # period mode: entries still in the stage
    median_seconds: int | None = None
    p90_seconds: int | None = None
    timed: int = 0  # the ended visits the percentiles are over
    previous_entered: int = 0
    previous_converted: int = 0

    @property
    def label(self) -> str:
        return label(self.stage)

    @property
    def conversion_to_next(self) -> Decimal | None:
        return None if self.stage not in FUNNEL[:-1] else rate(self.converted, self.entered)

    @property
    def previous_conversion(self) -> Decimal | None:
        if self.stage not in FUNNEL[:-1]:
            return None
        return rate(self.previous_converted, self.previous_entered)

    @property
    def drop_off(self) -> int | None:
        return None if self.stage not in FUNNEL[:-1] else self.entered - self.converted


@dataclass
class Funnel:
    filters: Filters
    stages: list[StageRow]
    exits: list[StageRow]
    created: int = 0  # cohort mode: the leads created in the period
    previous_created: int = 0
    as_of: datetime | None = None
    leak: str = ""
    leak_stage: str = ""
    notes: list[str] = field(default_factory=list)


def _counts(f: Filters) -> dict[str, dict[str, int]]:
    where, params = f.where()
    days, spans = f.period_rows()
    with cursor() as c:
        if f.mode == COHORT:
            c.execute(
                f"SELECT stage, sum(leads), sum(onward) FROM dashboards_cohortday "  # noqa: S608
                f"WHERE {days} AND {where} GROUP BY stage",
                [*spans, *params],
            )
            return {s: {"entered": int(n), "converted": int(o)} for s, n, o in c.fetchall()}
        c.execute(
            f"SELECT stage, sum(entries), sum(forward), sum(reentries), sum(backward), "  # noqa: S608
            f"sum(waiting) FROM dashboards_stageday "
            f"WHERE {days} AND {where} GROUP BY stage",
            [*spans, *params],
        )
        return {
            s: {"entered": int(e), "converted": int(fw), "reentries": int(r),
                "backward": int(b), "waiting": int(w)}
            for s, e, fw, r, b, w in c.fetchall()
        }  # fmt: skip


def _times(f: Filters) -> dict[str, tuple[int | None, int | None, int]]:
    """Median and p90 seconds in each stage over the ended visits (from their duration
    buckets: within buckets.PRECISION of the exact figure), and how many (exact)."""
    where, params = f.where()
    days, spans = f.period_rows()
    counted_by = TimeDay.CREATED if f.mode == COHORT else TimeDay.ENTERED
    with cursor() as c:
        c.execute(
            f"SELECT stage, bucket, sum(visits) FROM dashboards_timeday "  # noqa: S608
            f"WHERE counted_by = %s AND {days} AND {where} GROUP BY 1, 2",
            [counted_by, *spans, *params],
        )  # every stage (no `stage = ANY(…)`: one index range, not one per stage)
        found: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for stage, number, n in c.fetchall():
            if stage in FUNNEL or stage in EXITS:
                found[stage].append((number, int(n)))
    return {
        stage: (buckets.percentile(counts, 0.5), buckets.percentile(counts, 0.9),
                sum(n for _, n in counts))
        for stage, counts in found.items()
    }  # fmt: skip


def waited_longer(f: Filters, stage: str, *, as_of: datetime) -> int:
    """The visits of `stage` in the selection that lasted (or, still going as of `as_of`,
    have lasted) longer than a day (WAITED): the ended ones from their duration buckets
    (a day is a bucket edge, so the count is exact), the open ones from the visits."""
    where, params = f.where()
    days, spans = f.period_rows()
    vwhere, vparams = f.where("v")
    counted_by = TimeDay.CREATED if f.mode == COHORT else TimeDay.ENTERED
    day = "created_day" if f.mode == COHORT else "entered_day"
    with cursor() as c:
        c.execute(
            f"SELECT coalesce((SELECT sum(visits) FROM dashboards_timeday "  # noqa: S608
            f"  WHERE counted_by = %s AND stage = %s AND {days} AND {where} "
            f"  AND bucket >= %s), 0) "
            f"+ (SELECT count(*) FROM dashboards_visit v WHERE v.stage = %s "
            f"  AND v.{day} BETWEEN %s AND %s AND {vwhere} AND v.seconds IS NULL "
            f"  AND v.entered_at < %s)",
            [counted_by, stage, *spans, *params, buckets.bucket(buckets.MORE_THAN_A_DAY),
             stage, f.start, f.end, *vparams, as_of - WAITED],
        )  # fmt: skip
        return c.fetchone()[0]


def funnel(f: Filters) -> Funnel:
    now_counts, before = _counts(f), _counts(f.previous())
    times = _times(f)

    def row(stage: str) -> StageRow:
        got, prev = now_counts.get(stage, {}), before.get(stage, {})
        median, p90, timed = times.get(stage, (None, None, 0))
        return StageRow(
            stage=stage, **got, median_seconds=median, p90_seconds=p90, timed=timed,
            previous_entered=prev.get("entered", 0),
            previous_converted=prev.get("converted", 0),
        )  # fmt: skip

    result = Funnel(
        filters=f,
        stages=[row(s) for s in FUNNEL],
        exits=[row(s) for s in EXITS],
        created=now_counts.get("created", {}).get("entered", 0),
        previous_created=before.get("created", {}).get("entered", 0),
        as_of=freshness(),
    )
    result.leak, result.leak_stage = _leak(result)
    return result


def _leads_in(stage: str, n: int) -> str:
    """ "38 MQLs", "1 SAL", "12 leads in Nurturing"."""
    if stage in ("mql", "sal", "sql"):
        return f"{n} {label(stage)}{'' if n == 1 else 's'}"
    return f"{n} lead{'' if n == 1 else 's'} in {label(stage)}"


def _leak(result: Funnel) -> tuple[str, str]:
    """One sentence naming the step whose conversion fell most against the previous
    period, and how many of its leads waited more than a day."""
    steps = [r for r in result.stages if r.conversion_to_next is not None]
    if not steps:
        return ("No lead entered the funnel in this period.", "")
    falls = [
        (r.previous_conversion - r.conversion_to_next, r)
        for r in steps
        if r.previous_conversion is not None
        and min(r.entered, r.previous_entered) >= MIN_FOR_LEAK
        and r.conversion_to_next < r.previous_conversion
    ]
    if falls:
        _, worst = max(falls, key=lambda pair: (pair[0], -FUNNEL.index(pair[1].stage)))
        nxt = label(FUNNEL[FUNNEL.index(worst.stage) + 1])
        as_of = result.as_of or result.filters.bounds()[1]
        waited = waited_longer(result.filters, worst.stage, as_of=as_of)
        return (
            f"{worst.label} → {nxt} fell from {percent(worst.previous_conversion)} to "
            f"{percent(worst.conversion_to_next)}: {_leads_in(worst.stage, waited)} waited "
            f"more than a day.",
            worst.stage,
        )
    worst = min(steps, key=lambda r: (r.conversion_to_next, FUNNEL.index(r.stage)))
    nxt = label(FUNNEL[FUNNEL.index(worst.stage) + 1])
    return (
        f"No step converted worse than in the previous period; the lowest is "
        f"{worst.label} → {nxt} at {percent(worst.conversion_to_next)}.",
        worst.stage,
    )
