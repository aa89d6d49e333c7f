"""Scoring pages: the lead definition (everyone reads it), its versions and what changed
between them, its editor with the what-if and restoring an older version (marketing),
a rescoring run's progress, and the predictive model (marketing; managers read it)."""

from __future__ import annotations

import copy

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import roles
from leads.models import EVENT_TYPES, Activity, CustomField
from leads.views.errors import domain_errors, field_errors, refused_partial
from scoring import forms, selectors, services
from scoring.conditions import FIELDS, OP_LABELS, field_labels
from scoring.models import PredictiveModel, RescoreRun, ScoringModel, TrainingRun
from scoring.predictive import suggestions
from scoring.rules import DEFAULT_DEFINITION, GRADES
from scoring.services import predictive as predictive_services


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


def _engagement_rows(definition: dict) -> list[tuple]:
    return [
        (Activity.Kind(e["event"]).label, e["points"], e.get("cap"))
        for e in definition.get("engagement") or []
    ]


@login_required
def overview(request):
    model = services.active_model()
    return render(
        request,
        "scoring/overview.html",
        {
            "model": model,
            "definition": _described(model.definition) if model else None,
            "engagement": _engagement_rows(model.definition) if model else [],
            "versions": ScoringModel.objects.all()[:20],
            "can_edit": roles.sees_all_leads(request.user),
            "can_see_predictive": _may_view_predictive(request.user),
            "last_run": RescoreRun.objects.select_related("model").first(),
        },
    )


# How the changes between versions read: each part's name, and each key's.
PART_NAMES = {
    "rules": "rule",
    "engagement": "engagement points for",
    "grades": "grade",
    "disqualify": "disqualification rule",
    "half_life_days": "the half-life",
    "mql": "the MQL rule",
}
KEY_NAMES = {
    "field": "field",
    "op": "test",
    "value": "value",
    "min": "minimum",
    "max": "maximum",
    "points": "points",
    "applies_to": "counts toward",
    "cap": "cap per 30 days",
    "min_fit": "minimum fit",
    "min_grade": "minimum grade",
    "min_engagement": "minimum engagement",
    "need_known": "BANT need known",
}


def _value_text(key: str, value, labels: dict[str, str]) -> str:
    if key == "field":
        return labels.get(value) or f"{value} (no such field)"
    if key == "op":
        return OP_LABELS.get(value, str(value))
    return "none" if value is None else _shown(value)


def _item_text(part: str, item: dict, labels: dict[str, str]) -> str:
    """An added or removed item in words."""
    if part == "engagement":
        cap = item.get("cap")
        text = f"{item.get('points')} points"
        return text + (f", cap {cap} per 30 days" if cap is not None else ", no cap")
    if part == "grades":
        minimum = item.get("min_fit")
        return "the rest" if minimum is None else f"from fit {minimum}"
    text = describe_test(item, labels)
    if part == "rules":
        points = selectors.plain_value(item.get("points"))
        shown = f"{points:+}" if isinstance(points, int | float) else points
        text += f", {shown} {item.get('applies_to') or 'fit'}"
    return text


def change_text(change: dict, labels: dict[str, str]) -> str:
    """One change between versions in words: "Changed rule “VP title”: points 15 → 30"."""
    part, name = change["part"], change["name"]
    what = PART_NAMES[part]
    if part == "engagement" and name in EVENT_TYPES:
        what += f" {Activity.Kind(name).label}"
    elif part in ("rules", "disqualify"):
        what += f" “{name}”"
    elif part == "grades":
        what += f" {name}"
    if change["change"] == "added":
        return f"Added {what}: {_item_text(part, change['item'], labels)}"
    if change["change"] == "removed":
        return f"Removed {what} ({_item_text(part, change['item'], labels)})"
    if part == "half_life_days":
        field = change["fields"][0]
        return f"Changed {what}: {_shown(field['old'])} → {_shown(field['new'])} days"
    details = "; ".join(
        f"{KEY_NAMES.get(f['field'], f['field'])} {_value_text(f['field'], f['old'], labels)}"
        f" → {_value_text(f['field'], f['new'], labels)}"
        for f in change["fields"]
    )
    return f"Changed {what}: {details}"


def _changes(old: dict, new: dict, labels: dict[str, str]) -> list[dict]:
    return [
        {"change": c["change"], "text": change_text(c, labels)}
        for c in selectors.definition_changes(old, new)
    ]


@login_required
def versions(request):
    """Every version, newest first, each with what changed since the one before it."""
    models = list(ScoringModel.objects.select_related("created_by"))
    labels = field_labels(CustomField.objects.all())
    history = [
        {
            "model": model,
            "changes": _changes(older.definition, model.definition, labels) if older else None,
        }
        for model, older in zip(models, [*models[1:], None], strict=True)
    ]
    return render(
        request,
        "scoring/versions.html",
        {"history": history, "can_edit": roles.sees_all_leads(request.user)},
    )


@login_required
def version(request, version: int):
    """One version's definition and what changed from another one (`against`; by
    default the version before it, or for the first one the active one) to it."""
    model = get_object_or_404(ScoringModel.objects.select_related("created_by"), version=version)
    others = ScoringModel.objects.exclude(pk=model.pk).only("version", "is_active")
    against = request.GET.get("against", "")
    if against.isdigit():
        other = get_object_or_404(others, version=int(against))
    else:
        other = (
            others.filter(version__lt=model.version).order_by("-version").first()
            or others.filter(is_active=True).first()
        )
    labels = field_labels(CustomField.objects.all())
    return render(
        request,
        "scoring/version.html",
        {
            "model": model,
            "definition": _described(model.definition),
            "engagement": _engagement_rows(model.definition),
            "other": other,
            "others": others,
            "changes": _changes(other.definition, model.definition, labels) if other else None,
            "can_edit": roles.sees_all_leads(request.user),
        },
    )


@roles.marketing_required
@require_POST
def restore(request, version: int):
    """Restore an older version: a NEW version equal to it, made active and rescoring
    every lead (services.create_version)."""
    model = get_object_or_404(ScoringModel, version=version)
    if model.is_active:
        messages.info(request, f"Version {version} is the active version already.")
        return redirect("scoring:version", version=version)
    with domain_errors(request, message=False) as outcome:
        new = services.create_version(
            definition=copy.deepcopy(model.definition),
            note=f"Restored version {version}",
            by=request.user,
            now=timezone.now(),
        )
        messages.success(
            request, f"Version {version} restored as version {new.version}: rescoring."
        )
        return redirect("scoring:run", pk=new.runs.get().pk)
    messages.error(
        request, f"Version {version} cannot be used as it is ({outcome.error.message}): edit it."
    )
    return redirect("scoring:version", version=version)


def _suggested(request, definition: dict) -> tuple[dict, dict | None]:
    """The definition with the suggestion `?suggestion=<key>` of the latest predictive
    model applied (and the suggestion), or as it is when there is none by that key."""
    key = request.GET.get("suggestion")
    latest = PredictiveModel.objects.only("suggestions").first()
    if not key or latest is None:
        return definition, None
    found = next((s for s in latest.suggestions if s["key"] == key), None)
    if found is None:
        messages.error(request, "That suggestion is no longer there: train again.")
        return definition, None
    return suggestions.apply(definition, found["change"]), found


@roles.marketing_required
def edit(request):
    model = services.active_model()
    errors, definition = {}, (model.definition if model else DEFAULT_DEFINITION)
    suggestion = None
    if request.method == "GET":
        definition, suggestion = _suggested(request, definition)
    if request.method == "POST":
        definition = forms.definition_from_post(request.POST)
        with domain_errors(request, message=False) as outcome:
            new = services.create_version(
                definition=definition,
                note=request.POST.get("note", ""),
                by=request.user,
                now=timezone.now(),
            )
            messages.success(request, f"Saved as version {new.version}: rescoring every lead.")
            return redirect("scoring:run", pk=new.runs.get().pk)
        errors = field_errors(outcome.error)
    return render(
        request,
        "scoring/edit.html",
        {
            "model": model,
            "rows": forms.rows(definition),
            "errors": forms.error_places(errors),
            "suggestion": suggestion,
            **_choices(),
        },
        status=400 if errors else 200,
    )


@roles.marketing_required
@require_POST
def what_if(request):
    definition = forms.definition_from_post(request.POST)
    with domain_errors(request, message=False) as outcome:
        result = selectors.what_if(definition, now=timezone.now())
    if outcome.refused:
        places = getattr(outcome.error, "errors", None)
        errors = forms.error_places(places) if places else field_errors(outcome.error)
        return refused_partial(request, "scoring/what_if.html", {"errors": errors}, outcome.error)
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
            "predictive": predictive_services.explain(lead, now=now),
            "chart": {
                "labels": _chart_labels([p.at for p in history]),
                "scores": [p.score for p in history],
                "fits": [p.fit for p in history],
            },
        },
    )


def _may_view_predictive(user) -> bool:
    return roles.sees_all_leads(user) or roles.MANAGER in roles.group_names(user)


@login_required
def predictive(request):
    """The predictive model: its status, its evaluation beside the rule score, its
    calibration and factors, the rule suggestions, and training again (marketing)."""
    if not _may_view_predictive(request.user):
        raise PermissionDenied("Only marketing and managers see the predictive model.")
    found = selectors.predictive_status()
    return render(
        request,
        "scoring/predictive.html",
        {
            **found,
            "can_train": roles.sees_all_leads(request.user),
            "runs": TrainingRun.objects.select_related("requested_by")[:5],
        },
    )


@login_required
def predictive_run(request, pk: int):
    """A training run's progress (polled by the page with htmx); once it ended, the
    page is loaded again to show what it learned."""
    if not _may_view_predictive(request.user):
        raise PermissionDenied("Only marketing and managers see the predictive model.")
    run = get_object_or_404(TrainingRun, pk=pk)
    if request.htmx and not run.under_way:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "scoring/predictive.html#run", {"run": run})


@roles.marketing_required
@require_POST
def predictive_train(request):
    run = predictive_services.request_training(by=request.user, now=timezone.now())
    if run.requested_by_id != request.user.pk or run.status != TrainingRun.Status.PENDING:
        messages.info(request, "A training is under way already: this is its progress.")
    else:
        messages.success(request, "Training again: this page follows its progress.")
    return redirect("scoring:predictive")
