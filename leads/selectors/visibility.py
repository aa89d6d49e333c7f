"""Reads of leads, scoped once by who is asking.

`leads_visible_to(user)` feeds the list page, the API and (later) exports: a lead
outside it does not exist for that user (404).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from leads import roles
from leads.models import Lead

# Extra visibility higher apps grant (handoff: the leads handed to a rep and their team's
# queue): functions of the user returning a Q over leads, or None for nothing more.
_grants: list[Callable[[object], Q | None]] = []


def register_grant(grant: Callable[[object], Q | None]) -> None:
    """Let `grant(user)` widen what sales reps and managers see (from an app's ready())."""
    if grant not in _grants:
        _grants.append(grant)


def leads_visible_to(user) -> QuerySet[Lead]:
    """Marketing and admins: every lead. Managers: their teams' members' leads and
    their own. Sales reps: the leads they own. Either also what apps grant them (the
    leads handed to them, their team's queue). Anyone else: none."""
    return visible_among(Lead.objects.all(), user)


def visible_among(leads: QuerySet[Lead], user) -> QuerySet[Lead]:
    """The leads of the queryset `leads` that `user` may see: the same condition added
    to its WHERE, so the table is read once (`pk__in=leads_visible_to(user)` would join
    it with itself, which bulk statements avoid: see leads/idsets.py)."""
    seen = _condition(user)
    return leads.none() if seen is None else leads.filter(seen)


def _condition(user) -> Q | None:
    """What `leads_visible_to` filters leads by; None when the user sees no lead."""
    # Merged leads live on in their survivor; erased people are gone (their anonymous
    # rows stay for the funnel's counts only).
    live = Q(merged_into__isnull=True, erased_at__isnull=True)
    if not user.is_authenticated:
        return None
    if roles.sees_all_leads(user):
        return live
    groups = roles.group_names(user)
    if roles.MANAGER in groups:
        team_members = get_user_model().objects.filter(teams__managers=user)
        mine = Q(owner=user) | Q(owner__in=team_members)
    elif roles.SALES in groups:
        mine = Q(owner=user)
    else:
        return None
    for grant in _grants:
        extra = grant(user)
        if extra is not None:
            mine |= extra
    return live & mine


def lead_list(user) -> QuerySet[Lead]:
    """What list pages and the list API show: visible leads with what a row displays."""
    return leads_visible_to(user).select_related("campaign", "latest_campaign", "owner")
