"""Handoff's panel on a lead's page: its latest handoff — team, rep, status, the time
left in business time, breaches, and why routing chose that team and rep."""

from __future__ import annotations

from datetime import timedelta

from handoff.models import Handoff
from handoff.services.calendars import left, policy_of
from leads import panels


def countdown(delta: timedelta) -> str:
    """Business time left (or overdue) in words: "1h 10m", "overdue by 25m"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 60 * 24)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h")) if n]
    if mins or not parts:
        parts.append(f"{mins}m")
    text = " ".join(parts)
    return text if delta.total_seconds() >= 0 else f"overdue by {text}"


def handoff_panel(lead, request, now) -> dict | None:
    handoff = (Handoff.objects.filter(lead=lead).select_related("team", "rep")
               .order_by("-created_at", "-id").first())  # fmt: skip
    if handoff is None:
        return None
    due = None
    if handoff.status == Handoff.Status.PENDING:
        due = ("accept", handoff.accept_by)
    elif handoff.status == Handoff.Status.ACCEPTED and handoff.contacted_at is None:
        due = ("make first contact", handoff.contact_by)
    clock = None
    if due is not None and due[1] is not None:
        what, when = due
        remaining = left(policy_of(handoff.team_id), now, when)
        words = countdown(remaining)
        clock = (
            f"{what.capitalize()} within {words}"
            if remaining >= timedelta(0)
            else (f"{what.capitalize()}: {words}")
        )
    return {"handoff": handoff, "clock": clock}


def register() -> None:
    """Called from HandoffConfig.ready()."""
    panels.register("handoff", template="handoff/lead_panel.html", context=handoff_panel, order=5)
