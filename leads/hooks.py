"""A small registry through which `leads` announces changes to the apps built on it.

`leads` imports no other app (DESIGN.md). A higher app registers a handler in its
AppConfig.ready(); `announce` runs the handlers after the current transaction
commits, so they see committed data and nothing runs for a rolled-back change.
A crash between commit and handler can leave a reaction undone: each app's tick job
sweeps for those (e.g. scoring rescoring leads changed since they were scored).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import partial

from django.db import transaction

# lead_changed(lead_id): a lead's fields changed (capture, edit)
# event_recorded(lead_id, activity_id): a behavioural event was recorded
_handlers: dict[str, list[Callable[..., None]]] = defaultdict(list)


def register(name: str, handler: Callable[..., None]) -> None:
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def announce(name: str, **payload) -> None:
    for handler in _handlers[name]:
        transaction.on_commit(partial(handler, **payload), robust=True)
