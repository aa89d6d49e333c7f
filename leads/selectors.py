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


@dataclass(frozen=True)
class DuplicatePair:
    lead: Lead
    other: Lead
    reasons: str


# Local parts of email addresses that say nothing about the person.
_ROLE_ADDRESSES = ("info", "sales", "contact", "admin", "hello", "office", "support", "team")


def duplicate_suggestions(user, *, limit: int = 50) -> list[DuplicatePair]:
    """Likely duplicates among the leads `user` sees: same phone, same name at the same
    company domain, or the same email name with the same last name. One SQL statement
    (self-joins over the visible set), minus pairs a person said are different."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    try:
        visible, params = leads_visible_to(user).values("pk").query.sql_with_params()
    except EmptyResultSet:
        return []
    sql = f"""
        WITH v AS MATERIALIZED (
            SELECT id, phone, lower(first_name) AS fn, lower(last_name) AS ln, company_domain,
                   split_part(email, '@', 1) AS local
            FROM leads_lead WHERE id IN ({visible})
        ), pairs AS (
            SELECT a.id AS a_id, b.id AS b_id, 'same phone' AS reason
            FROM v a JOIN v b ON a.phone = b.phone AND a.id < b.id
            UNION ALL
            SELECT a.id, b.id, 'same name and company'
            FROM v a JOIN v b ON a.fn = b.fn AND a.ln = b.ln
                 AND a.company_domain = b.company_domain AND a.id < b.id
            WHERE a.fn <> '' AND a.ln <> '' AND a.company_domain <> ''
            UNION ALL
            SELECT a.id, b.id, 'similar email'
            FROM v a JOIN v b ON a.local = b.local AND a.ln = b.ln AND a.id < b.id
            WHERE length(a.local) >= 4 AND a.ln <> '' AND NOT (a.local = ANY(%s))
        )
        SELECT a_id, b_id, string_agg(DISTINCT reason, ', ' ORDER BY reason)
        FROM pairs p
        WHERE NOT EXISTS (
            SELECT 1 FROM leads_notduplicate n WHERE n.lead_a_id = a_id AND n.lead_b_id = b_id
        )
        GROUP BY a_id, b_id
        ORDER BY b_id DESC
        LIMIT %s
    """  # noqa: S608 - `visible` is SQL compiled by the ORM; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(_ROLE_ADDRESSES), limit])
        rows = cursor.fetchall()
    ids = {i for a, b, _ in rows for i in (a, b)}
    leads = Lead.objects.select_related("campaign", "owner").in_bulk(ids)
    return [DuplicatePair(leads[a], leads[b], reasons) for a, b, reasons in rows]
