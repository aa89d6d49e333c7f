"""The demo's sales teams and handoffs (part of `seed_demo`).

Two teams in different time zones — Inside Sales (rep_ann, rep_bob; the fallback) and
Enterprise (rep_cleo, rep_dan; companies of 2,000 people or more), both managed by
`manager` — with one rep away. Each demo lead that reaches MQL is routed by handoff's
own routing and then accepted, rejected with a reason, contacted and progressed by its
rep through handoff's services, at the instants of its history.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from handoff.models import AssignmentRule, Handoff, RepSettings, TeamPolicy
from handoff.services import actions, routing, sla
from leads.models import Lead, Stage, Team

ENTERPRISE_REPS = ("rep_cleo", "rep_dan")
# Why sales sends an MQL back, most common first (every code appears in the demo).
REJECTIONS = [
    ("not_ready", 40),
    ("cant_reach", 25),
    ("bad_fit", 20),
    ("duplicate", 8),
    ("wrong_territory", 7),
]


def teams(users: dict, *, now: datetime) -> None:
    """Inside Sales (the fallback) and Enterprise, their calendars, SLA and routing."""
    inside = Team.objects.get(name="Inside Sales")
    TeamPolicy.objects.update_or_create(
        team=inside,
        defaults={
            "time_zone": "America/New_York",
            "country": "US",
            "fallback": True,
            "accept_hours": Decimal(1),
            "contact_hours": Decimal(2),
        },
    )
    enterprise, _ = Team.objects.get_or_create(name="Enterprise")
    enterprise.managers.add(users["manager"])
    enterprise.members.add(*(users[name] for name in ENTERPRISE_REPS))
    TeamPolicy.objects.update_or_create(
        team=enterprise,
        defaults={
            "time_zone": "Europe/London",
            "country": "GB",
            "accept_hours": Decimal(1),
            "contact_hours": Decimal(2),
        },
    )
    AssignmentRule.objects.get_or_create(
        name="Enterprise: 2,000 people or more",
        team=enterprise,
        defaults={"condition": {"field": "company_size", "op": "range", "min": 2000}},
    )
    for name, weight in [("rep_ann", 2), ("rep_bob", 1), ("rep_cleo", 1), ("rep_dan", 1)]:
        RepSettings.objects.update_or_create(user=users[name], defaults={"weight": weight})
    RepSettings.objects.filter(user=users["rep_dan"]).update(
        away_from=(now - timedelta(days=2)).date(), away_until=(now + timedelta(days=5)).date()
    )


def _open(lead_id: int) -> Handoff | None:
    return (
        Handoff.objects.filter(lead_id=lead_id, status__in=["pending", "accepted"])
        .select_related("team")
        .first()
    )


def hand_off(lead_id: int, *, now: datetime) -> None:
    routing.route(now=now, lead_ids=[lead_id])


def _actor(handoff: Handoff, rng: random.Random):
    """Who acts: the rep it went to, else a member claiming it from the team queue."""
    if handoff.rep is not None:
        return handoff.rep
    return rng.choice(list(handoff.team.members.order_by("username")))


def accept(lead_id: int, *, now: datetime, rng: random.Random) -> bool:
    handoff = _open(lead_id)
    if handoff is None or handoff.status != Handoff.Status.PENDING:
        return False
    rep = _actor(handoff, rng)
    actions.accept_handoff(handoff_id=handoff.pk, by=rep, now=now)
    if rng.random() < 0.85:
        later = now + timedelta(minutes=rng.randint(10, 300))
        actions.log_contact(
            handoff_id=handoff.pk,
            kind=rng.choice(actions.CONTACT_KINDS),
            note="Intro call: walked through their lead routing",
            by=rep,
            now=later,
        )
    return True


def reject(lead_id: int, *, now: datetime, rng: random.Random, reason: str = "") -> str:
    """Reject the lead's open handoff (a reason drawn from REJECTIONS unless given);
    the lead's stage after it."""
    handoff = _open(lead_id)
    if handoff is not None:
        # Each reason once first, so even a small demo shows every code.
        # Wrong territory only where another team takes the lead (else it is refused).
        other = routing.team_for(lead_id=lead_id, now=now, exclude_teams=(handoff.team_id,))
        codes = [(r, w) for r, w in REJECTIONS if other is not None or r != "wrong_territory"]
        unused = [r for r, _ in codes if not Handoff.objects.filter(reject_reason=r).exists()]
        drawn = rng.choices([r for r, _ in codes], [w for _, w in codes])[0]
        reason = reason or (unused[0] if unused else drawn)
        actions.reject_handoff(
            handoff_id=handoff.pk, reason=reason, by=_actor(handoff, rng), note="", now=now
        )
    return Lead.objects.values_list("stage", flat=True).get(pk=lead_id)


def outcome(
    lead_id: int, stage: str, *, now: datetime, rng: random.Random, reason: str = ""
) -> bool:
    handoff = _open(lead_id)
    if handoff is None or handoff.status != Handoff.Status.ACCEPTED:
        return False
    amount = None
    if stage in (Stage.OPPORTUNITY, Stage.WON):
        amount = Decimal(rng.choice([8000, 12000, 24000, 36000, 60000, 90000]))
    actions.record_outcome(
        handoff_id=handoff.pk,
        stage=stage,
        by=handoff.rep,
        now=now,
        amount=amount,
        reason=reason,
        expected_close=(now + timedelta(days=30)).date() if stage == Stage.OPPORTUNITY else None,
    )
    return True


def settle(*, now: datetime) -> None:
    """Route the MQLs the final rescoring made, and flag what is overdue as of now
    (without emailing anyone: the demo's notices stay in the app)."""
    routing.route(now=now)
    sla.scan(now=now, email=False)
