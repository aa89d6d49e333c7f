"""Building tracks: their steps (add, change, reorder, remove) and the rules that enrol
leads in them. A track in use can be edited: enrolments point at their step by
identity, so reordering moves nobody, and removing a step moves the enrolments waiting
on it to the step after it."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Max

from leads.exceptions import LeadFlowError
from leads.models import EVENT_TYPES, Campaign, Source
from nurturing.models import Enrolment, EnrolmentRule, Step, Template, Track
from scoring.conditions import DefinitionError, compile_condition

MAX_STEPS = 50
MAX_WAIT = {"hours": 24 * 365, "days": 365}
GRADES = ("A", "B", "C", "D")


def _name(value, *, what: str) -> str:
    name = (value or "").strip() if isinstance(value, str) else ""
    if not name:
        raise LeadFlowError(f"Give the {what} a name.", field="name")
    if len(name) > 200 or "\x00" in name:
        raise LeadFlowError("Use at most 200 characters, and no NUL character.", field="name")
    return name


def create_track(*, name: str, description: str = "", recycle: bool = False, now: datetime):
    name = _name(name, what="track")
    if Track.objects.filter(name=name).exists():
        raise LeadFlowError(f"A track called {name!r} exists already.", field="name")
    try:
        with transaction.atomic():
            return Track.objects.create(
                name=name,
                description=(description or "")[:5000],
                recycle=recycle,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        raise LeadFlowError("Only one track can be the recycle track.", field="recycle") from None


def update_track(
    *, track_id: int, name: str, description: str = "", recycle: bool = False, now: datetime
) -> Track:
    name = _name(name, what="track")
    if Track.objects.filter(name=name).exclude(pk=track_id).exists():
        raise LeadFlowError(f"A track called {name!r} exists already.", field="name")
    try:
        with transaction.atomic():
            track = Track.objects.select_for_update().get(pk=track_id)
            track.name, track.description, track.recycle = name, description[:5000], recycle
            track.updated_at = now
            track.save()
            return track
    except IntegrityError:
        raise LeadFlowError("Only one track can be the recycle track.", field="recycle") from None


def set_active(*, track_id: int, active: bool, now: datetime) -> Track:
    """Start or stop a track enrolling leads (enrolled leads carry on either way). A track
    with no email step cannot be started."""
    with transaction.atomic():
        track = Track.objects.select_for_update().get(pk=track_id)
        if active and not track.steps.filter(kind=Step.Kind.EMAIL).exists():
            raise LeadFlowError("Add an email step before starting the track.", field="active")
        track.active, track.updated_at = active, now
        track.save(update_fields=["active", "updated_at"])
        return track


def _int(value, *, field: str, low: int, high: int, label: str) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise LeadFlowError(f"Enter a whole number for {label}.", field=field) from None
    if not low <= number <= high:
        raise LeadFlowError(f"Use {low:,} to {high:,} for {label}.", field=field)
    return number


def _step_fields(track: Track, kind: str, data: dict) -> dict:
    """The stored fields of a step of `kind` from `data`, checked; blank for the rest."""
    fields = {
        "kind": kind,
        "amount": None,
        "unit": "",
        "business_days": False,
        "template": None,
        "test": "",
        "within_days": None,
        "min_engagement": None,
        "min_grade": "",
        "event_type": "",
        "then_step": None,
        "else_step": None,
    }
    if kind not in Step.Kind.values:
        raise LeadFlowError(f"{kind!r} is not a step (wait, email, branch, exit).", field="kind")
    if kind == Step.Kind.WAIT:
        unit = data.get("unit") or "days"
        if unit not in MAX_WAIT:
            raise LeadFlowError("Wait in hours or days.", field="unit")
        fields["unit"] = unit
        fields["amount"] = _int(
            data.get("amount"), field="amount", low=1, high=MAX_WAIT[unit], label="the wait"
        )
        fields["business_days"] = bool(data.get("business_days")) and unit == "days"
    elif kind == Step.Kind.EMAIL:
        chosen = str(data.get("template") or "")
        template = Template.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        if template is None:
            raise LeadFlowError("Choose the email's template.", field="template")
        fields["template"] = template
    elif kind == Step.Kind.BRANCH:
        test = data.get("test") or ""
        if test not in Step.Test.values:
            raise LeadFlowError("Choose what the branch tests.", field="test")
        fields["test"] = test
        if test in (Step.Test.OPENED, Step.Test.CLICKED):
            fields["within_days"] = _int(
                data.get("within_days"), field="within_days", low=1, high=365, label="the days"
            )
        elif test == Step.Test.ENGAGEMENT:
            fields["min_engagement"] = _int(
                data.get("min_engagement"),
                field="min_engagement",
                low=0,
                high=100_000,
                label="the engagement",
            )
        elif test == Step.Test.GRADE:
            if data.get("min_grade") not in GRADES:
                raise LeadFlowError("Choose a grade, A to D.", field="min_grade")
            fields["min_grade"] = data["min_grade"]
        else:
            if data.get("event_type") not in EVENT_TYPES:
                raise LeadFlowError(
                    f"Choose an event type ({', '.join(EVENT_TYPES)}).", field="event_type"
                )
            fields["event_type"] = data["event_type"]
        for key in ("then_step", "else_step"):
            target = data.get(key) or None
            if target is not None:
                step = track.steps.filter(pk=target).first() if str(target).isdigit() else None
                if step is None:
                    raise LeadFlowError("Go to a step of this track.", field=key)
                fields[key] = step
    return fields


def add_step(*, track_id: int, kind: str, data: dict, now: datetime, position: int | None = None):
    """A new step at the end of the track (or at `position`, moving later ones down)."""
    with transaction.atomic():
        track = Track.objects.select_for_update().get(pk=track_id)
        count = track.steps.count()
        if count >= MAX_STEPS:
            raise LeadFlowError(f"A track has at most {MAX_STEPS} steps.", field="kind")
        fields = _step_fields(track, kind, data)
        last = track.steps.aggregate(m=Max("position"))["m"]
        at = (last or 0) + 1 if position is None else max(1, min(position, (last or 0) + 1))
        track.steps.filter(position__gte=at).update(position=F("position") + 1)
        step = Step.objects.create(track=track, position=at, **fields)
        Track.objects.filter(pk=track.pk).update(updated_at=now)
        return step


def update_step(*, step_id: int, data: dict, now: datetime) -> Step:
    """Change a step's settings (its kind stays; enrolments on it stay on it)."""
    with transaction.atomic():
        step = Step.objects.select_for_update().select_related("track").get(pk=step_id)
        fields = _step_fields(step.track, step.kind, data)
        if step.pk in (
            getattr(fields["then_step"], "pk", None),
            getattr(fields["else_step"], "pk", None),
        ):
            raise LeadFlowError("A branch cannot go to itself.", field="then_step")
        for key, value in fields.items():
            setattr(step, key, value)
        step.save()
        Track.objects.filter(pk=step.track_id).update(updated_at=now)
        return step


def move_step(*, step_id: int, position: int, now: datetime) -> Step:
    """Put a step at `position` (1 = first), the others keeping their order."""
    with transaction.atomic():
        step = Step.objects.select_for_update().get(pk=step_id)
        ordered = list(
            Step.objects.select_for_update()
            .filter(track_id=step.track_id)
            .exclude(pk=step.pk)
            .order_by("position")
        )
        at = max(1, min(int(position), len(ordered) + 1))
        ordered.insert(at - 1, step)
        for i, each in enumerate(ordered, start=1):
            if each.position != i:
                Step.objects.filter(pk=each.pk).update(position=i)  # deferred unique check
        Track.objects.filter(pk=step.track_id).update(updated_at=now)
        step.refresh_from_db()
        return step


def next_step(step: Step) -> Step | None:
    """The step after `step` in its track's order, or None (the track ends)."""
    return (
        Step.objects.filter(track_id=step.track_id, position__gt=step.position)
        .order_by("position")
        .first()
    )


def remove_step(*, step_id: int, now: datetime) -> int:
    """Delete a step; enrolments waiting on it move to the step after it (or finish the
    track at the dispatcher's next pass). How many enrolments moved."""
    with transaction.atomic():
        step = Step.objects.select_for_update().get(pk=step_id)
        following = next_step(step)
        moved = Enrolment.objects.filter(step=step).update(step=following)
        Step.objects.filter(then_step=step).update(then_step=None)
        Step.objects.filter(else_step=step).update(else_step=None)
        step.delete()
        Step.objects.filter(track_id=step.track_id, position__gt=step.position).update(
            position=F("position") - 1
        )
        Track.objects.filter(pk=step.track_id).update(updated_at=now)
        return moved


def add_rule(
    *,
    track_id: int,
    name: str,
    now: datetime,
    source: str = "",
    campaign: str = "",
    condition: dict | None = None,
    consent_required: bool = True,
) -> EnrolmentRule:
    """An enrolment rule, tried after the existing ones: leads of `source` and/or
    `campaign` (a code) and/or matching `condition` (scoring's condition language) enter
    `track`. A rule needs at least one of the three."""
    name = _name(name, what="rule")
    if source and source not in Source.values:
        raise LeadFlowError(f"{source!r} is not a source channel.", field="source")
    found = None
    if campaign:
        found = Campaign.objects.filter(code=campaign).first()
        if found is None:
            raise LeadFlowError(f"No campaign has the code {campaign!r}.", field="campaign")
    if condition:
        try:
            compile_condition(condition, now=now, what="The condition")
        except DefinitionError as exc:
            raise LeadFlowError(str(exc), field="condition") from None
    if not (source or found or condition):
        raise LeadFlowError("Say which leads: a source, a campaign or a condition.", field="source")
    with transaction.atomic():
        track = Track.objects.select_for_update().get(pk=track_id)
        last = EnrolmentRule.objects.aggregate(m=Max("position"))["m"] or 0
        return EnrolmentRule.objects.create(
            track=track,
            name=name,
            source=source,
            campaign=found,
            condition=condition or None,
            consent_required=consent_required,
            position=last + 1,
        )


def remove_rule(*, rule_id: int) -> None:
    EnrolmentRule.objects.filter(pk=rule_id).delete()
