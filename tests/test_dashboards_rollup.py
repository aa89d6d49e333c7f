"""The rollup job: exact, incremental, idempotent, and late or uncommitted rows counted
once (dashboards.services.rollup)."""

import math
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import connection

from dashboards import buckets
from dashboards.models import CohortDay, RollupState, StageDay, Visit
from dashboards.selectors.filters import Filters
from dashboards.services import rollup
from leads.services.stages import move_stage
from tests.helpers import make_lead

pytestmark = pytest.mark.django_db


# The rollups' day rows (each is summed again per month: grain "m").
def _entries(stage):
    return sum(StageDay.objects.filter(stage=stage, grain="d").values_list("entries", flat=True))


def _reached(stage):
    return sum(CohortDay.objects.filter(stage=stage, grain="d").values_list("leads", flat=True))


def test_first_run_builds_then_runs_add_only_what_changed(now, marketer):
    leads = [make_lead(now=now - timedelta(days=3)) for _ in range(3)]
    move_stage(lead_id=leads[0].pk, to_stage="nurturing", now=now - timedelta(days=2))
    first = rollup.run(now=now)
    assert first.full and first.leads == 3
    assert _entries("new") == 3 and _entries("nurturing") == 1
    assert _reached("created") == 3 and _reached("nurturing") == 1
    assert Visit.objects.filter(stage="new", left_at__isnull=True).count() == 2

    # Nothing new: a run recomputes nothing and changes nothing.
    again = rollup.run(now=now)
    assert not again.full and again.leads == 0
    assert _entries("new") == 3

    move_stage(lead_id=leads[0].pk, to_stage="mql", now=now - timedelta(hours=1))
    move_stage(lead_id=leads[0].pk, to_stage="nurturing", by=marketer, reason="not yet",
               now=now)  # fmt: skip
    third = rollup.run(now=now + timedelta(minutes=1))
    assert third.leads == 1
    assert _entries("nurturing") == 2 and _entries("mql") == 1
    assert sum(StageDay.objects.filter(grain="d").values_list("reentries", flat=True)) == 1
    assert sum(StageDay.objects.filter(grain="d").values_list("backward", flat=True)) == 1
    assert _reached("nurturing") == 1 and _reached("mql") == 1  # a cohort counts leads once
    assert RollupState.objects.get().as_of == now + timedelta(minutes=1)


def test_a_late_row_is_counted_on_its_own_day(now):
    lead = make_lead(now=now - timedelta(days=10))
    rollup.run(now=now)
    # Written now, dated a week ago (a backfilled move): counted on that day.
    move_stage(lead_id=lead.pk, to_stage="nurturing", now=now - timedelta(days=7))
    rollup.run(now=now)
    day = (now - timedelta(days=7)).date()
    assert StageDay.objects.get(stage="nurturing", grain="d").day == day


def test_ids_of_rows_not_yet_visible_are_looked_for_again(now):
    lead = make_lead(now=now - timedelta(days=1))
    rollup.run(now=now)
    # A row whose id was taken by a transaction still open when the run read.
    with connection.cursor() as c:
        c.execute("SELECT nextval(pg_get_serial_sequence('leads_stagechange', 'id'))")
        (held,) = c.fetchone()
    other = make_lead(now=now)
    rollup.run(now=now)
    state = RollupState.objects.get()
    assert [held, held] in [r[:2] for r in state.missing["leads_stagechange"]]
    # The open transaction commits its row with the held id.
    with connection.cursor() as c:
        c.execute(
            "INSERT INTO leads_stagechange (id, lead_id, from_stage, to_stage, changed_at, "
            "reason) VALUES (%s, %s, 'new', 'nurturing', %s, '')",
            [held, lead.pk, now],
        )
    result = rollup.run(now=now + timedelta(minutes=1))
    assert result.leads == 1
    assert _entries("nurturing") == 1
    still = RollupState.objects.get().missing["leads_stagechange"]
    assert not [r for r in still if r[0] <= held <= r[1]]
    assert other.pk


def test_missing_ids_are_given_up_after_a_while(now):
    make_lead(now=now)
    rollup.run(now=now)
    with connection.cursor() as c:
        c.execute("SELECT nextval(pg_get_serial_sequence('leads_stagechange', 'id'))")
    make_lead(now=now)
    rollup.run(now=now)
    assert RollupState.objects.get().missing["leads_stagechange"]
    rollup.run(now=now + rollup.MISSING_FOR)
    assert RollupState.objects.get().missing["leads_stagechange"] == []


def test_a_percentile_from_buckets_is_the_value_of_the_exact_ones_bucket_within_5_percent():
    durations = [0, 1, 7, 99, 100, 101, 86_400, 86_401, 90_000, 3_000_000, 10**8, 5, 5, 5]
    for q in (0.5, 0.9):
        exact = sorted(durations)[math.ceil(q * len(durations)) - 1]  # percentile_disc
        counts = Counter(buckets.bucket(d) for d in durations)
        got = buckets.percentile(counts.items(), q)
        assert got == buckets.value(buckets.bucket(exact))
    for edge in buckets.EDGES:
        for seconds in (edge - 1, edge):
            value = buckets.value(buckets.bucket(seconds))
            assert abs(value - seconds) <= buckets.PRECISION * seconds
    assert buckets.bucket(86_400) < buckets.bucket(86_401)  # "more than a day" is exact
    assert buckets.percentile([], 0.5) is None


def test_a_period_reads_whole_months_from_month_rows_and_the_rest_from_days():
    def covered(f):
        days = []
        for grain, first, last in f.spans():
            day = first
            while day <= last:
                step = 1
                if grain == "m":
                    step = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - day
                    step = step.days
                days += [day + timedelta(days=i) for i in range(step)]
                day += timedelta(days=step)
        return days

    start = date(2025, 1, 1)
    for offset, length in [(0, 30), (0, 729), (14, 30), (30, 1), (45, 400), (58, 2), (0, 58)]:
        f = Filters(start=start + timedelta(days=offset),
                    end=start + timedelta(days=offset + length))  # fmt: skip
        want = [f.start + timedelta(days=i) for i in range(f.days)]
        assert sorted(covered(f)) == want, f
        assert all(first.day == 1 for grain, first, _ in f.spans() if grain == "m")
    whole = Filters(start=date(2026, 11, 1), end=date(2026, 11, 30))
    assert whole.spans() == [("m", date(2026, 11, 1), date(2026, 11, 1))]
    assert whole.spans(months=False) == [("d", whole.start, whole.end)]


def test_an_email_the_cap_holds_back_after_the_rollup_counted_it_is_counted_next_run(
    settings, rep_ann
):
    """A deferral changes the outbox row and writes none a watermark sees: the next run
    finds it by state."""
    from leads.services import log_touch
    from nurturing.models import Send
    from nurturing.services import dispatch as dispatching
    from nurturing.services import enrolment, sending
    from tests import nurturing_helpers as nh

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NURTURE_CAP, settings.NURTURE_TOUCH_PAUSE_DAYS = 1, 0
    nh.track(("email", {"template": nh.template().pk}))
    lead = nh.lead()
    log_touch(lead_id=lead.pk, kind="call", body="Intro", by=rep_ann,
              now=nh.NOW - timedelta(days=1), occurred_at=nh.NOW - timedelta(days=1))  # fmt: skip
    enrolment.enrol_by_rules(now=nh.NOW)
    dispatching.dispatch(now=nh.NOW, on_queued=lambda ids: None)  # queued, not yet tried
    rollup.run(now=nh.NOW)
    assert _nurture("sends") == 1 and _nurture("capped") == 0

    sending.send_batch(send_ids=list(Send.objects.values_list("pk", flat=True)), now=nh.NOW)
    assert Send.objects.get().capped  # held back by the call of yesterday
    assert rollup.run(now=nh.NOW + timedelta(minutes=1)).leads == 1
    assert _nurture("capped") == 1
    assert rollup.run(now=nh.NOW + timedelta(minutes=2)).leads == 0  # once


def _nurture(count):
    from dashboards.models import NurtureDay

    return sum(NurtureDay.objects.filter(grain="d").values_list(count, flat=True))
