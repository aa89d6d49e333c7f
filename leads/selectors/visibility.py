"""Reads of leads, scoped once by who is asking.

`leads_visible_to(user)` feeds the list page, the API and (later) exports: a lead
outside it does not exist for that user (404).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from leads import roles
from leads.models import Lead


def leads_visible_to(user) -> QuerySet[Lead]:
    """Marketing and admins: every lead. Managers: their teams' members' leads and
    their own. Sales reps: the leads they own. Anyone else: none."""
    leads = Lead.objects.filter(merged_into__isnull=True)  # merged leads live on in their survivor
    if not user.is_authenticated:
        return leads.none()
    if roles.sees_all_leads(user):
        return leads
    groups = roles.group_names(user)
    if roles.MANAGER in groups:
        team_members = get_user_model().objects.filter(teams__managers=user)
        return leads.filter(Q(owner=user) | Q(owner__in=team_members))
    if roles.SALES in groups:
        return leads.filter(owner=user)
    return leads.none()


def lead_list(user) -> QuerySet[Lead]:
    """What list pages and the list API show: visible leads with what a row displays."""
    return leads_visible_to(user).select_related("campaign", "latest_campaign", "owner")
