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


@dataclass(frozen=True)
class Duplicates:
    pairs: list[DuplicatePair]
    checked_from: int | None  # the oldest lead id checked, when older leads remain to check


# Local parts of email addresses that say nothing about the person.
_ROLE_ADDRESSES = ("info", "sales", "contact", "admin", "hello", "office", "support", "team")
# How many of the newest leads one look at the duplicates compares with all older ones.
DUPLICATE_WINDOW = 100_000


def duplicate_suggestions(
    user, *, limit: int = 50, before: int | None = None, window: int | None = None
) -> Duplicates:
    """Likely duplicates among the leads `user` sees: same phone, same name at the same
    company domain, or the same email name with the same last name, minus pairs a person
    said are different. Each of the newest `window` leads (below id `before`) is looked
    up against every older lead through indexes, newest first, stopping at `limit`
    pairs: the cost follows the window, never the square of the table."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    try:
        visible, params = leads_visible_to(user).values("pk").query.sql_with_params()
    except EmptyResultSet:
        return Duplicates([], None)
    below = before if before is not None else 2**63 - 1
    window = window or DUPLICATE_WINDOW
    # `visible` is SQL compiled by the ORM; values travel as parameters.
    low_sql = (
        f"SELECT min(id) FROM (SELECT id FROM ({visible}) v(id) WHERE id < %s "  # noqa: S608
        "ORDER BY id DESC LIMIT %s) w"
    )
    older_sql = f"SELECT EXISTS (SELECT 1 FROM ({visible}) v(id) WHERE id < %s)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(low_sql, [*params, below, window])
        (low,) = cursor.fetchone()
        if low is None:
            return Duplicates([], None)
        cursor.execute(older_sql, [*params, low])
        (older,) = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT p.a_id, b.id, p.reasons
            FROM leads_lead b
            CROSS JOIN LATERAL (
                SELECT m.a_id, string_agg(DISTINCT m.reason, ', ' ORDER BY m.reason) AS reasons
                FROM (
                    SELECT a.id AS a_id, 'same phone' AS reason FROM leads_lead a
                    WHERE a.phone = b.phone AND a.id < b.id
                    UNION ALL
                    SELECT a.id, 'same name and company' FROM leads_lead a
                    WHERE lower(a.first_name) = lower(b.first_name)
                      AND lower(a.last_name) = lower(b.last_name)
                      AND a.company_domain = b.company_domain AND a.id < b.id
                      AND b.first_name <> '' AND b.last_name <> '' AND b.company_domain <> ''
                    UNION ALL
                    SELECT a.id, 'similar email' FROM leads_lead a
                    WHERE split_part(a.email, '@', 1) = split_part(b.email, '@', 1)
                      AND lower(a.last_name) = lower(b.last_name) AND a.id < b.id
                      AND length(split_part(b.email, '@', 1)) >= 4 AND b.last_name <> ''
                      AND NOT (split_part(b.email, '@', 1) = ANY(%s))
                ) m
                WHERE m.a_id IN ({visible})
                  AND NOT EXISTS (SELECT 1 FROM leads_notduplicate n
                                  WHERE n.lead_a_id = m.a_id AND n.lead_b_id = b.id)
                GROUP BY m.a_id
            ) p
            WHERE b.id >= %s AND b.id < %s AND b.id IN ({visible})
            ORDER BY b.id DESC, p.a_id DESC
            LIMIT %s
            """,  # noqa: S608 - `visible` is SQL compiled by the ORM; values are parameters
            [list(_ROLE_ADDRESSES), *params, low, below, *params, limit],
        )
        rows = cursor.fetchall()
    ids = {i for a, b, _ in rows for i in (a, b)}
    leads = Lead.objects.select_related("campaign", "owner").in_bulk(ids)
    pairs = [DuplicatePair(leads[a], leads[b], reasons) for a, b, reasons in rows]
    return Duplicates(pairs, low if older else None)
