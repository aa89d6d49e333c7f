"""Celery tasks of nurturing: thin, take ids, call a service."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from nurturing.services import enrolment, sending


@shared_task(name="nurturing.tasks.send_emails", acks_late=True, reject_on_worker_lost=True)
def send_emails(send_ids: list[int], at: str | None = None) -> dict:
    """Send the outbox rows `send_ids` that are still due (the doorbell: a second
    delivery finds them leased or sent and does nothing), as of `at` (ISO: the instant of
    the tick that handed them out) or the clock, whichever is later: a task that waited
    in the queue acts as of when it runs, and its lease is never shorter than LEASE."""
    now = timezone.now()
    if at is not None:
        now = max(now, datetime.fromisoformat(at))
    return sending.send_batch(send_ids=send_ids, now=now).summary()


@shared_task(name="nurturing.tasks.enrol")
def enrol(lead_ids: list[int]) -> dict:
    """Enrol the eligible leads of `lead_ids` by the rules (a burst of recycled leads)."""
    return {"enrolled": len(enrolment.enrol_by_rules(now=timezone.now(), lead_ids=lead_ids))}
