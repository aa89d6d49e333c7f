"""Bulk actions of the lead list that other apps add, without `leads` importing them.

An app registers its action in its `AppConfig.ready()` (nurturing: "Enrol in a track"):

    bulk_actions.register("enrol", label="Enrol in a track", change=enrol_change,
                          inputs=track_select, carried=("track",),
                          allowed=roles.sees_all_leads)

`change(request)` reads the action's inputs from the POST and answers a `BulkChange`
(or raises a LeadFlowError saying what is missing, and nothing is changed); the lead
list applies it to the selected leads or, after the confirmation page that says how
many, to every lead matching the filter — the same path as the built-in actions, so
only leads the user may see are touched. `inputs(request)` answers the HTML of the extra
fields the list's bulk form shows (a query or two: it runs on every list page);
`carried` names the fields the confirmation page sends again.

Registration is per process and idempotent (the same name replaces its action), like
`leads.panels`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize


@dataclass
class BulkChange:
    """One bulk action, its inputs checked: the question that confirms it for every
    matching lead ("Disqualify 9,240 leads?"), its button, and the change to make."""

    verb: str
    to: str
    apply: Callable[[QuerySet, datetime], str]  # makes the change, returns the message

    def question(self, count: int) -> str:
        return f"{self.verb} {count:,} lead{pluralize(count)}{self.to}?"

    def button(self, count: int) -> str:
        return f"{self.verb} {count:,} lead{pluralize(count)}"


@dataclass(frozen=True)
class BulkAction:
    name: str
    label: str
    change: Callable[[HttpRequest], BulkChange]
    inputs: Callable[[HttpRequest], str] | None
    carried: tuple[str, ...]
    allowed: Callable[[object], bool]


_actions: dict[str, BulkAction] = {}


def register(
    name: str,
    *,
    label: str,
    change: Callable[[HttpRequest], BulkChange],
    inputs: Callable[[HttpRequest], str] | None = None,
    carried: tuple[str, ...] = (),
    allowed: Callable[[object], bool] = lambda user: True,
) -> None:
    """Add (or replace) the bulk action `name`."""
    _actions[name] = BulkAction(name, label, change, inputs, tuple(carried), allowed)


def unregister(name: str) -> None:
    _actions.pop(name, None)


def for_user(user) -> list[BulkAction]:
    """The registered actions `user` may use, in registration order."""
    return [action for action in _actions.values() if action.allowed(user)]


def get(name: str, user) -> BulkAction | None:
    action = _actions.get(name)
    return action if action is not None and action.allowed(user) else None


def carried(name: str) -> tuple[str, ...]:
    """The inputs the confirmation page of action `name` sends again."""
    action = _actions.get(name)
    return action.carried if action is not None else ()
