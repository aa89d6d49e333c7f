"""Custom field definitions: the list and the add form, a field's edit page (label,
choices) and its deletion, each asking first what happens to the values leads hold."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone

from leads import roles, services
from leads.api.serializers import CustomFieldSerializer
from leads.models import CustomField
from leads.services import custom_fields
from leads.views.errors import domain_errors, field_errors


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@login_required
def custom_fields_page(request):
    can_define = roles.sees_all_leads(request.user)
    errors, data = {}, {}
    if request.method == "POST":
        if not can_define:
            raise PermissionDenied
        data = {
            "name": request.POST.get("name", "").strip(),
            "label": request.POST.get("label", "").strip(),
            "type": request.POST.get("type", ""),
            "choices": _lines(request.POST.get("choices", "")),
        }
        serializer = CustomFieldSerializer(data=data)
        if serializer.is_valid():
            field = services.define_custom_field(**serializer.validated_data, by=request.user)
            messages.success(request, f"Custom field “{field.label}” added.")
            return redirect("leads:custom-fields")
        errors = serializer.errors
    return render(
        request,
        "leads/custom_fields.html",
        {
            "fields": CustomField.objects.all(),
            "types": CustomField.Type.choices,
            "can_define": can_define,
            "errors": errors,
            "data": {**data, "choices": "\n".join(data.get("choices", []))},
        },
        status=400 if errors else 200,
    )


def _field_or_404(name: str) -> CustomField:
    field = CustomField.objects.filter(name=name).first()
    if field is None:
        raise Http404("No such custom field.")
    return field


@roles.marketing_required
def custom_field_edit(request, name: str):
    """Change a field's label and (a choice field) its choices. Removing a choice that
    leads hold first says how many; they keep it (custom_fields module)."""
    field = _field_or_404(name)
    label, choices = field.label, list(field.choices)
    errors, held = {}, {}
    if request.method == "POST":
        label = request.POST.get("label", "")
        choices = _lines(request.POST.get("choices", "")) if field.choices else None
        removed = custom_fields.removed_choices(field, choices) if choices is not None else []
        held = custom_fields.holders(field.name, removed) if removed else {}
        if not held or request.POST.get("confirmed") == "yes":
            with domain_errors(request, message=False) as outcome:
                field = custom_fields.update_custom_field(
                    name=field.name, label=label, choices=choices, by=request.user
                )
                text = f"Custom field “{field.label}” saved."
                if held:
                    count = sum(held.values())
                    verb = "holds" if count == 1 else "hold"
                    text += f" {count} lead{pluralize(count)} still {verb} a removed choice."
                messages.success(request, text)
                return redirect("leads:custom-fields")
            errors, held = field_errors(outcome.error), {}
    return render(
        request,
        "leads/custom_field_edit.html",
        {
            "field": field,
            "label": label,
            "choices": "\n".join(choices or []),
            "errors": errors,
            "held": sorted(held.items()),
        },
        status=400 if errors else 200,
    )


@roles.marketing_required
def custom_field_delete(request, name: str):
    """Ask first (how many leads have a value, and that the values are removed), then
    delete the field and its values."""
    field = _field_or_404(name)
    if request.method == "POST":
        with domain_errors(request):
            count = custom_fields.delete_custom_field(
                name=field.name, by=request.user, now=timezone.now()
            )
            messages.success(
                request,
                f"Custom field “{field.label}” deleted; its value was removed from "
                f"{count} lead{pluralize(count)}.",
            )
            return redirect("leads:custom-fields")
        return redirect("leads:custom-field-delete", name=field.name)
    return render(
        request,
        "leads/custom_field_delete.html",
        {
            "field": field,
            "count": custom_fields.leads_with_a_value(field.name),
            "uses": custom_fields.uses(field.name),
        },
    )
