"""The reaction seam: announcements with ids and `now`, handlers that fail loudly but
never undo a change, the one way onto the timeline, and grants of visibility."""

import logging
from datetime import timedelta

import pytest
from django.db.models import Q

from leads import hooks
from leads.models import Activity, Lead
from leads.selectors import leads_visible_to, register_grant, visibility
from leads.services import (
    log_touch,
    move_stage,
    record_activity,
    record_consent,
    record_event,
    update_lead,
)
from leads.services.timeline import refresh_activity_dates, register_kind
from tests.helpers import make_lead


@pytest.fixture
def heard():
    """Every announcement made while the test runs, as (name, payload)."""
    calls = []
    registered = []
    for name in hooks.ANNOUNCEMENTS:

        def handler(_name=name, **payload):
            calls.append((_name, payload))

        hooks.register(name, handler)
        registered.append((name, handler))
    yield calls
    for name, handler in registered:
        hooks._handlers[name].remove(handler)


@pytest.mark.django_db
def test_announcements_carry_the_lead_ids_and_the_instant_of_the_change(
    heard, marketer, now, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        lead = make_lead(now=now)
    later = now + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        move_stage(lead_id=lead.pk, to_stage="nurturing", by=marketer, now=later)
        record_consent(lead_id=lead.pk, status="granted", method="test", now=later)
        update_lead(lead_id=lead.pk, changes={"title": "CTO"}, by=marketer, now=later)
    assert ("lead_changed", {"lead_ids": [lead.pk], "now": now}) in heard
    assert (
        "stage_changed",
        {"lead_ids": [lead.pk], "from_stage": "new", "to_stage": "nurturing", "now": later},
    ) in heard
    assert ("consent_changed", {"lead_ids": [lead.pk], "status": "granted", "now": later}) in heard
    assert ("lead_changed", {"lead_ids": [lead.pk], "now": later}) in heard


@pytest.mark.django_db
def test_nothing_is_announced_for_a_change_that_rolled_back(heard, marketer, now):
    lead = make_lead(now=now)
    with pytest.raises(Exception, match="no such"):
        from django.db import transaction

        with transaction.atomic():
            move_stage(lead_id=lead.pk, to_stage="nurturing", by=marketer, now=now)
            raise RuntimeError("no such luck")
    assert Lead.objects.get(pk=lead.pk).stage == "new"
    assert not [name for name, _ in heard if name == "stage_changed"]


@pytest.mark.django_db
def test_a_failing_handler_lets_the_change_commit_logs_the_lead_ids_and_others_still_run(
    heard, marketer, now, caplog, django_capture_on_commit_callbacks
):
    lead = make_lead(now=now)

    def broken(**payload):
        raise RuntimeError("handler bug")

    hooks._handlers["stage_changed"].insert(0, broken)
    try:
        with (
            caplog.at_level(logging.ERROR, logger="leads.hooks"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            move_stage(lead_id=lead.pk, to_stage="nurturing", by=marketer, now=now)
    finally:
        hooks._handlers["stage_changed"].remove(broken)
    assert Lead.objects.get(pk=lead.pk).stage == "nurturing"
    [record] = [r for r in caplog.records if "handler bug" in str(r.exc_info[1])]
    assert f"lead ids [{lead.pk}]" in record.getMessage()
    assert "stage_changed" in record.getMessage()
    assert [name for name, _ in heard if name == "stage_changed"] == ["stage_changed"]


def test_an_unknown_announcement_is_a_programming_error():
    with pytest.raises(ValueError, match="not an announcement"):
        hooks.register("lead_chnaged", lambda **_: None)


@pytest.mark.django_db
def test_a_batch_of_events_is_one_insert_and_one_announcement(
    api_as, marketer, now, heard, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    leads = [make_lead(now=now) for _ in range(20)]
    body = [
        {"lead": lead.pk, "type": "email_open", "occurred_at": now.isoformat(), "key": f"o-{i}"}
        for i, lead in enumerate(leads * 5)
    ]
    body.append(dict(body[0]))  # the same key twice in one batch
    client = api_as(marketer)
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        django_assert_max_num_queries(20),
    ):
        response = client.post("/api/v1/events/", body, format="json")
    assert response.status_code == 201
    assert response.json() == {"recorded": 100, "duplicates": 1}
    for callback in callbacks:
        callback()
    recorded = [p for name, p in heard if name == "events_recorded"]
    assert len(recorded) == 1
    assert recorded[0]["lead_ids"] == sorted(lead.pk for lead in leads)
    assert len(recorded[0]["activity_ids"]) == 100
    again = client.post("/api/v1/events/", body[:10], format="json")
    assert again.json() == {"recorded": 0, "duplicates": 10}
    assert Activity.objects.filter(kind="email_open").count() == 100


@pytest.mark.django_db
def test_record_activity_is_idempotent_per_key_and_registers_other_apps_kinds(now):
    register_kind("test_sla_breach", "SLA breached")
    lead = make_lead(now=now)
    first = record_activity(lead_id=lead.pk, kind="test_sla_breach", occurred_at=now,
                            key="sla-1", data={"rep": "ann"}, now=now)  # fmt: skip
    again = record_activity(lead_id=lead.pk, kind="test_sla_breach", occurred_at=now,
                            key="sla-1", now=now)  # fmt: skip
    assert first.created and not again.created and again.activity.pk == first.activity.pk
    assert first.activity.label == "SLA breached"
    with pytest.raises(Exception, match="not a timeline entry kind"):
        record_activity(lead_id=lead.pk, kind="made_up", occurred_at=now, now=now)


@pytest.mark.django_db
def test_last_activity_and_last_sales_touch_follow_one_rule(rep_ann, now):
    lead = make_lead(now=now - timedelta(days=30))
    record_event(lead_id=lead.pk, type="page_view", occurred_at=now - timedelta(days=2), now=now)
    log_touch(
        lead_id=lead.pk, kind="note", body="Thinking", by=rep_ann, now=now - timedelta(days=1)
    )
    lead.refresh_from_db()
    assert lead.last_activity_at == now - timedelta(days=1)
    assert lead.last_sales_touch_at is None  # a note is not a sales touch
    log_touch(lead_id=lead.pk, kind="call", body="Voicemail", by=rep_ann, now=now)
    record_event(lead_id=lead.pk, type="page_view", occurred_at=now - timedelta(days=5), now=now)
    register_kind("test_assigned_note", "Note from handoff")
    soon = now + timedelta(minutes=1)
    record_activity(lead_id=lead.pk, kind="test_assigned_note", occurred_at=soon, now=soon)
    lead.refresh_from_db()
    assert (lead.last_activity_at, lead.last_sales_touch_at) == (now, now)  # an older event,
    # and a system record, move nothing
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=None, last_sales_touch_at=None)
    refresh_activity_dates(lead_ids=[lead.pk])
    lead.refresh_from_db()
    assert (lead.last_activity_at, lead.last_sales_touch_at) == (now, now)


@pytest.mark.django_db
def test_an_implausible_event_date_is_refused(now):
    lead = make_lead(now=now)
    from datetime import UTC, datetime

    from leads.exceptions import LeadFlowError

    with pytest.raises(LeadFlowError, match="not a plausible date"):
        record_event(lead_id=lead.pk, type="page_view",
                     occurred_at=datetime(1, 1, 1, tzinfo=UTC), now=now)  # fmt: skip


@pytest.mark.django_db
def test_apps_can_grant_reps_more_leads_to_see(rep_ann, rep_bob, now):
    handed = make_lead(owner=rep_bob, now=now)
    assert not leads_visible_to(rep_ann).filter(pk=handed.pk).exists()

    def queue(user):
        return Q(pk=handed.pk) if user.username == "rep_ann" else None

    register_grant(queue)
    try:
        assert leads_visible_to(rep_ann).filter(pk=handed.pk).exists()
        assert leads_visible_to(rep_bob).filter(pk=handed.pk).exists()  # his own anyway
    finally:
        visibility._grants.remove(queue)


@pytest.mark.django_db
def test_a_merge_and_its_undo_keep_both_leads_activity_dates_true(marketer, rep_ann, now):
    from leads.services.merges import merge_leads, unmerge

    old = make_lead(now=now - timedelta(days=400))  # inactive for a long time
    fresh = make_lead(now=now - timedelta(days=3))
    log_touch(
        lead_id=fresh.pk, kind="call", body="Interested", by=rep_ann, now=now - timedelta(days=1)
    )
    done = merge_leads(survivor_id=old.pk, other_id=fresh.pk, take=[], by=marketer, now=now)
    old.refresh_from_db()
    # The survivor holds the other lead's call now: not inactive, and its last sales touch.
    assert old.last_activity_at == now - timedelta(days=1)
    assert old.last_sales_touch_at == now - timedelta(days=1)
    unmerge(merge_id=done.pk, by=marketer, now=now)
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.last_activity_at == now - timedelta(days=400) and old.last_sales_touch_at is None
    assert fresh.last_sales_touch_at == now - timedelta(days=1)
