"""A lead's one timeline and stage history, as pages show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from leads.models import Activity, Lead, StageChange
from leads.models.leads import ACTIVITY_TITLES


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
            title=_activity_title(a),
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


def _activity_title(activity: Activity) -> str:
    """The kind's label, or what the app that registered the kind says of this entry."""
    title = ACTIVITY_TITLES.get(activity.kind)
    return title(activity.data or {}) if title is not None else activity.label


def _shown(value) -> str:
    return "∅" if value in (None, "") else str(value)


# How the timeline names a capture's channel.
CHANNELS = {"web_form": "Web form", "api": "API", "import": "Import", "manual": "entry by hand"}


def _activity_detail(activity: Activity) -> str:
    data = activity.data or {}
    if activity.kind == Activity.Kind.CAPTURED:
        channel = CHANNELS.get(data.get("channel", ""), data.get("channel") or "?")
        # The latest campaign follows every capture; it is no field the capture filled.
        filled = [name for name in data.get("filled", []) if name != "latest_campaign"]
        return f"{channel} filled: {', '.join(filled)}" if filled else f"via {channel}"
    if activity.kind == Activity.Kind.ASSIGNED:
        return f"to {data.get('owner') or 'nobody'}"
    return ""
