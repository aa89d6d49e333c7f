"""Test data made through the product's own services (no `.save()` with a rule beside it)."""

import threading
from contextlib import contextmanager
from itertools import count

from leads import hooks
from leads.services import assign_owner, capture_lead
from tests.conftest import CURRENT_TIME

_seq = count(1)


def make_lead(*, owner=None, now=CURRENT_TIME, **fields):
    n = next(_seq)
    data = {"email": f"lead{n}@example.com", "first_name": "Lead", "last_name": f"No{n}", **fields}
    lead = capture_lead(data=data, channel="test", now=now).lead
    if owner is not None:
        lead = assign_owner(lead_id=lead.pk, owner=owner, now=now)
    return lead


def database_url() -> str:
    """The test database's URL, for processes of their own (a Celery worker)."""
    from django.db import connection

    from leadflow.env import database_url as url_of

    return url_of(connection.settings_dict)


@contextmanager
def announcements(name: str):
    """The payloads of the `name` announcements heard (after commit) inside the block."""
    seen: list[dict] = []

    def handler(**payload):
        seen.append(payload)

    hooks.register(name, handler)
    try:
        yield seen
    finally:
        hooks._handlers[name].remove(handler)


def race(work, *, times: int = 4) -> list:
    """Run `work(i)` for i in range(times) on as many threads, released together, each on
    its own database connection; their results in order. An error in any is raised."""
    from django.db import connection

    barrier = threading.Barrier(times)
    results: list = [None] * times
    errors: list[BaseException] = []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # pragma: no cover - raised below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


_capture = None  # pytest-django's django_capture_on_commit_callbacks (tests/conftest.py)


def committed():
    """A block whose on-commit work (announcements' handlers, task doorbells) runs when it
    ends, as a real commit would run it: a test's own transaction never commits."""
    return _capture(execute=True)
