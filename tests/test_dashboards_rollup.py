"""The rollup job: exact, incremental, idempotent, and late or uncommitted rows counted
once (dashboards.services.rollup)."""

from datetime import timedelta

import pytest
from django.db import connection

from dashboards.models import CohortDay, RollupState, StageDay, Visit
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
