"""Celery tasks of handoff: thin, take ids, call a service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from handoff.services import routing


@shared_task(name="handoff.tasks.route")
def route(lead_ids: list[int]) -> dict:
    """Route the MQLs of `lead_ids` still in no open handoff (a second run routes none)."""
    done = routing.route(now=timezone.now(), lead_ids=lead_ids)
    return {"handoffs": len(done.handoffs), "queued": done.queued}
