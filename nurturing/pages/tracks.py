"""The tracks list and a track's page: its settings, steps (added, edited, reordered,
removed with htmx partials) and enrolment rules, with their figures."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import roles
from leads.models import EVENT_TYPES, Activity, Campaign, CustomField, Source
from leads.views.errors import domain_errors, field_errors, refused_partial
from nurturing import selectors
from nurturing.models import EnrolmentRule, Step, Template, Track
from nurturing.services import tracks
from scoring.conditions import FIELDS, OP_LABELS, OPS_BY_TYPE, field_labels
from scoring.forms import parse_value
from scoring.views import describe_test

STEP_INPUTS = (
    "amount",
    "unit",
    "business_days",
    "template",
    "test",
    "within_days",
    "min_engagement",
    "min_grade",
    "event_type",
    "then_step",
    "else_step",
)


@roles.marketing_required
def track_list(request):
    errors, data = {}, {}
    if request.method == "POST":
        data = request.POST
        with domain_errors(request, message=False) as outcome:
            track = tracks.create_track(
                name=data.get("name", ""),
                description=data.get("description", ""),
                now=timezone.now(),
            )
            messages.success(request, f"Created the track “{track.name}”: add its steps.")
            return redirect("nurture:track", pk=track.pk)
        errors = field_errors(outcome.error)
    return render(
        request,
        "nurturing/tracks.html",
        {"rows": selectors.tracks(), "errors": errors, "data": data},
        status=400 if errors else 200,
    )


def _condition_choices() -> dict:
    custom = list(CustomField.objects.all())
    labels = field_labels(custom)
    return {
        "op_hints": [
            (kind, ", ".join(OP_LABELS[op] for op in ops)) for kind, ops in OPS_BY_TYPE.items()
        ],
        "field_groups": [
            ("Lead fields", [(name, labels[name]) for name in FIELDS]),
            ("Custom fields", [(f"custom.{f.name}", f.label) for f in custom]),
        ],
        "ops": list(OP_LABELS.items()),
        "labels": labels,
    }


def _step_choices(track: Track) -> dict:
    return {
        "kinds": Step.Kind.choices,
        "units": Step.Unit.choices,
        "tests": Step.Test.choices,
        "grades": tracks.GRADES,
        "events": [(e, Activity.Kind(e).label) for e in EVENT_TYPES],
        "email_templates": Template.objects.only("name"),
    }


def _page_context(track: Track, **extra) -> dict:
    page = selectors.track_page(track)
    return {
        "track": track,
        "page": page,
        "sources": Source.choices,
        "campaigns": Campaign.objects.order_by("name").only("code", "name"),
        **_step_choices(track),
        **_condition_choices(),
        **extra,
    }


def describe_rule(rule: EnrolmentRule, labels: dict[str, str]) -> str:
    """Which leads a rule takes, in words."""
    parts = []
    if rule.source:
        parts.append(f"source {Source(rule.source).label}")
    if rule.campaign_id:
        parts.append(f"campaign {rule.campaign.name}")
    if rule.condition:
        parts.append(describe_test(rule.condition, labels))
    text = " and ".join(parts) or "no leads"
    return text + (", with email consent" if rule.consent_required else "")


@roles.marketing_required
def track_detail(request, pk: int):
    track = get_object_or_404(Track, pk=pk)
    errors = {}
    if request.method == "POST":
        with domain_errors(request, message=False) as outcome:
            track = tracks.update_track(
                track_id=track.pk,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                recycle=request.POST.get("recycle") == "on",
                now=timezone.now(),
            )
            messages.success(request, "Saved the track.")
            return redirect("nurture:track", pk=track.pk)
        errors = field_errors(outcome.error)
        track.refresh_from_db()
    context = _page_context(track, errors=errors)
    context["rules"] = [(r, describe_rule(r, context["labels"])) for r in context["page"].rules]
    return render(request, "nurturing/track.html", context, status=400 if errors else 200)


@roles.marketing_required
@require_POST
def track_active(request, pk: int):
    track = get_object_or_404(Track, pk=pk)
    active = request.POST.get("active") == "on"
    with domain_errors(request):
        tracks.set_active(track_id=track.pk, active=active, now=timezone.now())
        messages.success(
            request,
            "The track enrols leads now." if active else "The track enrols no new leads now.",
        )
    return redirect("nurture:track", pk=track.pk)


def _steps_answer(request, track: Track, *, error=None, errors=None, status=200):
    """The steps partial for htmx, else back to the track's page."""
    if not request.htmx:
        if error is not None:
            messages.error(request, error.message)
        return redirect("nurture:track", pk=track.pk)
    context = _page_context(track, step_errors=errors or {})
    if error is not None:
        return refused_partial(request, "nurturing/track.html#steps", context, error)
    return render(request, "nurturing/track.html#steps", context, status=status)


def _step_data(post) -> dict:
    return {key: post.get(key, "") for key in STEP_INPUTS}


@roles.marketing_required
@require_POST
def step_add(request, pk: int):
    track = get_object_or_404(Track, pk=pk)
    with domain_errors(request, message=False) as outcome:
        tracks.add_step(
            track_id=track.pk,
            kind=request.POST.get("kind", ""),
            data=_step_data(request.POST),
            now=timezone.now(),
        )
    error = outcome.error
    return _steps_answer(
        request, track, error=error, errors={"new": field_errors(error)} if error else None
    )


@roles.marketing_required
@require_POST
def step_edit(request, pk: int):
    step = get_object_or_404(Step.objects.select_related("track"), pk=pk)
    with domain_errors(request, message=False) as outcome:
        tracks.update_step(step_id=step.pk, data=_step_data(request.POST), now=timezone.now())
    error = outcome.error
    return _steps_answer(
        request, step.track, error=error, errors={step.pk: field_errors(error)} if error else None
    )


@roles.marketing_required
@require_POST
def step_move(request, pk: int):
    step = get_object_or_404(Step.objects.select_related("track"), pk=pk)
    raw = request.POST.get("position", "")
    if not raw.lstrip("-").isdigit():
        return redirect("nurture:track", pk=step.track_id)
    tracks.move_step(step_id=step.pk, position=int(raw), now=timezone.now())
    return _steps_answer(request, step.track)


@roles.marketing_required
def step_remove(request, pk: int):
    """Asks first (saying how many enrolments wait on the step and move on), then
    removes it."""
    step = get_object_or_404(Step.objects.select_related("track", "template"), pk=pk)
    if request.method == "POST":
        moved = tracks.remove_step(step_id=step.pk, now=timezone.now())
        text = f"Removed step {step.position}."
        if moved:
            text += f" {moved} enrolment{pluralize(moved)} moved on to the next step."
        messages.success(request, text)
        return redirect("nurture:track", pk=step.track_id)
    return render(
        request,
        "nurturing/step_remove.html",
        {
            "step": step,
            "waiting": selectors.waiting_on(step),
            "following": tracks.next_step(step),
        },
    )


def condition_from_post(post) -> dict | None:
    """The rule's condition from the form (scoring's condition language), or None."""
    field = post.get("field", "").strip()
    if not field:
        return None
    op = post.get("op", "") or "equals"
    condition = {"field": field, "op": op}
    if op == "range":
        for key in ("min", "max"):
            raw = post.get(key, "").strip()
            if raw:
                condition[key] = raw
    elif op != "is_set":
        condition["value"] = parse_value(op, post.get("value", ""))
    return condition


@roles.marketing_required
@require_POST
def rule_add(request, pk: int):
    track = get_object_or_404(Track, pk=pk)
    with domain_errors(request):
        rule = tracks.add_rule(
            track_id=track.pk,
            name=request.POST.get("name", ""),
            source=request.POST.get("source", ""),
            campaign=request.POST.get("campaign", ""),
            condition=condition_from_post(request.POST),
            consent_required=request.POST.get("consent_required") == "on",
            now=timezone.now(),
        )
        messages.success(request, f"Added the rule “{rule.name}”.")
    return redirect("nurture:track", pk=track.pk)


@roles.marketing_required
@require_POST
def rule_remove(request, pk: int):
    rule = get_object_or_404(EnrolmentRule, pk=pk)
    tracks.remove_rule(rule_id=rule.pk)
    messages.success(request, f"Removed the rule “{rule.name}”; enrolled leads stay.")
    return redirect("nurture:track", pk=rule.track_id)
