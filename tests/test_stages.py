"""Stage transitions: stored with from, to, when, who and why."""

from datetime import timedelta

import pytest

from leads.exceptions import InvalidTransition, LeadFlowError
from leads.services import move_stage
from tests.helpers import make_lead


@pytest.mark.django_db
def test_moving_a_stage_records_from_to_when_who_and_why(marketer, now):
    lead = make_lead(now=now)
    later = now + timedelta(hours=2)
    move_stage(lead_id=lead.pk, to_stage="disqualified", by=marketer, reason="Student", now=later)
    change = lead.stage_changes.order_by("changed_at").last()
    assert (change.from_stage, change.to_stage) == ("new", "disqualified")
    assert (change.changed_at, change.changed_by, change.reason) == (later, marketer, "Student")
    lead.refresh_from_db()
    assert lead.stage == "disqualified"


@pytest.mark.django_db
def test_moving_to_the_current_stage_is_refused_and_records_nothing(now):
    lead = make_lead(now=now)
    with pytest.raises(InvalidTransition):
        move_stage(lead_id=lead.pk, to_stage="new", now=now)
    with pytest.raises(LeadFlowError):
        move_stage(lead_id=lead.pk, to_stage="hot", now=now)
    assert lead.stage_changes.count() == 1
