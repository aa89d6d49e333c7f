"""Celery tasks of dashboards: thin, call a service."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from dashboards.services import rollup as rollups


@shared_task(name="dashboards.tasks.rollup")
def rollup(at: str | None = None) -> dict:
    """Bring the rollups up to date, as of `at` (the tick's instant) or the clock, the
    later. Safe twice or at once: a run another worker holds is skipped."""
    now = timezone.now()
    if at is not None:
        now = max(now, datetime.fromisoformat(at))
    return rollups.run(now=now).summary()
