"""Scoring: fit and grade from rules, capped and decaying engagement, the MQL rule and
disqualification moving stages exactly once, rescoring equal to the incremental path."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Activity, Lead, StageChange
from leads.services import move_stage, record_event
from leads.services.merges import merge_leads, unmerge
from scoring import selectors, services
from scoring.models import RescoreRun, ScoredEvent, ScorePoint
from scoring.selectors import explain
from scoring.services import events as ranked_events
from scoring.services import passes
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead, race
from tests.scoring_helpers import SIMPLE, activate

T0 = CURRENT_TIME


def _event(lead, kind, at, key=None):
    result = record_event(lead_id=lead.pk, type=kind, occurred_at=at, key=key, now=at)
    services.record_event_points(lead_id=lead.pk, activity_id=result.activity.pk, now=at)
    return result


def _lead_row(lead):
    return Lead.objects.values("fit", "engagement", "score", "grade", "stage").get(pk=lead.pk)


@pytest.mark.django_db
def test_fit_rules_and_grade_bands(now):
    activate()
    vp = make_lead(title="VP Sales", company_size=500, budget=Decimal("10000"))
    student = make_lead(email="kid@gmail.com", title="Student")
    services.score_lead(lead_id=vp.pk, now=now)
    services.score_lead(lead_id=student.pk, now=now)
    assert _lead_row(vp)["fit"] == 45 and _lead_row(vp)["grade"] == "A"
    assert _lead_row(student)["fit"] == -10 and _lead_row(student)["grade"] == "D"


@pytest.mark.django_db
def test_one_grade_band_with_no_minimum_grades_everyone(now):
    """Found by tests/test_scoring_fuzz.py: the band compiled to `CASE ELSE 'A' END`, a
    syntax error that stopped scoring for every lead."""
    activate({**SIMPLE, "grades": [{"grade": "A", "min_fit": None}]})
    lead = make_lead(title="Student")
    services.score_lead(lead_id=lead.pk, now=now)
    assert _lead_row(lead)["grade"] == "A"


@pytest.mark.django_db
def test_a_cap_counts_per_event_type_per_30_day_bucket():
    activate()
    lead = make_lead(now=T0 - timedelta(days=1))
    for minute in range(4):  # 10 points each, capped at 30 in one bucket
        _event(lead, "pricing_page_view", T0 + timedelta(minutes=minute))
    assert _lead_row(lead)["engagement"] == pytest.approx(30, abs=0.1)
    bucket_end = (int(T0.timestamp()) // 86400 // 30 + 1) * 30 * 86400
    later = T0.fromtimestamp(bucket_end, tz=T0.tzinfo) + timedelta(minutes=1)  # next bucket
    _event(lead, "pricing_page_view", later)
    row = _lead_row(lead)
    elapsed = (later - T0).total_seconds() / 86400
    assert row["engagement"] == pytest.approx(30 * 0.5 ** (elapsed / 30) + 10, abs=0.1)


@pytest.mark.django_db
def test_engagement_halves_every_half_life():
    activate()
    lead = make_lead(now=T0 - timedelta(days=1))
    _event(lead, "demo_request", T0)
    services.score_lead(lead_id=lead.pk, now=T0 + timedelta(days=30))
    assert _lead_row(lead)["engagement"] == pytest.approx(20, abs=0.01)
    services.score_lead(lead_id=lead.pk, now=T0 + timedelta(days=60))
    assert _lead_row(lead)["engagement"] == pytest.approx(10, abs=0.01)


@pytest.mark.django_db
def test_an_event_from_year_one_counts_nothing_and_stops_no_scoring():
    """Before the decay was clamped, power(0.5, age / half-life) underflowed to an error
    for such an event: the scoring statement (and the explanation) failed for every lead
    it covered, so one old date stopped a whole rescoring."""
    activate()
    old = make_lead(title="VP Sales", now=T0 - timedelta(days=1))
    other = make_lead(now=T0 - timedelta(days=1))
    # record_event refuses such a date now; one already stored (older data, a direct
    # insert) must still not stop scoring.
    ancient = Activity.objects.create(lead=old, kind="demo_request",
                                      occurred_at=datetime(1, 1, 1, tzinfo=UTC))  # fmt: skip
    services.record_event_points(lead_id=old.pk, activity_id=ancient.pk, now=T0)
    _event(old, "pricing_page_view", T0)
    _event(other, "demo_request", T0)
    counts = services.rescore_all(now=T0 + timedelta(minutes=1))
    assert counts.scored == 2
    assert _lead_row(old)["engagement"] == pytest.approx(10, abs=0.01)
    assert _lead_row(other)["engagement"] == pytest.approx(40, abs=0.01)
    explanation = explain(Lead.objects.get(pk=old.pk), now=T0 + timedelta(minutes=1))
    events = {c["rule"]: c for c in explanation["contributions"] if "events" in c}
    assert events["Demo request × 1"]["points"] == 0
    assert events["Demo request × 1"]["events"]["points_before_decay"] == 40
    assert explanation["engagement"] == pytest.approx(10, abs=0.01)


@pytest.mark.django_db
def test_the_shortest_half_life_decays_a_years_old_event_to_nothing():
    """A half-life of one day (the least a definition may give) makes a three-year-old
    event 1,100 half-lives old: past where power() underflows to an error, so only the
    decay's horizon keeps it (and every lead scored beside it) from stopping scoring."""
    short = copy.deepcopy(SIMPLE)
    short["half_life_days"] = 1
    activate(short)
    lead = make_lead(now=T0 - timedelta(days=1200))
    _event(lead, "demo_request", T0 - timedelta(days=1100))
    _event(lead, "pricing_page_view", T0)
    assert _lead_row(lead)["engagement"] == pytest.approx(10, abs=0.01)
    assert (
        explain(Lead.objects.get(pk=lead.pk), now=T0)["engagement"] == _lead_row(lead)["engagement"]
    )


@pytest.mark.django_db
def test_an_event_ahead_of_now_counts_as_if_at_most_five_minutes_ahead():
    """Scoring as of an earlier instant (`tick --at` in the past) or an imported date far
    ahead: such an event once doubled every half-life ahead of `now` (or overflowed to an
    error); it counts as if no more than record_event's 5 minutes of tolerance ahead."""
    activate()
    lead = make_lead(now=T0 - timedelta(days=400))
    record_event(lead_id=lead.pk, type="demo_request", occurred_at=T0, now=T0)
    Activity.objects.create(  # old data no service would accept now
        lead=lead, kind="pricing_page_view", occurred_at=datetime(9999, 12, 31, tzinfo=UTC)
    )
    services.rank_events(lead_ids=[lead.pk])
    earlier = T0 - timedelta(days=300)
    services.score_lead(lead_id=lead.pk, now=earlier)
    five_minutes_ahead = 0.5 ** (-300 / (30 * 86400))
    assert _lead_row(lead)["engagement"] == pytest.approx(50 * five_minutes_ahead, abs=0.01)
    explanation = explain(Lead.objects.get(pk=lead.pk), now=earlier)
    assert explanation["engagement"] == _lead_row(lead)["engagement"]


@pytest.mark.django_db
def test_the_same_event_key_twice_records_one_event():
    activate()
    lead = make_lead(now=T0 - timedelta(days=1))
    assert _event(lead, "demo_request", T0, key="crm-42").created
    assert not _event(lead, "demo_request", T0, key="crm-42").created
    assert _lead_row(lead)["engagement"] == pytest.approx(40, abs=0.1)


@pytest.mark.django_db
def test_crossing_the_mql_rule_moves_to_mql_and_falling_below_moves_back(now):
    activate()
    lead = make_lead(
        title="VP Sales", budget=Decimal(1), need="Routing", now=T0 - timedelta(days=1)
    )
    _event(lead, "demo_request", T0)
    assert _lead_row(lead)["stage"] == "new"  # 40 < 50
    _event(lead, "pricing_page_view", T0 + timedelta(minutes=5))
    assert _lead_row(lead)["stage"] == "mql"
    move = StageChange.objects.get(lead=lead, to_stage="mql")
    assert move.reason == "Met the MQL rule (model v1)" and move.changed_by is None
    services.score_lead(lead_id=lead.pk, now=T0 + timedelta(days=20))  # decayed below 50
    assert _lead_row(lead)["stage"] == "nurturing"
    assert StageChange.objects.filter(lead=lead, to_stage="nurturing").count() == 1


@pytest.mark.django_db
def test_disqualification_rules_name_the_rule_and_respect_a_human_reversal(marketer, now):
    activate()
    student = make_lead(title="Student", now=T0 - timedelta(days=1))
    services.score_lead(lead_id=student.pk, now=T0)
    assert _lead_row(student)["stage"] == "disqualified"
    reason = StageChange.objects.get(lead=student, to_stage="disqualified").reason
    assert reason == "Disqualification rule “Students” (model v1)"
    move_stage(
        lead_id=student.pk, to_stage="nurturing", by=marketer, reason="Mature student", now=T0
    )
    services.score_lead(lead_id=student.pk, now=T0 + timedelta(hours=1))
    assert _lead_row(student)["stage"] == "nurturing"


@pytest.mark.django_db
def test_the_explanation_lists_each_rule_and_the_events_and_the_gap_to_mql(now):
    activate()
    lead = make_lead(title="VP Sales", company_size=500, now=T0 - timedelta(days=1))
    _event(lead, "pricing_page_view", T0)
    _event(lead, "pricing_page_view", T0 + timedelta(minutes=1))
    explanation = explain(Lead.objects.get(pk=lead.pk), now=T0 + timedelta(minutes=2))
    rules = {c["rule"]: c["points"] for c in explanation["contributions"]}
    assert rules["VP title"] == 15 and rules["Mid-size"] == 10
    assert rules["Pricing page view × 2"] == pytest.approx(20, abs=0.1)
    assert explanation["fit"] == 25 and explanation["grade"] == "B"
    assert explanation["mql"]["missing"] == [
        "needs 30 more engagement points",
        "needs its BANT need known",
    ]
    fit_sum = sum(c["points"] for c in explanation["contributions"] if c["applies_to"] == "fit")
    assert fit_sum == explanation["fit"]


@pytest.mark.django_db
def test_meaningful_score_changes_are_kept_in_the_history():
    activate()
    lead = make_lead(now=T0 - timedelta(days=1))
    _event(lead, "page_view", T0)  # +1: not meaningful, but the grade is set the first time
    _event(lead, "demo_request", T0 + timedelta(minutes=1))  # +40
    points = list(ScorePoint.objects.filter(lead_id=lead.pk).values_list("score", "grade"))
    assert points == [(1, "D"), (41, "D")]


# --- Incremental equals from scratch ---------------------------------------------------------

events = st.lists(
    st.tuples(
        st.sampled_from(["pricing_page_view", "demo_request", "page_view", "webinar_attended"]),
        st.integers(min_value=0, max_value=90 * 24),  # hours after T0
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events, st.randoms(use_true_random=False))
def test_incremental_engagement_equals_a_full_recomputation(stream, rnd):
    Lead.objects.all().delete()
    if not services.active_model():
        activate(version=1)
    lead = make_lead(now=T0 - timedelta(days=1))
    end = T0 + timedelta(days=91)
    arrival = list(stream)
    rnd.shuffle(arrival)  # events arrive in any order
    for kind, hours in arrival:
        result = record_event(lead_id=lead.pk, type=kind, occurred_at=T0 + timedelta(hours=hours),
                              now=end)  # fmt: skip
        services.record_event_points(lead_id=lead.pk, activity_id=result.activity.pk, now=end)
    incremental = _lead_row(lead)
    ranked = ScoredEvent.objects.filter(lead_id=lead.pk).order_by("activity_id")
    ranks = list(ranked.values_list("activity_id", "bucket", "rank"))
    services.rank_events()  # from scratch: every event ranked again, then every lead scored
    assert list(ranked.values_list("activity_id", "bucket", "rank")) == ranks
    services.rescore_all(now=end)
    assert _lead_row(lead)["engagement"] == pytest.approx(incremental["engagement"], abs=0.011)
    assert _lead_row(lead)["score"] == incremental["score"]


@pytest.mark.django_db
def test_a_rescore_run_reports_progress_and_equals_scoring_one_by_one(now):
    model = activate()
    leads = [make_lead(title=t, company_size=s, now=T0 - timedelta(days=2))
             for t, s in [("VP", 500), ("CTO", 50), ("Student", None)]]  # fmt: skip
    for lead in leads:
        _event(lead, "pricing_page_view", T0)
    one_by_one = {lead.pk: _lead_row(lead) for lead in leads}
    run = RescoreRun.objects.create(model=model)
    done = services.run_rescore(run_id=run.pk, now=T0)
    assert (done.status, done.leads_total, done.leads_done) == ("done", 3, 3)
    assert {lead.pk: _lead_row(lead) for lead in leads} == one_by_one
    assert services.run_rescore(run_id=run.pk, now=T0) is None  # a second delivery: nothing


@pytest.mark.django_db
def test_the_tick_awards_events_a_crash_left_unawarded(now):
    activate()
    lead = make_lead(now=T0 - timedelta(days=1))
    record_event(lead_id=lead.pk, type="demo_request", occurred_at=T0, now=T0)  # no handler ran
    assert _lead_row(lead)["engagement"] == 0
    result = services.tick(T0)
    assert result["rescored"] >= 1
    assert _lead_row(lead)["engagement"] == pytest.approx(40, abs=0.1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_move_a_lead_to_mql_exactly_once():
    """Four events race through the real path: record_event commits and the scoring
    hook runs on commit, as in production (so with the real clock)."""
    activate()
    start = timezone.now() - timedelta(minutes=10)
    lead = make_lead(title="VP Sales", budget=Decimal(1), need="Routing", now=start)
    record_event(lead_id=lead.pk, type="demo_request", occurred_at=start, now=timezone.now())
    assert _lead_row(lead)["stage"] == "new"  # 40 points: not yet

    def push(i):
        at = start + timedelta(minutes=i + 1)
        record_event(lead_id=lead.pk, type="pricing_page_view", occurred_at=at, now=at)

    race(push)  # raises what any thread raised
    assert _lead_row(lead)["stage"] == "mql"
    assert _lead_row(lead)["engagement"] == pytest.approx(70, abs=0.1)  # 40 + capped 30
    assert StageChange.objects.filter(lead=lead, to_stage="mql").count() == 1
    assert not StageChange.objects.filter(lead=lead, from_stage="mql").exists()


@pytest.mark.django_db
def test_scoring_one_lead_leaves_the_others_alone():
    activate()
    scored = make_lead(title="VP Sales", now=T0 - timedelta(days=1))
    other = make_lead(title="VP Marketing", now=T0 - timedelta(days=1))
    services.score_lead(lead_id=scored.pk, now=T0)
    assert _lead_row(scored)["fit"] == 15
    assert _lead_row(other)["fit"] == 0 and _lead_row(other)["grade"] == ""


@pytest.mark.django_db(transaction=True)
def test_rescoring_side_by_side_equals_one_batch_at_a_time(settings, monkeypatch):
    """Batches on two connections (committed data, as in the worker) give the same
    scores, stage moves and progress as one batch after another."""
    monkeypatch.setattr(passes, "BATCH", 2)  # five leads: three batches
    model = activate()
    leads = [
        make_lead(title=title, company_size=size, budget=Decimal(1), need="CRM", now=T0)
        for title, size in [("VP", 500), ("VP", 500), ("CTO", 50), ("VP", 500), ("CTO", 50)]
    ]
    for lead in leads:
        for minute, kind in enumerate(["demo_request", *["pricing_page_view"] * 4]):
            record_event(lead_id=lead.pk, type=kind, now=T0,
                         occurred_at=T0 - timedelta(minutes=minute))  # fmt: skip
    results = {}
    for connections in (1, 2):
        settings.RESCORE_CONNECTIONS = connections
        Lead.objects.update(stage="new", fit=0, engagement=0, score=0, grade="", scored_at=None)
        StageChange.objects.all().delete()
        run = RescoreRun.objects.create(model=model)
        done = services.run_rescore(run_id=run.pk, now=T0 + timedelta(hours=1))
        assert (done.status, done.leads_total, done.leads_done) == ("done", 5, 5)
        assert done.became_mql == 3  # the VPs: fit 45 (A), 40 + capped 30 engagement
        results[connections] = (
            {lead.pk: _lead_row(lead) for lead in leads},
            sorted(StageChange.objects.values_list("lead_id", "to_stage")),
        )
    assert results[1] == results[2]


@pytest.mark.django_db
def test_a_rescoring_rewrites_only_leads_whose_scores_changed():
    activate()
    same = make_lead(title="VP", now=T0 - timedelta(days=1))
    edited = make_lead(title="CTO", now=T0 - timedelta(days=1))
    Lead.objects.update(updated_at=T0 - timedelta(days=1))
    services.rescore_all(now=T0)
    scored_at = dict(Lead.objects.values_list("pk", "scored_at"))
    Lead.objects.filter(pk=edited.pk).update(updated_at=T0 + timedelta(minutes=1))
    services.rescore_all(now=T0 + timedelta(minutes=2))
    after = dict(Lead.objects.values_list("pk", "scored_at"))
    assert after[same.pk] == scored_at[same.pk]  # nothing changed: row not rewritten
    assert after[edited.pk] == T0 + timedelta(minutes=2)  # edited since: looked at again


@pytest.mark.django_db
def test_a_model_change_reprices_events_without_reranking_them():
    model = activate()
    lead = make_lead(now=T0 - timedelta(days=1))
    for minute in range(4):
        _event(lead, "pricing_page_view", T0 + timedelta(minutes=minute))
    assert _lead_row(lead)["engagement"] == pytest.approx(30, abs=0.1)  # 10 each, cap 30
    ranks = sorted(ScoredEvent.objects.filter(lead_id=lead.pk).values_list("rank", flat=True))
    assert ranks == [1, 2, 3, 4]
    cheaper = copy.deepcopy(model.definition)
    cheaper["engagement"][0].update(points=4, cap=10)  # 4, 4, 2, 0
    activate(cheaper)
    services.rescore_all(now=T0 + timedelta(minutes=4))
    assert _lead_row(lead)["engagement"] == pytest.approx(10, abs=0.1)
    assert sorted(ScoredEvent.objects.values_list("rank", flat=True)) == ranks


@pytest.mark.django_db
def test_merging_moves_the_events_points_with_them_and_unmerging_moves_them_back(
    marketer, django_capture_on_commit_callbacks
):
    """The rescoring after a merge runs on commit, with the real clock: so do the events."""
    activate()
    at = timezone.now()
    keep = make_lead(email="keep@acme.test", now=at - timedelta(days=1))
    other = make_lead(email="other@acme.test", now=at - timedelta(days=1))
    _event(keep, "pricing_page_view", at)
    _event(other, "demo_request", at)
    with django_capture_on_commit_callbacks(execute=True):
        merge = merge_leads(survivor_id=keep.pk, other_id=other.pk, take=[], by=marketer, now=at)
    assert _lead_row(keep)["engagement"] == pytest.approx(50, abs=0.1)
    with django_capture_on_commit_callbacks(execute=True):
        unmerge(merge_id=merge.pk, by=marketer, now=at)
    assert _lead_row(keep)["engagement"] == pytest.approx(10, abs=0.1)
    assert _lead_row(other)["engagement"] == pytest.approx(40, abs=0.1)


@pytest.mark.django_db
def test_the_tick_reranks_events_ranked_under_another_lead_or_deleted(now):
    activate()
    first = make_lead(now=T0 - timedelta(days=1))
    second = make_lead(now=T0 - timedelta(days=1))
    moved = _event(first, "demo_request", T0).activity
    gone = _event(second, "pricing_page_view", T0).activity
    Activity.objects.filter(pk=moved.pk).update(lead=second)  # behind scoring's back
    Activity.objects.filter(pk=gone.pk).delete()
    result = services.tick(T0 + timedelta(minutes=1))
    assert result["reranked"] == 2
    assert _lead_row(first)["engagement"] == 0
    assert _lead_row(second)["engagement"] == pytest.approx(40, abs=0.1)
    assert not ScoredEvent.objects.filter(activity_id=gone.pk).exists()


@pytest.mark.django_db
def test_the_tick_applies_the_stage_rules_to_the_leads_it_scores():
    """With the real clock's order of things: edited, then scored by a later tick."""
    activate()
    student = make_lead(title="Student")  # updated now, never scored
    later = timezone.now() + timedelta(minutes=1)
    result = services.tick(later)
    assert result["disqualified"] == 1
    assert _lead_row(student)["stage"] == "disqualified"


@pytest.mark.django_db
def test_between_hourly_passes_the_tick_sweeps_only_the_newest_events(monkeypatch):
    activate()
    older, newer = make_lead(now=T0), make_lead(now=T0)
    monkeypatch.setattr(ranked_events, "RECENT_ACTIVITIES", 1)
    for lead in (older, newer):  # recorded, but their reactions were lost
        record_event(lead_id=lead.pk, type="demo_request", occurred_at=T0, now=T0)
    assert services.tick(T0 + timedelta(minutes=1))["reranked"] == 1
    assert _lead_row(newer)["engagement"] > 0 and _lead_row(older)["engagement"] == 0
    decayed = passes.decay(T0 + timedelta(minutes=2), inline=True)  # hourly: all events
    assert decayed["decayed"] == 2
    assert _lead_row(older)["engagement"] > 0


@pytest.mark.django_db(transaction=True)
def test_the_what_if_over_spans_side_by_side_equals_one_pass(settings, monkeypatch):
    """Counts add up and the examples stay the first leads by id across spans."""
    activate()
    for i in range(12):
        make_lead(title="Student" if i % 2 else "VP", email=f"p{i}@acme.io", now=T0)
    draft = copy.deepcopy(SIMPLE)
    draft["disqualify"][0]["value"] = "vp"
    outcomes = []
    for connections, batch in [(1, 100), (2, 2)]:  # one span; four spans on two connections
        settings.RESCORE_CONNECTIONS = connections
        monkeypatch.setattr(passes, "BATCH", batch)
        outcomes.append(selectors.what_if(draft, now=T0))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0]["disqualified"]["count"] == 6
    assert [e["email"] for e in outcomes[0]["disqualified"]["examples"]] == [
        "p0@acme.io", "p2@acme.io", "p4@acme.io", "p6@acme.io", "p8@acme.io"
    ]  # fmt: skip
