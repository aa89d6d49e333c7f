"""A team's working calendar and SLA policy (TeamPolicy), and the deadlines on it."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from handoff.models import TeamPolicy
from leadflow import business_time
from leads.exceptions import LeadFlowError
from leads.models import Team

WARNINGS = (Decimal("0.5"), Decimal("0.8"))  # warned at 50 % and 80 % of the time


def policy_of(team: Team | int) -> TeamPolicy:
    """The team's policy (the defaults, unsaved, for a team that has none yet)."""
    team_id = team if isinstance(team, int) else team.pk
    return TeamPolicy.objects.filter(team_id=team_id).first() or TeamPolicy(team_id=team_id)


def _hours(raw) -> business_time.WeeklyHours:
    if not raw:
        return business_time.DEFAULT_HOURS
    if not isinstance(raw, list) or len(raw) != 7:
        raise LeadFlowError("Give the hours of each of the seven days.", field="hours")
    days = []
    for day in raw:
        intervals = []
        for interval in day or []:
            try:
                start, end = (time.fromisoformat(part) for part in interval)
            except (TypeError, ValueError):
                raise LeadFlowError("Write hours as 09:00-17:00.", field="hours") from None
            intervals.append((start, end))
        days.append(tuple(intervals))
    return tuple(days)


def calendar_of(policy: TeamPolicy) -> business_time.Calendar:
    try:
        return business_time.Calendar(
            time_zone=policy.time_zone,
            hours=_hours(policy.hours),
            country=policy.country,
            subdivision=policy.subdivision,
            closed=frozenset(policy.closed_days),
            name=f"team {policy.team_id}",
        )
    except ValueError as exc:
        raise LeadFlowError(str(exc), field="calendar") from None


def hours(value: Decimal) -> timedelta:
    return timedelta(seconds=float(value) * 3600)


def deadline(policy: TeamPolicy, start: datetime, business_hours: Decimal) -> datetime:
    return business_time.add(calendar_of(policy), start, hours(business_hours))


def warning_at(policy: TeamPolicy, start: datetime, due: datetime, given: int):
    """When the next warning for a deadline `due` set at `start` falls (None: all given)."""
    if given >= len(WARNINGS):
        return None
    calendar = calendar_of(policy)
    span = business_time.between(calendar, start, due)
    return business_time.add(calendar, start, span * float(WARNINGS[given]))


def business_seconds(policy: TeamPolicy, start: datetime, end: datetime) -> int:
    """Whole seconds of the team's open time from `start` to `end` (time to accept, to
    first contact); 0 when `end` is not after `start`."""
    if end <= start:
        return 0
    return int(business_time.between(calendar_of(policy), start, end).total_seconds())


def left(policy: TeamPolicy, now: datetime, due: datetime) -> timedelta:
    """Business time left until `due` (negative once overdue): "accept within 1h 10m"."""
    return business_time.between(calendar_of(policy), now, due)
