"""Custom field definitions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from leads import roles, services
from leads.api.serializers import CustomFieldSerializer
from leads.models import (
    CustomField,
)


@login_required
def custom_fields(request):
    can_define = roles.sees_all_leads(request.user)
    errors, data = {}, {}
    if request.method == "POST":
        if not can_define:
            raise PermissionDenied
        data = {
            "name": request.POST.get("name", "").strip(),
            "label": request.POST.get("label", "").strip(),
            "type": request.POST.get("type", ""),
            "choices": [c for c in request.POST.get("choices", "").splitlines() if c.strip()],
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
