"""Celery tasks of the project package: beat's scheduler pass."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leadflow.scheduler import run_tick


@shared_task(name="leadflow.tasks.tick")
def tick(at: str | None = None) -> dict:
    """Run one scheduler pass as of `at` (ISO 8601, aware) or now; its jobs enqueue their
    heavy work for other workers."""
    now = parse_datetime(at) if at else timezone.now()
    if now is None or timezone.is_naive(now):
        raise ValueError(f"tick needs an aware ISO 8601 instant, got {at!r}")
    run = run_tick(now)
    return {
        "id": run.pk,
        "as_of": run.as_of.isoformat(),
        "results": run.results,
        "errors": run.errors,
    }
