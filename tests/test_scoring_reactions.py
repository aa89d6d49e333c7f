"""Scoring follows captures and edits through the worker: `lead_changed` queues one
`score_changed` (not scored inline), the task scores every lead changed since it was
scored, and the tick does the same when a reaction was lost (level-triggered)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from leads import hooks
from leads.models import Lead
from leads.services import capture_lead, update_lead
from scoring import handlers, tasks
from scoring.rules import Sql, compile_definition
from scoring.services import passes, scores
from tests.conftest import CURRENT_TIME
from tests.scoring_helpers import SIMPLE, activate


@pytest.fixture
def queued(monkeypatch):
    """The score_changed runs queued (their apply_async keywords), none sent."""
    sent: list[dict] = []
    monkeypatch.setattr(tasks.score_changed, "apply_async", lambda **kw: sent.append(kw))
    handlers.clear_queued()
    yield sent
    handlers.clear_queued()


def _fit(lead_id):
    return Lead.objects.values_list("fit", "grade").get(pk=lead_id)


@pytest.mark.django_db
def test_a_capture_then_an_edit_are_scored_by_the_queued_task(
    marketer, queued, django_capture_on_commit_callbacks
):
    activate()
    with django_capture_on_commit_callbacks(execute=True):
        lead = capture_lead(
            data={"email": "vp@acme.io", "title": "VP Sales"}, channel="api", now=CURRENT_TIME
        ).lead
    assert queued == [{"countdown": handlers.CHANGED_EVERY_SECONDS}]
    assert _fit(lead.pk) == (0, "")  # not scored in the request
    tasks.score_changed()
    assert _fit(lead.pk) == (15, "C")

    # The task cleared its mark as it started: the next change queues the next run.
    with django_capture_on_commit_callbacks(execute=True):
        update_lead(lead_id=lead.pk, changes={"budget": 5000}, by=marketer, now=CURRENT_TIME)
    assert len(queued) == 2
    tasks.score_changed()
    assert _fit(lead.pk) == (35, "B")


@pytest.mark.django_db
def test_changes_while_a_run_is_queued_queue_nothing_more(
    queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            capture_lead(data={"email": f"l{n}@acme.io"}, channel="api", now=CURRENT_TIME)
    assert len(queued) == 1


@pytest.mark.django_db
def test_the_tick_scores_what_a_lost_reaction_left_unscored(marketer, queued):
    activate()
    with hooks.muted():  # as if the process died between commit and handler
        lead = capture_lead(
            data={"email": "vp@acme.io", "title": "VP Sales"}, channel="api", now=CURRENT_TIME
        ).lead
    assert queued == []
    passes.tick(CURRENT_TIME)
    assert _fit(lead.pk) == (15, "C")
    with hooks.muted():
        update_lead(lead_id=lead.pk, changes={"budget": 5000}, by=marketer, now=CURRENT_TIME)
    passes.tick(CURRENT_TIME)
    assert _fit(lead.pk) == (35, "B")


@pytest.mark.django_db
def test_scores_computed_before_a_change_do_not_mark_the_changed_lead_scored(marketer):
    """A pass whose UPDATE waited for an edit's commit writes scores read before it:
    PostgreSQL re-checks the UPDATE's condition on the edited row, and the scores' own
    `updated_at` no longer matches, so the lead stays changed for the next pass. Shown
    here without threads: the scores are read, the lead edited, then written."""
    activate()
    lead = capture_lead(data={"email": "vp@acme.io"}, channel="api", now=CURRENT_TIME).lead
    passes.score_changed(now=CURRENT_TIME)
    compiled = compile_definition(SIMPLE, now=CURRENT_TIME)
    where = Sql("l.id = %s", [lead.pk])
    read = scores.scores_sql(compiled, where=where, now=CURRENT_TIME)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE read_before AS {read.text}", read.params)
    update_lead(lead_id=lead.pk, changes={"title": "VP Sales"}, by=marketer, now=CURRENT_TIME)
    later = timezone.now() + timedelta(minutes=1)  # a scoring pass's clock, after the edit
    scores._write_scores(
        Sql("SELECT * FROM read_before", []), where=where, version=1, now=later, span=None
    )
    assert _fit(lead.pk) == (0, "D")
    passes.score_changed(now=later)
    assert _fit(lead.pk) == (15, "C")
