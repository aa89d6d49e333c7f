"""Celery tasks of the leads app: thin, take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from leads.services import imports


@shared_task(name="leads.tasks.import_leads", acks_late=True, reject_on_worker_lost=True)
def import_leads(job_id: int) -> dict:
    """Run import job `job_id` (all rows or none). Safe to run twice or concurrently:
    the service lets one run at a time and leaves a finished job alone, and a run
    killed half-way wrote nothing, so redelivering it redoes it."""
    job = imports.run_import(job_id=job_id, now=timezone.now())
    if job is None:
        return {"id": job_id, "skipped": "another run holds this import"}
    return {"id": job.pk, "status": job.status, "rows_imported": job.rows_imported}
