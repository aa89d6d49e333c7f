"""Reads of leads, scoped once by who is asking.

`leads_visible_to(user)` feeds the list page, the API and (later) exports: a lead
outside it does not exist for that user (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from leads import roles
from leads.models import Activity, Lead, StageChange


def leads_visible_to(user) -> QuerySet[Lead]:
    """Marketing and admins: every lead. Managers: their teams' members' leads and
    their own. Sales reps: the leads they own. Anyone else: none."""
    leads = Lead.objects.all()
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


def stage_history(lead: Lead) -> QuerySet[StageChange]:
    return lead.stage_changes.select_related("changed_by").order_by("-changed_at", "-id")


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    kind: str  # an Activity kind, "stage" or "field"
    title: str
    user: object | None
    detail: str = ""


def timeline(lead: Lead, *, limit: int = 100) -> list[TimelineEntry]:
    """The lead's one timeline, newest first: activities, stage changes and field edits.

    Three queries whatever the length (each source is cut at `limit` before merging).
    """
    entries = [
        TimelineEntry(
            when=a.occurred_at,
            kind=a.kind,
            title=a.get_kind_display(),
            user=a.user,
            detail=a.data.get("body") or _activity_detail(a),
        )
        for a in lead.activities.select_related("user").order_by("-occurred_at", "-id")[:limit]
    ]
    entries += [
        TimelineEntry(
            when=c.changed_at,
            kind="stage",
            title=(
                f"{c.get_from_stage_display()} → {c.get_to_stage_display()}"
                if c.from_stage
                else f"Created as {c.get_to_stage_display()}"
            ),
            user=c.changed_by,
            detail=c.reason,
        )
        for c in stage_history(lead)[:limit]
    ]
    entries += [
        TimelineEntry(
            when=f.changed_at,
            kind="field",
            title=f"{f.field} changed",
            user=f.changed_by,
            detail=f"{_shown(f.old_value)} → {_shown(f.new_value)} (via {f.channel})",
        )
        for f in lead.field_changes.select_related("changed_by").order_by("-changed_at", "-id")[
            :limit
        ]
    ]
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries[:limit]


def _shown(value) -> str:
    return "∅" if value in (None, "") else str(value)


def _activity_detail(activity: Activity) -> str:
    data = activity.data or {}
    if activity.kind == Activity.Kind.CAPTURED:
        filled = ", ".join(data.get("filled", []))
        via = f"via {data.get('channel', '?')}"
        return f"{via}; filled {filled}" if filled else via
    if activity.kind == Activity.Kind.ASSIGNED:
        return f"to {data.get('owner') or 'nobody'}"
    return ""
