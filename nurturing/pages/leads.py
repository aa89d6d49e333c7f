"""What nurturing adds to the leads app's pages (registered in apps.py): the nurture
panel of a lead's page, the "Enrol in a track" bulk action of the lead list, and how
its timeline entries read."""

from __future__ import annotations

from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string

from leads import bulk_actions, panels, roles
from leads.bulk_actions import BulkChange
from leads.exceptions import LeadFlowError
from nurturing import selectors
from nurturing.models import Step, Track
from nurturing.services import enrolment


def nurture_panel(lead, request, now) -> dict | None:
    """The lead's track, step, next send in its local time and its emails (three
    queries); nothing for a lead never nurtured. The lead page is scoped already: whoever
    sees the lead sees its panel."""
    panel = selectors.nurture_panel(lead)
    return None if panel is None else {"nurture": panel}


def _track_select(request) -> str:
    return render_to_string(
        "nurturing/bulk_inputs.html",
        {"tracks": Track.objects.filter(steps__isnull=False).distinct().only("name")},
        request=request,
    )


def _enrol_change(request) -> BulkChange:
    raw = request.POST.get("track", "")
    track = Track.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if track is None:
        raise LeadFlowError("Choose a track to enrol the leads in; nothing was changed.")
    by = request.user

    def enrol(leads, now):
        count = enrolment.enrol_leads(leads=leads, track_id=track.pk, now=now, by=by)
        total = leads.count()
        text = f"Enrolled {count} lead{pluralize(count)} in “{track.name}”"
        if total > count:
            text += f"; {total - count} were in a track already or cannot be nurtured"
        return f"{text}."

    return BulkChange("Enrol", f" in the track “{track.name}”", enrol)


def exited_title(data: dict) -> str:
    return f"Left the track “{data.get('name', '')}”: {data.get('label', '')}".rstrip(": ")


def step_title(data: dict) -> str:
    kind = data.get("kind", "")
    label = Step.Kind(kind).label if kind in Step.Kind.values else kind
    return f"Nurture step: {label}" if label else "Nurture step"


def register() -> None:
    """Called from NurturingConfig.ready()."""
    panels.register(
        "nurture", template="nurturing/lead_panel.html", context=nurture_panel, order=20
    )
    bulk_actions.register(
        "enrol",
        label="Enrol in a track",
        change=_enrol_change,
        inputs=_track_select,
        carried=("track",),
        allowed=roles.sees_all_leads,
    )
