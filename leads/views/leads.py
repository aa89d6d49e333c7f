"""A lead's page and its actions: edit, log a touch, move its stage."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import panels, selectors, services
from leads.api.serializers import LeadSerializer
from leads.models import (
    Activity,
    ConsentStatus,
    CustomField,
    Lead,
    Stage,
)
from leads.services import stages
from leads.views.errors import domain_errors, refused_partial

EDIT_FIELDS = [
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("phone", "Phone"),
    ("title", "Title"),
    ("company", "Company"),
    ("website", "Website"),
    ("company_size", "Company size"),
    ("industry", "Industry"),
    ("country", "Country (ISO code)"),
    ("time_zone", "Time zone (e.g. Europe/Berlin)"),
    ("budget", "Budget"),
    ("authority", "Authority (decides the purchase)"),
    ("need", "Need"),
    ("timeline", "Timeline"),
    ("consent", "Marketing-email consent"),
]
# Form names that are not the model field's (the lead JSON's name: `consent`).
EDIT_SOURCES = {"consent": "consent_status"}
# How a row is typed (absent: a text box); choices are (value, label) pairs.
EDIT_TYPES = {
    "budget": {"type": "number"},
    "authority": {"type": "bool"},
    "consent": {"type": "choice", "choices": ConsentStatus.choices, "required": True},
}


NULLABLE_FIELDS = {"email", "phone", "company_size", "budget", "authority"}


def _visible_lead(request, pk):
    return get_object_or_404(selectors.lead_list(request.user), pk=pk)


def field_rows(lead, data=None, errors=None, *, fields=EDIT_FIELDS, types=None):
    """A lead form's rows (the edit page's, the New lead page's): standard `fields`
    (name, label) typed by `types` (default EDIT_TYPES), then custom fields by type;
    values from `data` (the form sent) or else the lead."""
    errors = errors or {}
    types = EDIT_TYPES if types is None else types
    custom_errors = errors.get("custom", {}) if isinstance(errors.get("custom"), dict) else {}
    rows = []
    for name, label in fields:
        if data is not None:
            value = data.get(name, "")
        else:
            value = getattr(lead, EDIT_SOURCES.get(name, name))
            value = "" if value is None else value
        rows.append(
            {"name": name, "label": label, "value": value, "errors": errors.get(name, []),
             **types.get(name, {})}
        )  # fmt: skip
    for field in CustomField.objects.all():
        key = f"custom.{field.name}"
        value = data.get(key, "") if data is not None else lead.custom.get(field.name, "")
        rows.append(
            {
                "name": key,
                "label": field.label,
                "value": value,
                "type": field.type,
                "choices": [(choice, choice) for choice in field.choices],
                # A value whose choice was removed stays readable and kept when left alone.
                "stale": field.type == CustomField.Type.CHOICE
                and value not in ("", None)
                and value not in field.choices,
                "errors": custom_errors.get(field.name, []),
            }
        )
    return rows


@login_required
def lead_detail(request, pk: int):
    merged = Lead.objects.filter(pk=pk, merged_into__isnull=False).only("merged_into").first()
    if (
        merged
        and selectors.leads_visible_to(request.user).filter(pk=merged.merged_into_id).exists()
    ):
        messages.info(request, "That lead was merged into this one.")
        return redirect("leads:detail", pk=merged.merged_into_id)
    lead = _visible_lead(request, pk)
    context = {
        **_activity_context(lead),
        "custom_values": _custom_values(lead),
        "merges": lead.merges_kept.filter(undone_at__isnull=True).select_related("merged"),
        **_stage_form(lead, request.user),
        "panels": panels.render_panels(lead, request, now=timezone.now()),
    }
    return render(request, "leads/lead_detail.html", context)


def _stage_form(lead, user) -> dict:
    """The stage form: the moves the stage machine allows this user, each saying whether
    it needs a reason, and the reason field's hint (empty when no move is allowed)."""
    moves = [
        {
            "stage": to,
            "label": Stage(to).label,
            "needs_reason": stages.needs_reason(lead.stage, to, stages.Mover.PERSON),
        }
        for to in stages.allowed_moves(lead, by=user)
    ]
    needing = sum(move["needs_reason"] for move in moves)
    if not needing:
        hint = "Reason (optional)"
    elif needing == len(moves):
        hint = "Reason (required)"
    else:
        hint = "Reason (required where marked)"
    return {"moves": moves, "reason_hint": hint, "reason_required": needing == len(moves)}


def _custom_values(lead) -> list[tuple[str, str]]:
    """The lead's custom values under their labels, in the fields' order; a value whose
    field was removed keeps its name."""
    values = dict(lead.custom)
    shown = []
    for field in CustomField.objects.filter(name__in=values):
        value = values.pop(field.name)
        if field.type == CustomField.Type.BOOL and isinstance(value, bool):
            value = "Yes" if value else "No"
        shown.append((field.label, value))
    return shown + sorted(values.items())


ACTIVITY = "leads/lead_detail.html#activity"


def _activity_context(lead, **extra):
    """What the activity card (a partial htmx refreshes) shows: the touch form, the timeline."""
    return {
        "lead": lead,
        "timeline": selectors.timeline(lead),
        "touch_kinds": [(k, Activity.Kind(k).label) for k in services.HUMAN_TOUCHES],
        **extra,
    }


@login_required
def lead_edit(request, pk: int):
    lead = _visible_lead(request, pk)
    if request.method != "POST":
        return render(request, "leads/lead_edit.html", {"lead": lead, "rows": field_rows(lead)})
    # Only what the form sent: a field left out is left alone, a field sent empty is cleared.
    data = {name: request.POST[name].strip() for name, _ in EDIT_FIELDS if name in request.POST}
    custom = {
        key.removeprefix("custom."): value.strip()
        for key, value in request.POST.items()
        if key.startswith("custom.")
    }
    # A value sent back unchanged is no edit: a choice since removed from its field stays.
    custom = {k: v for k, v in custom.items() if not v or v != lead.custom.get(k)}
    payload = {k: (v or None) if k in NULLABLE_FIELDS else v for k, v in data.items()}
    if custom:
        payload["custom"] = {k: (v or None) for k, v in custom.items()}
    serializer = LeadSerializer(lead, data=payload, partial=True)
    if serializer.is_valid():
        with domain_errors(request):
            services.update_lead(
                lead_id=lead.pk,
                changes=serializer.validated_data,
                by=request.user,
                via="lead page",
                now=timezone.now(),
            )
            messages.success(request, "Lead saved.")
            return redirect("leads:detail", pk=lead.pk)
        errors = {}
    else:
        errors = serializer.errors
    form_data = {**data, **{f"custom.{k}": v for k, v in custom.items()}}
    return render(
        request,
        "leads/lead_edit.html",
        {"lead": lead, "rows": field_rows(lead, form_data, errors), "has_errors": True},
        status=400,
    )


@login_required
@require_POST
def lead_touch(request, pk: int):
    lead = _visible_lead(request, pk)
    with domain_errors(request, message=not request.htmx) as outcome:
        services.log_touch(
            lead_id=lead.pk,
            kind=request.POST.get("kind", ""),
            body=request.POST.get("body", ""),
            by=request.user,
            now=timezone.now(),
        )
        if not request.htmx:
            messages.success(request, "Logged.")
    if not request.htmx:
        return redirect("leads:detail", pk=lead.pk)
    if outcome.refused:
        context = _activity_context(lead, touch_body=request.POST.get("body", ""))
        return refused_partial(request, ACTIVITY, context, outcome.error, key="touch_error")
    lead.refresh_from_db(fields=["last_sales_touch_at"])
    return render(request, ACTIVITY, _activity_context(lead, touch_saved=True))


@login_required
@require_POST
def lead_move(request, pk: int):
    lead = _visible_lead(request, pk)
    to_stage = request.POST.get("stage", "")
    with domain_errors(request):
        services.move_stage(
            lead_id=lead.pk,
            to_stage=to_stage,
            by=request.user,
            reason=request.POST.get("reason", "").strip()[:500],
            now=timezone.now(),
        )
        messages.success(request, f"Moved to {Stage(to_stage).label}.")
    return redirect("leads:detail", pk=lead.pk)
