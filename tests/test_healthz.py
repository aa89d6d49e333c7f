"""GET /healthz: database and broker reachability and scheduler jobs that keep failing,
503 when any is wrong."""

from datetime import timedelta

import pytest

from leadflow import scheduler
from leadflow.models import JobState


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["broker"] == "ok"
    assert body["scheduler"] == "ok" and body["failing_jobs"] == []
    assert "last_tick" in body


@pytest.mark.django_db
def test_healthz_is_503_while_a_scheduler_job_keeps_failing(client, monkeypatch, now):
    monkeypatch.setattr(scheduler, "_jobs", {})
    broken = True

    @scheduler.tick_job("nurturing.dispatch")
    def dispatch(now):
        if broken:
            raise ConnectionError("SMTP refused")
        return "sent"

    scheduler.tick_job("fine")(lambda now: "ok")
    JobState.objects.create(name="retired.job", consecutive_failures=9)  # no longer registered
    for minute in range(3):
        assert client.get("/healthz").status_code == 200  # 0, 1, 2 failures so far
        scheduler.run_tick(now + timedelta(minutes=minute))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] == body["broker"] == "ok"
    assert body["scheduler"] == (
        "error: nurturing.dispatch failed 3 passes in a row (ConnectionError: SMTP refused)"
    )
    [job] = body["failing_jobs"]
    assert job["name"] == "nurturing.dispatch" and job["consecutive_failures"] == 3
    assert job["last_error"] == "ConnectionError: SMTP refused"
    broken = False
    scheduler.run_tick(now + timedelta(minutes=3))
    assert client.get("/healthz").json()["failing_jobs"] == []


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_unreachable(client, settings):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error: ")
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from django.db import OperationalError, connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "error: OperationalError: connection refused",
        "broker": "ok",
    }
