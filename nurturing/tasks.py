"""Celery tasks of nurturing: thin, take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from nurturing.services import enrolment, sending


@shared_task(name="nurturing.tasks.send_emails", acks_late=True, reject_on_worker_lost=True)
def send_emails(send_ids: list[int]) -> dict:
    """Send the outbox rows `send_ids` that are still due (the doorbell: a second
    delivery finds them leased or sent and does nothing)."""
    return sending.send_batch(send_ids=send_ids, now=timezone.now()).summary()


@shared_task(name="nurturing.tasks.enrol")
def enrol(lead_ids: list[int]) -> dict:
    """Enrol the eligible leads of `lead_ids` by the rules (a burst of recycled leads)."""
    return {"enrolled": len(enrolment.enrol_by_rules(now=timezone.now(), lead_ids=lead_ids))}
