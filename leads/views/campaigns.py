"""Campaigns: marketing lists them with what they brought in, and adds new ones."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import redirect, render

from leads import roles
from leads.models import Campaign, Source
from leads.values import parse_date, parse_decimal


@roles.marketing_required
def campaigns(request):
    errors, data = {}, {}
    if request.method == "POST":
        data = {
            k: request.POST.get(k, "").strip()
            for k in ("code", "name", "channel", "cost", "starts_on", "ends_on")
        }
        campaign = Campaign(
            code=data["code"], name=data["name"], channel=data["channel"] or Source.OTHER
        )
        for name, parse in (
            ("cost", parse_decimal),
            ("starts_on", parse_date),
            ("ends_on", parse_date),
        ):
            try:
                value = parse(data[name])
            except ValueError as exc:
                errors[name] = str(exc)
                continue
            if value is not None:
                setattr(campaign, name, value)
        if not errors:
            try:
                campaign.full_clean()
            except ValidationError as exc:
                errors = {k: " ".join(v) for k, v in exc.message_dict.items()}
                errors = {("ends_on" if k == "__all__" else k): v for k, v in errors.items()}
        if not errors:
            campaign.save()
            messages.success(request, f"Campaign “{campaign.name}” added.")
            return redirect("leads:campaigns")
    rows = Campaign.objects.annotate(
        first_touch=Count("leads", filter=Q(leads__merged_into__isnull=True), distinct=True),
        latest_touch=Count(
            "latest_leads", filter=Q(latest_leads__merged_into__isnull=True), distinct=True
        ),
    ).order_by("-starts_on", "code")
    for row in rows:
        row.cost_per_lead = (row.cost / row.first_touch) if row.first_touch else None
    return render(
        request,
        "leads/campaigns.html",
        {"campaigns": rows, "channels": Source.choices, "errors": errors, "data": data},
        status=400 if errors else 200,
    )
