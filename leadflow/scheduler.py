"""The scheduler pass: `run_tick(now)` is what beat's task and `manage.py tick` both call.

Apps register their periodic jobs here from `AppConfig.ready()`; each job is a plain
function of `now`, idempotent and safe to run concurrently with itself. One failing
job does not stop the others; its error is recorded on the TickRun.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

Job = Callable[[datetime], object]
_jobs: dict[str, Job] = {}

# Held for the length of one pass so two passes never overlap (across all workers).
_TICK_LOCK_ID = 0x1EAD_F10


def tick_job(name: str) -> Callable[[Job], Job]:
    """Register `fn(now)` as the scheduler job `name` (jobs run in registration order)."""

    def register(fn: Job) -> Job:
        _jobs[name] = fn
        return fn

    return register


def registered_jobs() -> list[str]:
    return list(_jobs)


def run_tick(now: datetime):
    """One pass of every registered job as of `now`; None when another pass is running."""
    from leadflow.models import TickRun

    if timezone.is_naive(now):
        raise ValueError("run_tick needs an aware datetime")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_TICK_LOCK_ID])
        (locked,) = cursor.fetchone()
    if not locked:
        logger.info("tick as of %s skipped: another pass is running", now.isoformat())
        return None
    try:
        run = TickRun.objects.create(as_of=now, started_at=timezone.now())
        for name, job in _jobs.items():
            try:
                run.results[name] = job(now)
            except Exception as exc:
                logger.exception("tick job %s failed", name)
                run.errors[name] = f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.save(update_fields=["results", "errors", "finished_at"])
        return run
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_TICK_LOCK_ID])


TICK_LOG_DAYS = 7


def prune_tick_log(now: datetime) -> dict[str, int]:
    """Keep a week of TickRun rows."""
    from leadflow.models import TickRun

    deleted, _ = TickRun.objects.filter(started_at__lt=now - timedelta(days=TICK_LOG_DAYS)).delete()
    return {"deleted": deleted}


def register_builtin_jobs() -> None:
    tick_job("leadflow.prune_tick_log")(prune_tick_log)


def last_tick():
    from leadflow.models import TickRun

    return TickRun.objects.order_by("-started_at").first()
