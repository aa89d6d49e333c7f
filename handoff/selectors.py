"""Handoff's reads, scoped by who asks: a rep's inbox, a team's board."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from handoff.models import Handoff, TeamPolicy
from handoff.panels import countdown
from handoff.services.actions import visible_handoffs
from handoff.services.calendars import calendar_of
from leadflow import business_time
from leads.models import Stage

AT_RISK = timedelta(minutes=30)  # business time left under which a handoff is at risk
NEXT_STEP = {
    Stage.SAL: "Log the first contact",
    Stage.SQL: "Qualify: record an opportunity (amount, expected close)",
    Stage.OPPORTUNITY: "Close it: won (amount) or lost (reason)",
}


@dataclass
class Row:
    handoff: Handoff
    left: timedelta | None  # business time to the running deadline (None: none runs)
    clock: str
    next_step: str = ""

    @property
    def overdue(self) -> bool:
        return self.left is not None and self.left < timedelta(0)

    @property
    def at_risk(self) -> bool:
        return self.left is not None and timedelta(0) <= self.left < AT_RISK


def _rows(handoffs, now: datetime) -> list[Row]:
    """Each handoff with its business-time clock, overdue first, then the least left."""
    policies = {p.team_id: p for p in TeamPolicy.objects.filter(
        team_id__in={h.team_id for h in handoffs})}  # fmt: skip
    calendars = {}
    rows = []
    for h in handoffs:
        if h.team_id not in calendars:
            calendars[h.team_id] = calendar_of(
                policies.get(h.team_id) or TeamPolicy(team_id=h.team_id)
            )
        due = (
            h.accept_by
            if h.status == Handoff.Status.PENDING
            else (h.contact_by if h.contacted_at is None else None)
        )
        left = business_time.between(calendars[h.team_id], now, due) if due else None
        what = "Accept" if h.status == Handoff.Status.PENDING else "Contact"
        clock = (
            ""
            if left is None
            else (
                f"{what} within {countdown(left)}"
                if left >= timedelta(0)
                else f"{what}: {countdown(left)}"
            )
        )
        step = "" if h.status == Handoff.Status.PENDING else NEXT_STEP.get(h.lead.stage, "")
        if (
            h.status == Handoff.Status.ACCEPTED
            and h.contacted_at is not None
            and h.lead.stage == Stage.SAL
        ):
            step = "Qualify: move to SQL"
        rows.append(Row(h, left, clock, step))
    rows.sort(key=lambda r: (r.left is None, r.left or timedelta(0), r.handoff.pk))
    return rows


def inbox(user, now: datetime) -> dict:
    """A rep's pending handoffs (their own and their teams' queue) and accepted ones."""
    mine = (
        visible_handoffs(user)
        .filter(Q(rep=user) | Q(rep__isnull=True), status__in=["pending", "accepted"])
        .select_related("lead", "team", "rep")
    )
    rows = _rows(list(mine[:500]), now)
    return {
        "pending": [r for r in rows if r.handoff.status == Handoff.Status.PENDING],
        "accepted": [r for r in rows if r.handoff.status == Handoff.Status.ACCEPTED],
    }


def team_board(team, now: datetime) -> dict:
    """A team's open handoffs: the queue, breaches, at risk, and the rest by rep."""
    handoffs = list(Handoff.objects.filter(team=team, status__in=["pending", "accepted"])
                    .select_related("lead", "rep", "team")[:1000])  # fmt: skip
    rows = _rows(handoffs, now)
    return {
        "queue": [r for r in rows if r.handoff.rep_id is None],
        "breached": [r for r in rows if r.handoff.breached or r.overdue],
        "at_risk": [r for r in rows if r.at_risk],
        "rows": rows,
    }


def notifications(user, *, limit: int = 20) -> dict:
    """The user's latest notices and how many are unread."""
    from handoff.models import Notification

    mine = Notification.objects.filter(user=user)
    return {
        "notices": list(mine.order_by("-created_at", "-id")[:limit]),
        "unread": mine.filter(read_at__isnull=True).count(),
    }
