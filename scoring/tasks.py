"""Celery tasks of scoring: thin, take ids, call a service."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from scoring import services


@shared_task(name="scoring.tasks.rescore", acks_late=True, reject_on_worker_lost=True)
def rescore(run_id: int) -> dict:
    """Rescore every lead for RescoreRun `run_id` (a model change, the hourly decay, or a
    run resumed after its worker was lost). A second delivery finds the run no longer
    pending and does nothing; each batch is its own transaction."""
    run = services.run_rescore(run_id=run_id, now=timezone.now())
    if run is None:
        return {"id": run_id, "skipped": True}
    return {"id": run.pk, "status": run.status, "leads": run.leads_done}


@shared_task(name="scoring.tasks.score_changed")
def score_changed() -> dict:
    """Score the leads an import (or its undo) changed, and any other lead changed since
    it was scored. Running twice scores nothing the second time. It first clears the
    mark of a queued run (`handlers.lead_changed`): a change after this queues another."""
    from scoring.handlers import clear_queued
    from scoring.services import predictive

    clear_queued()
    now = timezone.now()
    counts = services.score_changed(now=now)
    predicted = predictive.score_pending(now=now)  # the leads changed, by the model
    if counts is None:
        return {"skipped": "no active scoring model", "predicted": predicted}
    return {"scored": counts.scored, "mql": counts.became_mql, "predicted": predicted}


@shared_task(name="scoring.tasks.events_recorded")
def events_recorded(lead_ids: list[int], at: str) -> dict:
    """Rank a burst of new events and rescore their leads, as of `at` (ISO 8601, the
    instant they were recorded). Safe twice: ranking and scoring are recomputed."""
    services.events_moved(lead_ids=lead_ids, now=datetime.fromisoformat(at))
    return {"leads": len(lead_ids)}


@shared_task(name="scoring.tasks.train_predictive", acks_late=True)
def train_predictive(run_id: int) -> dict:
    """Train the predictive model for TrainingRun `run_id` (and score every open lead if
    it is activated). A second delivery finds the run no longer pending: nothing."""
    from scoring.services import predictive

    run = predictive.run_training(run_id=run_id, now=timezone.now())
    if run is None:
        return {"id": run_id, "skipped": True}
    return {"id": run.pk, "status": run.status, "model": run.model_id}
