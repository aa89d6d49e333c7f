"""What a manager changes on their team's board: the team's calendar and SLA policy, and
each rep's capacity, weight, activity and away dates — one transition, all or nothing.

Editing a calendar or policy changes the deadlines of later handoffs only: a handoff's
deadlines are stored when it is made (handoff.services.routing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction

from handoff.models import RepSettings, TeamPolicy
from leadflow import business_time
from leads import roles
from leads.exceptions import LeadFlowError
from leads.models import Team

SLA_FIELDS = ("accept_hours", "contact_hours", "grace_hours")
SLA_RANGE = (Decimal("0.25"), Decimal("720"))
CAPACITY_RANGE, WEIGHT_RANGE = (0, 10_000), (1, 100)


class NotYourTeam(LeadFlowError):
    status_code = 403


@dataclass(frozen=True)
class RepChange:
    """A rep's settings as typed on the board (text, checked before anything is saved)."""

    user_id: int
    capacity: str
    weight: str
    active: bool
    away_from: str = ""
    away_until: str = ""


def may_manage(user, team: Team) -> bool:
    return roles.sees_all_leads(user) or team.managers.filter(pk=user.pk).exists()


def _hours(raw: str | None, current: Decimal, name: str) -> Decimal:
    if raw is None or str(raw).strip() == "":
        return current
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise LeadFlowError("Enter the SLA hours as numbers, e.g. 1.5.", field=name) from None
    if not value.is_finite() or not SLA_RANGE[0] <= value <= SLA_RANGE[1]:
        raise LeadFlowError("SLA hours run from 0.25 to 720.", field=name)
    return value


def _day(raw: str, who: str, name: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise LeadFlowError(f"{who}: enter {name} as YYYY-MM-DD.", field="reps") from None


def _number(raw: str, who: str, name: str, low: int, high: int) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise LeadFlowError(f"{who}: enter the {name} as a whole number.", field="reps") from None
    if not low <= value <= high:
        raise LeadFlowError(f"{who}: the {name} runs {low:,}–{high:,}.", field="reps")
    return value


def save_team_board(
    *,
    team_id: int,
    by,
    policy: dict[str, str],
    reps: list[RepChange],
) -> TeamPolicy:
    """Check everything typed, then save the team's policy and its reps' settings in one
    transaction (a refused value saves nothing). `policy` holds the form's text for
    accept_hours, contact_hours, grace_hours, time_zone, country and route_in_hours_only
    ("on" or absent); a rep not in the team is refused."""
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team_id)
        if not may_manage(by, team):
            raise NotYourTeam("Only the team's manager (or marketing) may change its board.")
        current = TeamPolicy.objects.filter(team=team).first() or TeamPolicy(team=team)
        for name in SLA_FIELDS:
            setattr(current, name, _hours(policy.get(name), getattr(current, name), name))
        if "time_zone" in policy:
            current.time_zone = (policy.get("time_zone") or "").strip() or "UTC"
        if "country" in policy:
            current.country = (policy.get("country") or "").strip().upper()[:2]
        current.route_in_hours_only = policy.get("route_in_hours_only") == "on"
        try:
            business_time.Calendar(time_zone=current.time_zone, country=current.country)
        except ValueError as exc:
            raise LeadFlowError(str(exc), field="time_zone") from None
        members = {u.pk: u for u in team.members.all()}
        checked = []
        for change in reps:
            member = members.get(change.user_id)
            if member is None:
                raise LeadFlowError("A rep on the form is not in this team.", field="reps")
            who = member.get_full_name() or member.username
            away_from = _day(change.away_from, who, "away from")
            away_until = _day(change.away_until, who, "away until")
            if away_from and away_until and away_until < away_from:
                raise LeadFlowError(f"{who}: away until is before away from.", field="reps")
            checked.append((member, {
                "capacity": _number(change.capacity, who, "capacity", *CAPACITY_RANGE),
                "weight": _number(change.weight, who, "weight", *WEIGHT_RANGE),
                "active": change.active,
                "away_from": away_from,
                "away_until": away_until,
            }))  # fmt: skip
        current.save()
        for member, values in checked:
            RepSettings.objects.update_or_create(user=member, defaults=values)
    return current
