"""Project-level pages: the health check."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from leadflow.scheduler import last_tick


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


@never_cache
@require_GET
def healthz(request):
    """200 when PostgreSQL and the Redis broker answer, 503 (with the failure) otherwise."""
    checks = {"database": database_status(), "broker": broker_status()}
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks}
    if checks["database"] == "ok":
        tick = last_tick()
        body["last_tick"] = tick.started_at.isoformat() if tick else None
    return JsonResponse(body, status=200 if healthy else 503)
