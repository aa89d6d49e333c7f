"""Where each app keeps a person's data: the registry that export and erasure walk.

GDPR articles 15 and 17: `leads.services.erasure.export_person` gathers everything held
about a person into one JSON document, `erase_person` removes or anonymises it
everywhere. `leads` cannot import the apps built on it, so each app — `leads` itself
included — registers what it holds in its `AppConfig.ready()`:

    personal_data.register("nurturing", export=export_person, erase=erase_person)

- `export(person)` returns the app's part of the document (a dict or a list that
  Django's JSON encoder writes: datetimes and decimals may stay as they are), read-only.
- `erase(person, now=...)` removes or anonymises every row of the app that holds the
  person (their lead ids, or their email, phone, names anywhere in free text and JSON
  payloads: `scrub` replaces those), keeping what the dashboards count (dates, stages,
  statuses, amounts) on the anonymous rows. It runs inside the erasure's transaction
  with the leads still as they were; it must not announce or enqueue anything that
  would read the person back.

A new app or table that stores something about a lead registers here (the dashboards'
rollups, predictive scoring's per-lead factors); `tests/test_erase.py` searches every
text and JSON column of the database for the person after an erasure, so a table left
out fails it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ERASED = "[erased]"


@dataclass(frozen=True)
class Person:
    """The person an export or erasure is about: their lead, the leads merged into it
    (the same person captured twice), and the values that identify them in text."""

    lead_id: int
    lead_ids: tuple[int, ...]  # the lead first, then the leads merged into it
    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    external_ids: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()  # full names, and first / last names on their own

    def values(self) -> list[str]:
        """Every value that names the person, longest first (so "Ann Smith" goes
        before "Ann"); values of fewer than 3 characters are left out (they would eat
        ordinary words)."""
        found = {v for v in (*self.emails, *self.phones, *self.external_ids, *self.names) if v}
        return sorted((v for v in found if len(v) >= 3), key=lambda v: (-len(v), v))

    def pattern(self) -> re.Pattern | None:
        values = self.values()
        if not values:
            return None
        return re.compile("|".join(re.escape(v) for v in values), re.IGNORECASE)


Exporter = Callable[[Person], Any]
Eraser = Callable[..., None]


@dataclass(frozen=True)
class Holder:
    app: str
    export: Exporter
    erase: Eraser


_holders: dict[str, Holder] = {}


def register(app: str, *, export: Exporter, erase: Eraser) -> None:
    """Add (or replace) what `app` holds about people (from its `ready()`)."""
    _holders[app] = Holder(app=app, export=export, erase=erase)


def holders() -> list[Holder]:
    """The registered apps, `leads` last: its eraser anonymises the lead rows the
    others' erasers still read."""
    return sorted(_holders.values(), key=lambda h: (h.app == "leads", h.app))


def scrub(value: Any, person: Person, *, pattern: re.Pattern | None = None) -> Any:
    """`value` (text, or JSON: dicts, lists, text) with every value naming the person
    replaced by "[erased]", in keys and values alike."""
    pattern = pattern if pattern is not None else person.pattern()
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, dict):
        return {
            scrub(k, person, pattern=pattern): scrub(v, person, pattern=pattern)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, person, pattern=pattern) for v in value]
    return value
