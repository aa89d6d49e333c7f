"""A person's data on request, from their lead's page (marketing): export everything
as one JSON file, or erase it after a confirmation (`leads.services.erasure`)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from leads import roles, selectors
from leads.services import erasure
from leads.views.errors import domain_errors


def _lead(request, pk: int):
    return get_object_or_404(selectors.leads_visible_to(request.user), pk=pk)


@roles.marketing_required
@require_GET
def lead_export(request, pk: int):
    lead = _lead(request, pk)
    document = erasure.export_person(lead_id=lead.pk, now=timezone.now())
    response = HttpResponse(
        json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="lead-{lead.pk}-export.json"'
    return response


def confirmation_value(lead) -> str:
    """What the marketer types to confirm an erasure: the lead's email (or its phone,
    or its external id)."""
    return lead.email or lead.phone or lead.external_id or str(lead.pk)


@roles.marketing_required
def lead_erase(request, pk: int):
    lead = _lead(request, pk)
    expected = confirmation_value(lead)
    context = {"lead": lead, "expected": expected, "what": erasure.erasure_summary(lead)}
    if request.method != "POST":
        return render(request, "leads/lead_erase.html", context)
    reason = request.POST.get("reason", "").strip()
    typed = request.POST.get("confirm", "").strip()
    errors = {}
    if typed.lower() != expected.lower():
        errors["confirm"] = f"Type {expected} to confirm."
    if not reason:
        errors["reason"] = "Say why the person is erased."
    if not errors:
        with domain_errors(request, message=False) as outcome:
            erasure.erase_person(lead_id=lead.pk, by=request.user, reason=reason,
                                 now=timezone.now())  # fmt: skip
            messages.success(
                request, f"The person was erased. Lead {lead.pk} stays, anonymised, only in "
                "the funnel's counts."
            )  # fmt: skip
            return redirect("leads:list")
        errors[outcome.error.field or "reason"] = outcome.error.message
    context.update(errors=errors, reason=reason, typed=typed)
    return render(request, "leads/lead_erase.html", context, status=400)
