"""Announcements: how `leads` tells the apps built on it what changed, without importing
them (DESIGN.md: dependencies run one way).

A higher app registers its handlers — functions in `<app>/handlers.py` — in its
`AppConfig.ready()`; `announce` runs them after the current transaction commits, so
they see committed data and nothing runs for a rolled-back change. Every announcement
carries the lead ids and `now` (the instant of the change, never the wall clock). A
handler stays short: heavy work it enqueues as a Celery task (on commit). A handler's
error is logged with the lead ids and never undoes or blocks the change, and the other
handlers still run. A crash between commit and handler can lose a reaction: each app's
tick job reconciles by state (scoring rescores leads changed since they were scored),
so a lost reaction is only late.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.db import transaction

logger = logging.getLogger(__name__)

# The announcements and what each carries (besides `now`, always there).
ANNOUNCEMENTS: dict[str, str] = {
    "lead_changed": "lead_ids: a lead's fields changed (capture, edit)",
    "stage_changed": "lead_ids, from_stage, to_stage: leads moved between funnel stages",
    "owner_changed": "lead_ids, owner_id: leads got a new owner (None: unassigned)",
    "consent_changed": "lead_ids, status: marketing-email consent changed",
    "events_recorded": "lead_ids, activity_ids: behavioural events were recorded",
    "leads_merged": "survivor_id, merged_id, lead_ids: one lead was merged into another",
    "leads_unmerged": "survivor_id, merged_id, lead_ids: a merge was undone",
    "leads_changed_in_bulk": (
        "lead_ids (or None with import_id): many leads were created or changed in one go "
        "(an import or its undo); each got a new updated_at"
    ),
}

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)
_muted: ContextVar[bool] = ContextVar("leads_hooks_muted", default=False)


def register(name: str, handler: Handler) -> None:
    """Call `handler(**payload)` after each commit that announced `name`."""
    if name not in ANNOUNCEMENTS:
        raise ValueError(f"{name!r} is not an announcement (see leads.hooks.ANNOUNCEMENTS)")
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


@contextmanager
def muted() -> Iterator[None]:
    """Announce nothing inside: for bulk paths that run the reactions themselves in one
    set-based pass afterwards (demo data); the tick jobs sweep up the rest."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def _run(name: str, handler: Handler, payload: dict) -> None:
    try:
        handler(**payload)
    except Exception:
        ids = payload.get("lead_ids")
        logger.exception(
            "%s handler %s.%s failed for lead ids %s (the change itself is committed; "
            "the app's tick job reconciles it)",
            name, handler.__module__, handler.__qualname__, ids,
        )  # fmt: skip


def announce(name: str, *, now: datetime, **payload) -> None:
    """Run every handler of `name` after the current transaction commits (at once
    outside one)."""
    if name not in ANNOUNCEMENTS:
        raise ValueError(f"{name!r} is not an announcement (see leads.hooks.ANNOUNCEMENTS)")
    if _muted.get():
        return
    payload["now"] = now
    for handler in list(_handlers[name]):
        transaction.on_commit(lambda h=handler: _run(name, h, payload))
