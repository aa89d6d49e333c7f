"""Project-level pages: the health check."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leadflow.scheduler import failing_jobs, last_tick


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}".strip()
    return "ok"


def broker_status() -> str:
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}".strip()
    return "ok"


def scheduler_status(failing: list) -> str:
    if not failing:
        return "ok"
    jobs = "; ".join(
        f"{job.name} failed {job.consecutive_failures} passes in a row ({job.last_error})"
        for job in failing
    )
    return f"error: {jobs}"


@never_cache
@require_GET
def healthz(request):
    """200 when PostgreSQL and the Redis broker answer and no scheduler job has failed
    scheduler.FAILING_AFTER passes in a row; 503 (with the failure) otherwise."""
    checks = {"database": database_status(), "broker": broker_status()}
    details = {}
    if checks["database"] == "ok":
        failing = failing_jobs()
        checks["scheduler"] = scheduler_status(failing)
        tick = last_tick()
        details["last_tick"] = tick.started_at.isoformat() if tick else None
        details["failing_jobs"] = [
            {
                "name": job.name,
                "consecutive_failures": job.consecutive_failures,
                "last_error": job.last_error,
                "last_finished_at": job.last_finished_at.isoformat(),
            }
            for job in failing
        ]
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks, **details}
    return JsonResponse(body, status=200 if healthy else 503)
