"""The scheduler pass: `run_tick(now)` is what beat's task and `manage.py tick` both call.

Apps register their periodic jobs here from `AppConfig.ready()` with
`tick_job(name, every=...)`; each job is a plain function of `now`, idempotent. A pass
runs every job that is due as of `now` (it never ran, or its last successful run was at
least `every` before), each under an advisory lock of its own: a job still running in
another pass (another worker, another machine) is skipped there as "running elsewhere"
while the other jobs run. Each job's last run is kept in `JobState`, so being due does
not depend on which process runs the pass. One failing job does not stop the others;
its error is recorded on the TickRun and its JobState, and /healthz reports a job that
keeps failing.

Heavy work is not done in the pass: a job hands it to a worker on commit, so a slow
job never holds back the ones that must run every minute. Such a job takes a keyword
`inline`; `manage.py tick` (for operators when workers are down, and for tests) runs
the pass with inline=True and the job then does the work itself.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import F
from django.utils import timezone

if TYPE_CHECKING:
    from leadflow.models import JobState, TickRun

logger = logging.getLogger(__name__)

# pg_try_advisory_lock(namespace, key from the job's name): one run of a job at a time
# across every process. Two-key advisory locks never meet one-key ones; two names with
# the same 32-bit key would only take turns, never run wrongly.
JOB_LOCK_NAMESPACE = 0x71C
# A pass a little early for a job's slot still runs it: beat's passes are TICK_SECONDS
# apart give or take their delivery's jitter, and without this an hourly job would slip
# a whole tick later whenever one pass came a few milliseconds early.
EARLY = timedelta(seconds=5)
FAILING_AFTER = 3  # failures in a row after which /healthz reports a job

Job = Callable[..., object]


@dataclass(frozen=True)
class _Registered:
    run: Job
    every: timedelta
    lock_key: int
    takes_inline: bool


_jobs: dict[str, _Registered] = {}


def tick_job(name: str, *, every: timedelta | float = 0) -> Callable[[Job], Job]:
    """Register `fn(now)` as the scheduler job `name` (jobs run in registration order),
    due `every` (a timedelta or seconds; 0: every pass) after its last successful run.
    A job that hands heavy work to a worker takes a keyword `inline`: True when the pass
    must do that work itself (`manage.py tick`)."""
    interval = every if isinstance(every, timedelta) else timedelta(seconds=every)

    def register(fn: Job) -> Job:
        takes_inline = "inline" in inspect.signature(fn).parameters
        _jobs[name] = _Registered(fn, interval, _lock_key(name), takes_inline)
        return fn

    return register


def registered_jobs() -> list[str]:
    return list(_jobs)


def _lock_key(name: str) -> int:
    """A signed 32-bit key that is the same for `name` in every process (hash() is not)."""
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def run_tick(now: datetime, *, inline: bool = False) -> TickRun:
    """One pass as of `now`: every registered job that is due runs under its own lock,
    one after another; a job another pass is running is skipped. With `inline`, jobs do
    their heavy work themselves instead of enqueuing it."""
    from leadflow.models import TickRun

    if timezone.is_naive(now):
        raise ValueError("run_tick needs an aware datetime")
    run = TickRun.objects.create(as_of=now, started_at=timezone.now())
    for name, job in _jobs.items():
        try:
            run.results[name] = _run_job(name, job, now=now, inline=inline)
        except Exception as exc:
            logger.exception("tick job %s failed", name)
            run.errors[name] = _describe(exc)
    run.finished_at = timezone.now()
    run.save(update_fields=["results", "errors", "finished_at"])
    return run


def _run_job(name: str, job: _Registered, *, now: datetime, inline: bool) -> object:
    """The job's result, or why it did not run; raises what the job raised."""
    from leadflow.models import JobState

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_NAMESPACE, job.lock_key])
        (locked,) = cursor.fetchone()
    if not locked:
        return {"skipped": "running elsewhere"}
    try:
        # Read under the lock: a pass that just finished the job has recorded it.
        state, _ = JobState.objects.get_or_create(name=name)
        last = state.last_as_of
        if job.every and last is not None and now < last + job.every - EARLY:
            return {"skipped": f"not due until {(last + job.every).isoformat()}"}
        _record(state, last_started_at=timezone.now())
        try:
            result = job.run(now, inline=inline) if job.takes_inline else job.run(now)
        except Exception as exc:
            _record(state, last_finished_at=timezone.now(), last_error=_describe(exc)[:2000],
                    consecutive_failures=F("consecutive_failures") + 1)  # fmt: skip
            raise
        _record(state, last_as_of=now, last_finished_at=timezone.now(), last_error="",
                consecutive_failures=0)  # fmt: skip
        return result
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_NAMESPACE, job.lock_key])


def _record(state: JobState, **fields) -> None:
    type(state).objects.filter(pk=state.pk).update(**fields)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def failing_jobs() -> list[JobState]:
    """Registered jobs whose last FAILING_AFTER runs or more all failed (a job no longer
    registered is no one's concern)."""
    from leadflow.models import JobState

    return list(
        JobState.objects.filter(name__in=list(_jobs), consecutive_failures__gte=FAILING_AFTER)
    )


TICK_LOG_DAYS = 7
PRUNE_EVERY = timedelta(hours=1)


def prune_tick_log(now: datetime) -> dict[str, int]:
    """Keep a week of TickRun rows."""
    from leadflow.models import TickRun

    deleted, _ = TickRun.objects.filter(started_at__lt=now - timedelta(days=TICK_LOG_DAYS)).delete()
    return {"deleted": deleted}


def register_builtin_jobs() -> None:
    tick_job("leadflow.prune_tick_log", every=PRUNE_EVERY)(prune_tick_log)


def last_tick():
    from leadflow.models import TickRun

    return TickRun.objects.order_by("-started_at").first()
