"""Scoring pages: the lead definition (everyone reads it), its editor with the what-if
(marketing), and a rescoring run's progress."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import roles
from leads.models import EVENT_TYPES, Activity, CustomField
from scoring import forms, selectors, services
from scoring.models import RescoreRun, ScoringModel
from scoring.rules import (
    DEFAULT_DEFINITION,
    FIELDS,
    GRADES,
    OP_LABELS,
    DefinitionError,
    field_labels,
)


def _choices():
    custom = list(CustomField.objects.all())
    labels = field_labels(custom)
    return {
        "field_names": list(labels),
        "field_groups": [
            ("Lead fields", [(name, labels[name]) for name in FIELDS]),
            ("Custom fields", [(f"custom.{f.name}", f.label) for f in custom]),
        ],
        "ops": list(OP_LABELS.items()),
        "grades": GRADES,
        "events": [(e, Activity.Kind(e).label) for e in EVENT_TYPES],
    }


def _shown(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return "–" if value is None else str(value)


def describe_test(rule: dict, labels: dict[str, str]) -> str:
    """A rule's test in words: "Company size between 200 and 2000", "Title contains “VP”"."""
    name = rule.get("field")
    field = labels.get(name) or f"{name} (no such field)"
    op, value, low, high = (rule.get(key) for key in ("op", "value", "min", "max"))
    if op == "range":
        if low is not None and high is not None:
            return f"{field} between {low} and {high}"
        return f"{field} ≥ {low}" if low is not None else f"{field} ≤ {high}"
    if op == "is_set":
        return f"{field} is set"
    if op == "in":
        return f"{field} is one of {_shown(value)}"
    if op == "contains":
        return f"{field} contains “{value}”"
    if isinstance(value, str):
        return f"{field} is “{value}”"
    return f"{field} is {_shown(value)}"


def _described(definition: dict) -> dict:
    """The definition with each rule's and disqualification rule's test in words."""
    labels = field_labels(CustomField.objects.all())
    return {
        **definition,
        **{
            part: [{**r, "test": describe_test(r, labels)} for r in definition.get(part) or []]
            for part in ("rules", "disqualify")
        },
    }


@login_required
def overview(request):
    model = services.active_model()
    return render(
        request,
        "scoring/overview.html",
        {
            "model": model,
            "definition": _described(model.definition) if model else None,
            "engagement": [
                (Activity.Kind(e["event"]).label, e["points"], e.get("cap"))
                for e in (model.definition.get("engagement") or [] if model else [])
            ],
            "versions": ScoringModel.objects.all()[:20],
            "can_edit": roles.sees_all_leads(request.user),
            "last_run": RescoreRun.objects.select_related("model").first(),
        },
    )


@roles.marketing_required
def edit(request):
    model = services.active_model()
    errors, definition = {}, (model.definition if model else DEFAULT_DEFINITION)
    if request.method == "POST":
        definition = forms.definition_from_post(request.POST)
        try:
            new = services.create_version(
                definition=definition,
                note=request.POST.get("note", ""),
                by=request.user,
                now=timezone.now(),
            )
        except DefinitionError as exc:
            errors = exc.errors
        else:
            messages.success(request, f"Saved as version {new.version}: rescoring every lead.")
            return redirect("scoring:run", pk=new.runs.get().pk)
    return render(
        request,
        "scoring/edit.html",
        {"model": model, "rows": forms.rows(definition), "errors": errors, **_choices()},
        status=400 if errors else 200,
    )


@roles.marketing_required
@require_POST
def what_if(request):
    definition = forms.definition_from_post(request.POST)
    try:
        result = selectors.what_if(definition, now=timezone.now())
    except DefinitionError as exc:
        return render(request, "scoring/what_if.html", {"errors": exc.errors}, status=400)
    return render(request, "scoring/what_if.html", {"result": result})


@login_required
def run(request, pk: int):
    run = get_object_or_404(RescoreRun.objects.select_related("model"), pk=pk)
    template = "scoring/run.html#progress" if request.htmx else "scoring/run.html"
    return render(request, template, {"run": run})


def _chart_labels(moments: list) -> list[str]:
    """Local dates, or dates and times when the history spans less than three days."""
    if not moments:
        return []
    short = (moments[-1] - moments[0]).total_seconds() < 3 * 86400
    pattern = "%b %d %H:%M" if short else "%Y-%m-%d"
    return [timezone.localtime(moment).strftime(pattern) for moment in moments]


@login_required
def lead_panel(request, pk: int):
    """The score panel of a lead's page (loaded into it with htmx): the explanation and
    the score history chart."""
    from leads.selectors import leads_visible_to

    lead = get_object_or_404(leads_visible_to(request.user), pk=pk)
    now = timezone.now()
    history = selectors.score_history(lead)
    return render(
        request,
        "scoring/lead_panel.html",
        {
            "lead": lead,
            "explanation": selectors.explain(lead, now=now),
            "chart": {
                "labels": _chart_labels([p.at for p in history]),
                "scores": [p.score for p in history],
                "fits": [p.fit for p in history],
            },
        },
    )
