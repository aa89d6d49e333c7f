"""Lead pages: the list (with htmx-refreshed table) and a lead's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from leads import roles, selectors
from leads.api import NewestFirstCursorPagination
from leads.filters import LeadFilter
from leads.models import Campaign, Source, Stage


@login_required
def lead_list(request):
    filterset = LeadFilter(request.GET, queryset=selectors.lead_list(request.user), request=request)
    leads, next_url, previous_url, total = [], None, None, 0
    if filterset.is_valid():
        paginator = NewestFirstCursorPagination()
        try:
            leads = paginator.paginate_queryset(filterset.qs, Request(request))
        except NotFound:
            messages.error(request, "That page link is no longer valid; showing the first page.")
            query = request.GET.copy()
            query.pop("cursor", None)
            return redirect(f"{request.path}?{query.urlencode()}")
        next_url, previous_url = paginator.get_next_link(), paginator.get_previous_link()
        total = filterset.qs.count()
    context = {
        "filterset": filterset,
        "leads": leads,
        "total": total,
        "next_url": next_url,
        "previous_url": previous_url,
        "stages": Stage.choices,
        "sources": Source.choices,
        "campaigns": Campaign.objects.order_by("name").only("code", "name"),
        "owners": get_user_model()
        .objects.filter(groups__name__in=[roles.SALES, roles.MANAGER])
        .distinct()
        .order_by("username")
        .only("username", "first_name", "last_name"),
        "filtered": any(key != "cursor" for key in filterset.data),
    }
    if not request.htmx:
        return render(request, "leads/lead_list.html", context)
    response = render(request, "leads/lead_list.html#lead-table", context)
    # Keep the address bar clean: only the filters in use, not every empty field.
    query = filterset.data.urlencode()
    response["HX-Push-Url"] = f"{request.path}?{query}" if query else request.path
    return response


@login_required
def lead_detail(request, pk: int):
    lead = get_object_or_404(selectors.lead_list(request.user), pk=pk)
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "stage_history": selectors.stage_history(lead),
            "timeline": selectors.timeline(lead),
        },
    )
