"""A small registry through which `leads` announces changes to the apps built on it.

`leads` imports no other app (DESIGN.md). A higher app registers a handler in its
AppConfig.ready(); `announce` runs the handlers after the current transaction
commits, so they see committed data and nothing runs for a rolled-back change.
A crash between commit and handler can leave a reaction undone: each app's tick job
sweeps for those (e.g. scoring rescoring leads changed since they were scored).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial

from django.db import transaction

# lead_changed(lead_id): a lead's fields changed (capture, edit)
# event_recorded(lead_id, activity_id): a behavioural event was recorded
# events_moved(lead_ids): activities changed leads (a merge, or its undo)
# leads_changed_in_bulk(): many leads changed in one go (an import, its undo); each got
#   a new updated_at
_handlers: dict[str, list[Callable[..., None]]] = defaultdict(list)
_muted: ContextVar[bool] = ContextVar("leads_hooks_muted", default=False)


def register(name: str, handler: Callable[..., None]) -> None:
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


@contextmanager
def muted() -> Iterator[None]:
    """Announce nothing inside: for bulk paths that run the reactions themselves in one
    set-based pass afterwards (demo data, imports); the tick sweeps up the rest."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def announce(name: str, **payload) -> None:
    if _muted.get():
        return
    for handler in _handlers[name]:
        transaction.on_commit(partial(handler, **payload), robust=True)
