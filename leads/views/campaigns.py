"""Campaigns: marketing lists them with what they brought in, and adds new ones."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone

from leads import roles, services
from leads.models import Source
from leads.selectors.campaigns import campaign_rows
from leads.values import parse_date, parse_decimal
from leads.views.errors import domain_errors, field_errors


@roles.marketing_required
def campaigns(request):
    errors, data = {}, {}
    if request.method == "POST":
        data = {
            k: request.POST.get(k, "").strip()
            for k in ("code", "name", "channel", "cost", "starts_on", "ends_on")
        }
        values = {}
        for name, parse in (
            ("cost", parse_decimal),
            ("starts_on", parse_date),
            ("ends_on", parse_date),
        ):
            try:
                values[name] = parse(data[name])
            except ValueError as exc:
                errors[name] = str(exc)
        if not errors:
            with domain_errors(request, message=False) as outcome:
                campaign = services.create_campaign(
                    code=data["code"],
                    name=data["name"],
                    channel=data["channel"],
                    **values,
                    now=timezone.now(),
                )
                messages.success(request, f"Campaign “{campaign.name}” added.")
                return redirect("leads:campaigns")
            errors = field_errors(outcome.error)
    return render(
        request,
        "leads/campaigns.html",
        {"campaigns": campaign_rows(), "channels": Source.choices, "errors": errors, "data": data},
        status=400 if errors else 200,
    )
