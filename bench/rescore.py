"""Rescoring a million leads after a model change, and the what-if of a draft: the
product's code against hand-written SQL doing the same arithmetic, in the same run.

    make bench BENCH_ARGS="rescore --rows 1000000"

The leads carry 2-3 behavioural events each, ranked as they arrived, and are scored
under model v1 an hour ago (the first scoring, from random scores, is timed once: it
moves many stages). Marketing then saves v2 (a fit rule and an event's points and cap
edited): the timed rescoring writes fit, engagement, grade and score of every lead, a
history point where the score moved, and the MQL moves, in id batches with progress.
The baseline is one UPDATE of every lead with v2's arithmetic, written by hand from the
same ranked events. In each of `--repeat` runs (default 3) both go from v1's scores to
v2's (v1 is scored again, untimed, and the UPDATE is rolled back), so neither writes
values a row already holds.

The what-if counts the moves a draft (v2 with a stricter MQL rule and a disqualification
rule) would make, beside one hand-written SELECT counting the same.

Targets: rescoring costs at most 0.7x extra over the hand-written UPDATE, i.e. takes at
most 1.7x its time (the issue's "at or below 0.7x" read as the extra); the what-if
under 3 s. Both run on the same table with the same indexes: a lead
whose score changes gets new entries in every index (lead_score_idx, migration 0017,
for sorting by score), one whose score stays is updated in place (HOT).
"""

# The hand-written SQL is assembled from this module's own constants.
# ruff: noqa: S608

from __future__ import annotations

import copy
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bench._results import (
    Row,
    SlowestStatement,
    explained,
    judged,
    option,
    p95,
    side_by_side,
    timed,
)
from bench.list_leads import _populate, _rows
from scoring import selectors, services
from scoring.models import RescoreRun, ScoringModel

EXTRA_TARGET = 0.7  # at most 0.7x the UPDATE's time more than it: a ratio of 1.7
WHAT_IF_SECONDS = 3

V1 = {
    "rules": [
        {"name": "VP", "field": "title", "op": "contains", "value": "VP", "points": 15},
        {"name": "Mid-size", "field": "company_size", "op": "range", "min": 200, "max": 2000,
         "points": 10},
        {"name": "Software", "field": "industry", "op": "equals", "value": "Software",
         "points": 10},
        {"name": "Student", "field": "title", "op": "contains", "value": "Student",
         "points": -30},
    ],
    "engagement": [
        {"event": "pricing_page_view", "points": 10, "cap": 30},
        {"event": "page_view", "points": 1, "cap": 10},
    ],
    "half_life_days": 30,
    "grades": [{"grade": "A", "min_fit": 30}, {"grade": "B", "min_fit": 20},
               {"grade": "C", "min_fit": 10}, {"grade": "D", "min_fit": None}],
    "mql": {"min_grade": "B", "min_engagement": 10, "need_known": False},
    "disqualify": [],
}  # fmt: skip

V2 = copy.deepcopy(V1)
V2["rules"][0]["points"] = 20  # VP: 15 -> 20
V2["engagement"][1].update(points=2, cap=20)  # page views: 1 (cap 10) -> 2 (cap 20)

# A draft marketing looks at before saving: the what-if of the editor.
DRAFT = copy.deepcopy(V2)
DRAFT["mql"]["min_engagement"] = 12
DRAFT["disqualify"] = [{"name": "Students", "field": "title", "op": "contains",
                        "value": "Student"}]  # fmt: skip

# v2's arithmetic by hand: fit rules, capped and decayed event points, grade bands, score.
SCORES = """
    SELECT l2.id,
        (CASE WHEN l2.title ILIKE '%%VP%%' THEN 20 ELSE 0 END
         + CASE WHEN l2.company_size BETWEEN 200 AND 2000 THEN 10 ELSE 0 END
         + CASE WHEN lower(l2.industry) = 'software' THEN 10 ELSE 0 END
         + CASE WHEN l2.title ILIKE '%%Student%%' THEN -30 ELSE 0 END) AS fit,
        round(GREATEST(0, coalesce(e.e, 0))::numeric, 2)::float AS engagement
    FROM leads_lead l2 LEFT JOIN (
        SELECT lead_id,
               sum(CASE event_type
                       WHEN 'pricing_page_view' THEN LEAST(10, GREATEST(0, 30 - (rank - 1) * 10))
                       WHEN 'page_view' THEN LEAST(2, GREATEST(0, 20 - (rank - 1) * 2))
                   END
                   * power(0.5, date_part('epoch', (%s - occurred_at)) / (86400 * 30))) AS e
        FROM scoring_scoredevent GROUP BY lead_id
    ) e ON e.lead_id = l2.id
"""
GRADE = """CASE WHEN s.fit >= 30 THEN 'A' WHEN s.fit >= 20 THEN 'B'
                 WHEN s.fit >= 10 THEN 'C' ELSE 'D' END"""
BASELINE = f"""
UPDATE leads_lead l SET
    fit = s.fit, engagement = s.engagement, score = round(s.engagement)::int, grade = {GRADE}
FROM ({SCORES}) s
WHERE s.id = l.id
"""
# The draft's moves by hand, scoring only the leads a move could take (new, nurturing or
# mql, in no handoff): disqualified by the Students rule unless a person took the lead
# out of disqualified, MQL on meeting the rule (grade B or better, engagement >= 12),
# back to nurturing on falling below it.
WHAT_IF = f"""
SELECT move, count(*) FROM (
    SELECT CASE
        WHEN l.title ILIKE '%%Student%%' AND NOT EXISTS (
            SELECT 1 FROM leads_stagechange h WHERE h.lead_id = l.id
            AND h.from_stage = 'disqualified' AND h.changed_by_id IS NOT NULL)
            THEN 'disqualified'
        WHEN l.stage IN ('new', 'nurturing') AND {GRADE} IN ('A', 'B') AND s.engagement >= 12
            THEN 'mql'
        WHEN l.stage = 'mql' AND NOT ({GRADE} IN ('A', 'B') AND s.engagement >= 12)
            THEN 'nurturing'
    END AS move
    FROM leads_lead l JOIN ({SCORES}) s ON s.id = l.id
    WHERE l.merged_into_id IS NULL AND NOT l.in_handoff
      AND l.stage IN ('new', 'nurturing', 'mql')
) m WHERE move IS NOT NULL GROUP BY move
"""
WHAT_IF_NAMES = {"mql": "newly_mql", "nurturing": "leave_mql", "disqualified": "disqualified"}


def _events() -> int:
    """Two or three events per lead over the last 90 days (not timed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO leads_activity (lead_id, kind, occurred_at, data, created_at)
            SELECT l.id,
                   CASE WHEN (l.id + k) % 3 = 0 THEN 'pricing_page_view' ELSE 'page_view' END,
                   now() - ((l.id * 7 + k * 13) % 90) * interval '1 day', '{}'::jsonb, now()
            FROM leads_lead l CROSS JOIN LATERAL generate_series(1, 2 + (l.id % 2)::int) k
            """
        )
        count = cursor.rowcount
        cursor.execute("ANALYZE leads_activity")
    return count


def _rescore(model: ScoringModel, now) -> tuple[float, RescoreRun]:
    run = RescoreRun.objects.create(model=model)
    started = time.perf_counter()
    services.run_rescore(run_id=run.pk, now=now)
    elapsed = time.perf_counter() - started
    run.refresh_from_db()
    return elapsed, run


def _activate(definition: dict, version: int) -> ScoringModel:
    ScoringModel.objects.filter(is_active=True).update(is_active=False)
    return ScoringModel.objects.create(version=version, is_active=True, definition=definition)


def _what_if_by_hand(now) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(WHAT_IF, [now])
        return {WHAT_IF_NAMES[move]: count for move, count in cursor.fetchall()}


# Every lead's scores as one value, to compare two runs' results.
CHECKSUM = (
    "SELECT md5(string_agg(concat_ws(',', id, fit, engagement, grade, score), ';' ORDER BY id)) "
    "FROM leads_lead"
)


def _rescorings(n: int, repeat: int, now) -> tuple[list[float], list[float], tuple]:
    """`repeat` times, each from v1's scores (untimed; the first time from random ones):
    the hand-written UPDATE to v2 (timed, then rolled back), then LeadFlow's rescoring to
    v2 (timed), whose result must be the UPDATE's. Both start from the same scores: an
    UPDATE run after the rescoring would write values the rows already hold, and with
    the score indexed that is an update in place the real one is not."""
    versions = iter(range(1, 1000))
    ours, theirs, first = [], [], None
    for _ in range(repeat):
        seconds_v1, run_v1 = _rescore(_activate(V1, next(versions)), now - timedelta(hours=1))
        first = first or (seconds_v1, run_v1)
        with connection.cursor() as cursor, transaction.atomic():
            started = time.perf_counter()
            cursor.execute(BASELINE, [now])
            theirs.append(time.perf_counter() - started)
            cursor.execute(CHECKSUM)
            (expected,) = cursor.fetchone()
            transaction.set_rollback(True)
        seconds, run = _rescore(_activate(V2, next(versions)), now)
        ours.append(seconds)
        with connection.cursor() as cursor:
            cursor.execute(CHECKSUM)
            (result,) = cursor.fetchone()
        print(f"rescoring {seconds:.1f} s, hand-written UPDATE {theirs[-1]:.1f} s", flush=True)
        if result != expected:
            raise SystemExit("the rescoring and the hand-written UPDATE differ")
    # One more v1 -> v2 rescoring (untimed) for the plan of its slowest statement.
    _rescore(_activate(V1, next(versions)), now - timedelta(hours=1))
    with SlowestStatement() as rider:
        _rescore(_activate(V2, next(versions)), now)
    return ours, theirs, (*first, run, rider)


def main(options: list[str]) -> list[Row]:
    n, repeat = _rows(options), option(options, "--repeat", 3)
    _populate(n)
    events = _events()
    print(f"populated {n:,} leads and {events:,} events", flush=True)
    now = timezone.now()
    work = (
        f"ranking {events:,} events after a bulk load (done as they arrive; no model change "
        "redoes it)"
    )
    seconds = timed(services.rank_events)
    rows = [Row("rank-events", work, seconds, explain=explained(work, services.rank_events))]

    ours, theirs, (first, run_v1, run, rider) = _rescorings(n, repeat, now)
    print(f"first scoring of {run_v1.leads_done:,} leads under v1 (from random scores; "
          f"{run_v1.became_mql + run_v1.left_mql:,} MQL moves): {first:.1f} s")  # fmt: skip
    connections = settings.RESCORE_CONNECTIONS
    work = (
        f"rescoring {run.leads_done:,} leads after a model change (v1 → v2; {connections} "
        f"connection{'s' if connections > 1 else ''}, history, MQL moves) vs one "
        "hand-written UPDATE, same result for every lead"
    )
    ratio = p95(ours) / p95(theirs)
    rows.append(
        Row(
            key="rescore",
            work=work,
            leadflow=p95(ours),
            baseline=p95(theirs),
            runs=repeat,
            target=f"≤ {1 + EXTRA_TARGET:.1f}× baseline ({EXTRA_TARGET}× extra)",
            met=judged(ratio <= 1 + EXTRA_TARGET, n),
            explain=rider.report(work),
        )
    )

    def what_if():
        return selectors.what_if(DRAFT, now=now)

    counts = {change: result["count"] for change, result in what_if().items()}
    by_hand = _what_if_by_hand(now)
    if {change: count for change, count in counts.items() if count} != by_hand:
        raise SystemExit(f"the what-if {counts} and the hand-written one {by_hand} differ")
    mine, hand = side_by_side(what_if, lambda: _what_if_by_hand(now), repeat=repeat)
    work = (
        f"what-if of a draft over {n:,} leads ("
        + ", ".join(f"{change} {count:,}" for change, count in counts.items())
        + ") vs one hand-written SELECT, same counts"
    )
    rows.append(
        Row(
            key="what-if",
            work=work,
            leadflow=mine,
            baseline=hand,
            runs=repeat,
            target=f"< {WHAT_IF_SECONDS} s",
            met=judged(mine < WHAT_IF_SECONDS, n),
            explain=explained(work, what_if),
        )
    )

    for recent_only, label in [(True, "every minute, newest events"), (False, "hourly, all")]:

        def sweep(recent_only=recent_only):
            return services.sweep_ranks(recent_only=recent_only)

        work = f"the tick's sweep for unranked events ({label})"
        key = f"sweep-{'recent' if recent_only else 'all'}"
        rows.append(Row(key=key, work=work, leadflow=timed(sweep), explain=explained(work, sweep)))
    return rows
