"""Nurturing's reads: the tracks' and steps' figures, the outbox, a lead's emails.

Every figure is one aggregate query over the outbox (`Send`) or the enrolments, grouped
by track or by step — never a query per row — so a page's query count does not grow
with its tracks, steps or sends.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet

from leadflow import business_time
from leads.models import Lead
from nurturing.models import Enrolment, EnrolmentRule, Send, Step, Track
from nurturing.services.dispatch import calendar_of

# Complaints above this share of sends put a track at risk with mail providers.
COMPLAINT_WARNING = 0.001
OUTBOX_PAGE = 50


@dataclass
class Figures:
    """What happened in a track or at one step."""

    enrolled: int = 0  # enrolments ever (a step: enrolments now waiting on it)
    active: int = 0
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    complained: int = 0
    capped: int = 0  # sends the frequency cap deferred at least once
    mql: int = 0  # enrolments that ended because the lead became MQL

    def rate(self, part: int) -> str:
        return f"{100 * part / self.sent:.1f} %" if self.sent else "–"

    @property
    def open_rate(self) -> str:
        return self.rate(self.opened)

    @property
    def click_rate(self) -> str:
        return self.rate(self.clicked)

    @property
    def complaint_rate(self) -> str:
        return self.rate(self.complained)

    @property
    def too_many_complaints(self) -> bool:
        return bool(self.sent) and self.complained / self.sent > COMPLAINT_WARNING

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_SEND_COUNTS = {
    "sent": Count("id", filter=Q(status=Send.Status.SENT)),
    "opened": Count("id", filter=Q(opened_at__isnull=False)),
    "clicked": Count("id", filter=Q(clicked_at__isnull=False)),
    "unsubscribed": Count("id", filter=Q(unsubscribed_at__isnull=False)),
    "bounced": Count("id", filter=Q(bounced_at__isnull=False)),
    "complained": Count("id", filter=Q(complained_at__isnull=False)),
    "capped": Count("id", filter=Q(capped=True)),
}


def _figures(by: str, *, track_id: int | None = None) -> dict[int, Figures]:
    """Figures keyed by track (`by="track"`) or by step (`by="step"`, of one track):
    two grouped queries."""
    sends = Send.objects.all()
    enrolments = Enrolment.objects.all()
    if track_id is not None:
        sends, enrolments = sends.filter(track_id=track_id), enrolments.filter(track_id=track_id)
    found: dict[int, Figures] = {}
    for row in sends.exclude(**{f"{by}_id": None}).values(f"{by}_id").annotate(**_SEND_COUNTS):
        key = row.pop(f"{by}_id")
        found[key] = Figures(**row)
    counts = {
        "enrolled": Count("id", filter=Q(status=Enrolment.Status.ACTIVE) if by == "step" else None),
        "active": Count("id", filter=Q(status=Enrolment.Status.ACTIVE)),
        "mql": Count("id", filter=Q(exit_reason=Enrolment.Exit.MQL)),
    }
    for row in enrolments.exclude(**{f"{by}_id": None}).values(f"{by}_id").annotate(**counts):
        figures = found.setdefault(row.pop(f"{by}_id"), Figures())
        for key, value in row.items():
            setattr(figures, key, value)
    return found


@dataclass(frozen=True)
class TrackRow:
    track: Track
    figures: Figures
    steps: int
    rules: int


def tracks() -> list[TrackRow]:
    """Every track with its figures: three queries."""
    listed = Track.objects.annotate(
        step_count=Count("steps", distinct=True),
        rule_count=Count("rules", filter=Q(rules__active=True), distinct=True),
    )
    figures = _figures("track")
    return [TrackRow(t, figures.get(t.pk, Figures()), t.step_count, t.rule_count) for t in listed]


@dataclass(frozen=True)
class StepRow:
    step: Step
    figures: Figures


@dataclass(frozen=True)
class TrackPage:
    track: Track
    figures: Figures
    steps: list[StepRow]
    rules: list[EnrolmentRule]


def track_page(track: Track) -> TrackPage:
    """A track's steps and rules with the figures of the track and of each step."""
    steps = list(
        track.steps.select_related("template", "then_step", "else_step").order_by("position")
    )
    by_step = _figures("step", track_id=track.pk)
    return TrackPage(
        track=track,
        figures=_figures("track", track_id=track.pk).get(track.pk, Figures()),
        steps=[StepRow(s, by_step.get(s.pk, Figures())) for s in steps],
        rules=list(track.rules.select_related("campaign").order_by("position", "id")),
    )


def all_track_pages() -> list[TrackPage]:
    """Every track's page (the API's `/tracks/`): five queries however many tracks."""
    listed = Track.objects.prefetch_related(
        Prefetch("steps", queryset=Step.objects.select_related("template").order_by("position")),
        Prefetch("rules", queryset=EnrolmentRule.objects.select_related("campaign")),
    )
    by_track, by_step = _figures("track"), _figures("step")
    return [
        TrackPage(
            track=t,
            figures=by_track.get(t.pk, Figures()),
            steps=[StepRow(s, by_step.get(s.pk, Figures())) for s in t.steps.all()],
            rules=list(t.rules.all()),
        )
        for t in listed
    ]


def waiting_on(step: Step) -> int:
    """Active enrolments whose next step is `step` (they move on if it is removed)."""
    return Enrolment.objects.filter(step=step, status=Enrolment.Status.ACTIVE).count()


OUTBOX_VIEWS = {
    "failed": ("Failed", Q(status=Send.Status.FAILED)),
    "deferred": ("Deferred", Q(status=Send.Status.QUEUED) & ~Q(deferred="")),
}


def outbox(view: str) -> QuerySet[Send]:
    """The outbox rows someone should look at: `failed` (gave up; retry them) or
    `deferred` (waiting, with the reason), oldest due first."""
    _label, test = OUTBOX_VIEWS[view]
    order = ["not_before", "id"] if view == "deferred" else ["-created_at", "-id"]
    return (
        Send.objects.filter(test)
        .select_related("lead", "track", "step", "template")
        .order_by(*order)
    )


def outbox_counts() -> dict[str, int]:
    return Send.objects.aggregate(
        **{view: Count("id", filter=test) for view, (_label, test) in OUTBOX_VIEWS.items()}
    )


def lead_sends(lead: Lead) -> QuerySet[Send]:
    """A lead's nurture emails, newest first (the API's `/leads/{id}/emails/`)."""
    return lead.sends.select_related("track", "template").order_by("-created_at", "-id")


@dataclass(frozen=True)
class NurturePanel:
    enrolment: Enrolment | None
    next_send: datetime | None  # in the lead's local time
    next_step_at: datetime | None  # in the lead's local time
    zone: str
    sends: list[Send]


def nurture_panel(lead: Lead, *, limit: int = 20) -> NurturePanel | None:
    """The lead page's nurture panel: the track and step it is on, the next email's time
    and the next step's in the lead's local time, and its emails with their opens and
    clicks. None when the lead was never nurtured. Three queries."""
    enrolment = (
        lead.enrolments.select_related("track", "step", "step__template")
        .order_by("-enrolled_at", "-id")
        .first()
    )
    sends = list(lead.sends.select_related("track").order_by("-created_at", "-id")[:limit])
    if enrolment is None and not sends:
        return None
    calendar = calendar_of(lead)
    queued = [s.not_before for s in sends if s.status == Send.Status.QUEUED]
    active = enrolment is not None and enrolment.status == Enrolment.Status.ACTIVE
    return NurturePanel(
        enrolment=enrolment,
        next_send=business_time.local(calendar, min(queued)) if queued else None,
        next_step_at=(
            business_time.local(calendar, enrolment.due_at)
            if active and enrolment.due_at is not None
            else None
        ),
        zone=calendar.time_zone,
        sends=sends,
    )
