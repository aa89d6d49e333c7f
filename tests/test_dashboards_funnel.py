"""The funnel's numbers (page selector and `GET /api/v1/funnel/`) equal an independent
computation from the stage history, in both counting modes, with every filter, after a
random history built through the product's services: leads moving forward and back,
recycled, disqualified and brought back, handed off to two teams, with rows written
late (a lead's history dated before rollup runs already made) and rollup runs at random
points in between (the rollups are incremental)."""

from __future__ import annotations

import math
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboards import buckets
from dashboards.models import EXITS, FUNNEL
from dashboards.selectors import filters as filtering
from dashboards.selectors.funnel import funnel
from dashboards.services import rollup
from handoff.models import AssignmentRule, Handoff, TeamPolicy
from handoff.services import routing
from leads.models import Campaign, Lead, StageChange, Team
from leads.services.stages import MOVES, move_stage
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead

pytestmark = pytest.mark.django_db

BASE = CURRENT_TIME - timedelta(days=40)
SOURCES = ("web_form", "trade_show")


@contextmanager
def _rolled_back():
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture
def world(manager, marketer, rep_ann, rep_bob):
    inside = Team.objects.get(name="Inside Sales")
    inside.members.add(rep_bob)
    TeamPolicy.objects.create(team=inside, time_zone="UTC", fallback=True)
    big = Team.objects.create(name="Enterprise")
    big.members.add(rep_bob)
    TeamPolicy.objects.create(team=big, time_zone="UTC")
    AssignmentRule.objects.create(
        name="Big", team=big, condition={"field": "company_size", "op": "gte", "value": 1000}
    )
    campaigns = [Campaign.objects.create(code=f"c{i}", name=f"C{i}", cost=100) for i in (1, 2)]
    return {"manager": manager, "marketer": marketer, "owner": rep_ann, "inside": inside,
            "big": big, "campaigns": campaigns}  # fmt: skip


step = st.tuples(st.integers(1, 200), st.integers(0, 7))  # hours later, which allowed move
lead_script = st.fixed_dictionaries(
    {
        "created": st.integers(0, 39 * 24),  # hours after BASE
        "source": st.sampled_from(SOURCES),
        "campaign": st.integers(0, 2),  # 0: none
        "big": st.booleans(),
        "hand_off": st.booleans(),
        "steps": st.lists(step, max_size=7),
        "rollup_after": st.booleans(),  # a rollup run once this lead's history is written
    }
)


def _build(scripts, w):
    """Write the scripts' histories through the services; rollup runs in between."""
    for script in scripts:
        t = BASE + timedelta(hours=script["created"])
        campaign = w["campaigns"][script["campaign"] - 1] if script["campaign"] else None
        lead = make_lead(owner=w["owner"], now=t, source=script["source"], campaign=campaign,
                         company_size=5000 if script["big"] else 10)  # fmt: skip
        for hours, pick in script["steps"]:
            t += timedelta(hours=hours)
            stage = Lead.objects.values_list("stage", flat=True).get(pk=lead.pk)
            options = sorted(MOVES.get(stage, ()))
            if not options:
                break
            to = options[pick % len(options)]
            move_stage(lead_id=lead.pk, to_stage=to, by=w["marketer"], reason="scripted", now=t)
            if to == "mql" and script["hand_off"]:
                routing.route(now=t, lead_ids=[lead.pk])
        if script["rollup_after"]:
            rollup.run(now=CURRENT_TIME)
    rollup.run(now=CURRENT_TIME)


# ---- the independent computation: plain Python over the ORM's rows ----------------


def _history():
    rows = defaultdict(list)
    for sc in StageChange.objects.order_by("changed_at", "id"):
        rows[sc.lead_id].append(sc)
    teams = {}
    for h in Handoff.objects.order_by("created_at", "id"):
        teams[h.lead_id] = h.team_id  # the latest wins
    leads = {lead.pk: lead for lead in Lead.objects.all()}
    return rows, teams, leads


def _index(stage):
    return FUNNEL.index(stage) if stage in FUNNEL else None


def _pct(values, q):
    """percentile_disc: the first value whose cumulative share reaches q."""
    if not values:
        return None
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def _bucketed(seconds):
    return None if seconds is None else buckets.value(buckets.bucket(seconds))


def _expected(f, history):
    rows, teams, leads = history
    low, high = f.bounds()

    def keep(lead_id):
        lead = leads[lead_id]
        team = teams.get(lead_id, 0)
        return (
            (not f.source or lead.source == f.source)
            and (f.campaign_id is None or (lead.campaign_id or 0) == f.campaign_id)
            and (f.team_ids() is None or team in f.team_ids())
        )

    def count(lo, hi):
        out = {s: defaultdict(int) for s in (*FUNNEL, *EXITS)}
        durations = defaultdict(list)
        created = 0
        for lead_id, history in rows.items():
            if not keep(lead_id):
                continue
            in_cohort = lo <= leads[lead_id].created_at < hi
            created += in_cohort
            seen = set()
            for i, sc in enumerate(history):
                nxt = history[i + 1] if i + 1 < len(history) else None
                me, later = _index(sc.to_stage), [_index(r.to_stage) for r in history[i + 1 :]]
                forward = nxt is not None and me is not None and (_index(nxt.to_stage) or -1) > me
                onward = me is not None and any(x is not None and x > me for x in later)
                first = sc.to_stage not in seen
                seen.add(sc.to_stage)
                backward = (
                    bool(sc.from_stage)
                    and me is not None
                    and (sc.from_stage in EXITS or me < _index(sc.from_stage))
                )
                c = out[sc.to_stage]
                if f.mode == "period":
                    if lo <= sc.changed_at < hi:
                        c["entered"] += 1
                        c["converted"] += forward
                        c["reentries"] += not first
                        c["backward"] += backward
                        c["waiting"] += nxt is None
                        if nxt is not None:
                            durations[sc.to_stage].append(
                                int((nxt.changed_at - sc.changed_at).total_seconds())
                            )
                elif in_cohort:
                    if first:
                        c["entered"] += 1
                        c["converted"] += onward
                    if nxt is not None:
                        durations[sc.to_stage].append(
                            int((nxt.changed_at - sc.changed_at).total_seconds())
                        )
        return out, durations, created

    now_counts, durations, created = count(low, high)
    before, _, created_before = count(*f.previous().bounds())
    return now_counts, durations, created, before, created_before


def _check(f, history, client=None):
    expected, durations, created, before, created_before = _expected(f, history)
    got = funnel(f)
    assert got.created == (created if f.mode == "cohort" else 0)
    for row in (*got.stages, *got.exits):
        want = expected[row.stage]
        assert row.entered == want["entered"], (row.stage, f)
        assert row.converted == want["converted"], (row.stage, f)
        if f.mode == "period":
            assert (row.reentries, row.backward, row.waiting) == (
                want["reentries"], want["backward"], want["waiting"]), (row.stage, f)  # fmt: skip
        assert row.previous_entered == before[row.stage]["entered"], (row.stage, f)
        # Median and p90 are read from duration buckets (dashboards.buckets): the value of
        # the bucket the exact percentile_disc falls in, within buckets.PRECISION (5 %).
        for got_seconds, q in ((row.median_seconds, 0.5), (row.p90_seconds, 0.9)):
            exact = _pct(durations[row.stage], q)
            assert got_seconds == _bucketed(exact), (row.stage, q, f)
            assert exact is None or abs(got_seconds - exact) <= buckets.PRECISION * exact
        assert row.timed == len(durations[row.stage])
    if client is not None:
        answer = client.get("/api/v1/funnel/", f.query()).json()
        assert [(s["stage"], s["entered"]) for s in answer["stages"]] == [
            (s, expected[s]["entered"]) for s in FUNNEL
        ]
        for s in answer["stages"][:-1]:
            want = expected[s["stage"]]
            ratio = want["converted"] / want["entered"] if want["entered"] else None
            assert s["conversion_to_next"] == (None if ratio is None else round(ratio, 4))
    return created_before


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    scripts=st.lists(lead_script, min_size=1, max_size=6),
    start=st.integers(0, 30),
    length=st.integers(1, 20),
    which=st.integers(0, 5),
)
def test_the_funnel_equals_a_recomputation_from_stage_history(
    world, api_as, scripts, start, length, which
):
    with _rolled_back():
        _build(scripts, world)
        history = _history()
        day = (BASE + timedelta(days=start)).date()
        params = {"from": day.isoformat(), "to": (day + timedelta(days=length)).isoformat()}
        choices = [
            {},
            {"source": SOURCES[which % 2]},
            {"campaign": "c1"},
            {"team": str(world["big"].pk)},
            {"source": "web_form", "campaign": "c2", "team": str(world["inside"].pk)},
            {},
        ]
        client = api_as(world["marketer"])
        for mode in ("cohort", "period"):
            query = {**params, **choices[which], "mode": mode}
            f = filtering.parse(query, user=world["marketer"], now=CURRENT_TIME)
            _check(f, history, client if which % 2 == 0 else None)
        # A manager sees their team (Inside Sales) only: the same as filtering by it.
        f = filtering.parse({**params, "mode": "period"}, user=world["manager"], now=CURRENT_TIME)
        assert f.team_ids() == [world["inside"].pk]
        _check(f, history)


def test_a_rebuild_from_nothing_gives_the_same_rollups_as_the_incremental_runs(world):
    from dashboards.models import (
        AgingLead,
        CohortDay,
        CohortEver,
        HandoffDay,
        HandoffFact,
        RollupState,
        StageDay,
        TimeDay,
        Visit,
    )

    scripts = [
        {"created": 24 * d, "source": SOURCES[d % 2], "campaign": d % 3, "big": d % 2 == 0,
         "hand_off": True, "steps": [(5, d), (30, d + 1), (2, 0), (50, d + 2)],
         "rollup_after": True}
        for d in range(12)
    ]  # fmt: skip
    _build(scripts, world)

    def snapshot():
        return (
            sorted(StageDay.objects.filter(entries__gt=0).values_list(
                "day", "stage", "source", "campaign_id", "team_id", "entries", "reentries",
                "backward", "forward", "waiting")),
            sorted(CohortDay.objects.exclude(leads=0, onward=0, amount=0).values_list(
                "day", "stage", "source", "campaign_id", "team_id", "leads", "onward", "amount")),
            sorted(Visit.objects.values_list()),
            sorted(TimeDay.objects.exclude(visits=0).values_list(
                "counted_by", "grain", "day", "stage", "source", "campaign_id", "team_id",
                "bucket", "visits")),
            sorted(CohortEver.objects.exclude(leads=0, amount=0).values_list(
                "stage", "source", "campaign_id", "leads", "amount")),
            sorted(HandoffDay.objects.exclude(handoffs=0).values_list(
                "grain", "day", "source", "campaign_id", "team_id", "rep_id", "handoffs",
                "accepted", "accepted_in_sla", "contacted", "contacted_in_sla", "breaches",
                "escalations")),
            sorted(HandoffFact.objects.values_list()),
            sorted(AgingLead.objects.values_list()),
        )  # fmt: skip

    incremental = snapshot()
    RollupState.objects.all().delete()
    rollup.run(now=CURRENT_TIME)
    assert snapshot() == incremental


def test_funnel_api_errors_and_roles(world, api_as, rep_ann):
    client = api_as(world["marketer"])
    bad = client.get("/api/v1/funnel/", {"from": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in str(bad.json())
    assert client.get("/api/v1/funnel/", {"mode": "both"}).status_code == 400
    assert client.get("/api/v1/funnel/", {"campaign": "nope"}).status_code == 400
    assert client.get("/api/v1/funnel/", {"from": "2026-05-01", "to": "2026-04-01"}
                      ).status_code == 400  # fmt: skip
    assert api_as(rep_ann).get("/api/v1/funnel/").status_code == 403
    other = api_as(world["manager"]).get("/api/v1/funnel/", {"team": world["big"].pk})
    assert other.status_code == 400 and "your teams" in str(other.json())
    ok = client.get("/api/v1/funnel/", {"mode": "period"})
    assert ok.status_code == 200
    body = ok.json()
    assert [s["stage"] for s in body["stages"]] == list(FUNNEL)
    assert {"stage", "entered", "conversion_to_next"} <= set(body["stages"][0])
