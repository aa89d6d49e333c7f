"""Handoff at scale: a burst of MQLs routed, and the SLA scan over open handoffs.

- routing: `--rows`/100 MQLs (10,000 at the targets' scale: what a model change can make
  at once) routed by `handoff.services.routing.route` across a team of 20 reps of
  weights 1 to 3, beside a hand-written `INSERT … SELECT` giving the same leads to reps by
  `row_number()` modulo the team (no weights, no capacity, no timeline): the cost of
  doing it right. The weights are checked: each rep's count is within one of its share.
- SLA scan: `--rows`/10 open handoffs (100,000 at the targets' scale), 1 % of them past
  their accept deadline, one `handoff.services.sla.scan`, beside the bare index scan
  that finds the same overdue rows.

    make bench BENCH_ARGS="handoff [--rows 1000000] [--repeat 3]"
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from bench._results import TARGET_ROWS, Row, explained, judged, option, p95, timed
from handoff.models import Handoff, RepSettings, TeamPolicy
from handoff.services import routing, sla
from leads import roles
from leads.models import Lead, Stage, Team

REPS = 20
ROUTE_TARGET_S, SCAN_TARGET_S = 10.0, 1.0


def _team():
    team = Team.objects.create(name="Bench team")
    TeamPolicy.objects.create(
        team=team, time_zone="UTC", fallback=True, hours=[[["00:00", "00:00"]]] * 7
    )
    sales = Group.objects.get_or_create(name=roles.SALES)[0]
    reps = []
    for i in range(REPS):
        rep = get_user_model().objects.create_user(f"bench_rep_{i:02d}")
        rep.groups.add(sales)
        RepSettings.objects.create(user=rep, weight=1 + i % 3, capacity=1_000_000)
        reps.append(rep)
    team.members.add(*reps)
    return team, reps


def _mqls(count: int, tag: str) -> list[int]:
    now = timezone.now()
    Lead.objects.bulk_create(
        [
            Lead(
                email=f"{tag}{i}@bench.example",
                first_name="Bench",
                last_name=str(i),
                stage=Stage.MQL,
                created_at=now,
            )
            for i in range(count)
        ],
        batch_size=5000,
    )
    return list(
        Lead.objects.filter(email__endswith="@bench.example", email__startswith=tag).values_list(
            "pk", flat=True
        )
    )


def _reset(ids: list[int]) -> None:
    Handoff.objects.filter(lead_id__in=ids).delete()
    Lead.objects.filter(pk__in=ids).update(in_handoff=False, owner=None, stage=Stage.MQL)


def _baseline_route(ids: list[int], team, reps) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH r AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM leads_lead
                       WHERE id = ANY(%s) AND stage = 'mql' AND NOT in_handoff),
            made AS (
                INSERT INTO handoff_handoff (lead_id, team_id, rep_id, status, decision,
                    created_at, assigned_at, accept_by, warnings, escalations, breaches,
                    reject_reason, note, lost_reason)
                SELECT r.id, %s, (%s::int[])[1 + r.n %% %s], 'pending', '{}', now(), now(),
                       now() + interval '1 hour', 0, 0, 0, '', '', ''
                FROM r RETURNING lead_id, rep_id)
            UPDATE leads_lead l SET in_handoff = true, owner_id = made.rep_id
            FROM made WHERE l.id = made.lead_id
            """,
            [ids, team.pk, [r.pk for r in reps], len(reps)],
        )


def _route_rows(n: int, repeat: int) -> list[Row]:
    team, reps = _team()
    count = max(20, n // 100)
    ids = _mqls(count, "route")
    ours, theirs = [], []
    for _ in range(repeat):
        _reset(ids)
        ours.append(timed(lambda: routing.route(now=timezone.now(), lead_ids=ids)))
        counts = Counter(Handoff.objects.filter(lead_id__in=ids).values_list("rep_id", flat=True))
        _reset(ids)
        theirs.append(timed(lambda: _baseline_route(ids, team, reps)))
    weights = {r.pk: 1 + i % 3 for i, r in enumerate(reps)}
    total = sum(weights.values())
    fair = all(abs(counts[pk] - count * w / total) <= 1.5 for pk, w in weights.items())
    _reset(ids)
    work = (
        f"routing a burst of {count:,} MQLs across {REPS} reps of weights 1–3 (weights "
        f"{'kept' if fair else 'NOT kept'}) vs a modulo INSERT … SELECT"
    )
    plan = explained(work, lambda: routing.route(now=timezone.now(), lead_ids=ids))
    _reset(ids)
    return [
        Row(
            key="route-burst",
            work=work,
            leadflow=p95(ours),
            baseline=p95(theirs),
            runs=repeat,
            target=f"< {ROUTE_TARGET_S:.0f} s, weights kept",
            met=judged(p95(ours) < ROUTE_TARGET_S and fair, n),
            explain=plan,
        )
    ]


def _scan_rows(n: int, repeat: int) -> list[Row]:
    team = Team.objects.get(name="Bench team")
    reps = list(team.members.all())
    count = max(200, n // 10)
    ids = _mqls(count, "scan")
    now = timezone.now()
    Handoff.objects.bulk_create(
        [
            Handoff(
                lead_id=lead_id,
                team=team,
                rep=reps[i % len(reps)],
                created_at=now,
                assigned_at=now,
                accept_by=now - timedelta(minutes=1)
                if i % 100 == 0
                else now + timedelta(minutes=60 + i % 500),
            )
            for i, lead_id in enumerate(ids)
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE handoff_handoff")
    due = Handoff.objects.filter(accept_by__lte=now).count()

    def bare():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM handoff_handoff WHERE status = 'pending' "
                "AND accept_breached_at IS NULL AND accept_by <= %s",
                [now],
            )
            cursor.fetchall()

    def reopen():
        Handoff.objects.filter(lead_id__in=ids).update(
            accept_breached_at=None, escalate_at=None, breaches=0
        )

    ours, theirs = [], []
    for _ in range(repeat):
        reopen()
        ours.append(timed(lambda: sla.scan(now=now, email=False)))
        theirs.append(timed(bare))
    reopen()
    work = (
        f"one SLA scan over {count:,} open handoffs, {due:,} past their accept deadline "
        "(flag, notify, timeline) vs the bare index scan finding them"
    )
    plan = explained(work, lambda: sla.scan(now=now, email=False))
    return [
        Row(
            key="sla-scan",
            work=work,
            leadflow=p95(ours),
            baseline=p95(theirs),
            runs=repeat,
            target=f"< {SCAN_TARGET_S:.0f} s",
            met=judged(p95(ours) < SCAN_TARGET_S, n),
            explain=plan,
        )
    ]


def main(options: list[str]) -> list[Row]:
    n, repeat = option(options, "--rows", TARGET_ROWS), option(options, "--repeat", 3)
    return [*_route_rows(n, repeat), *_scan_rows(n, repeat)]
