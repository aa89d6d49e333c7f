"""The lead list (an htmx-refreshed table), its CSV export, bulk actions and saved views."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from leads import export, roles, selectors, services
from leads.api.leads import InvalidCursor, LeadCursorPagination
from leads.filters import SORT_CHOICES, LeadFilter
from leads.models import (
    Campaign,
    SavedView,
    Source,
    Stage,
)


def _filterset(request):
    return LeadFilter(request.GET, queryset=selectors.lead_list(request.user), request=request)


@login_required
def lead_list(request):
    filterset = _filterset(request)
    leads, next_url, previous_url, total = [], None, None, 0
    if filterset.is_valid():
        paginator = LeadCursorPagination()
        try:
            leads = paginator.paginate_queryset(filterset.qs, Request(request))
        except (NotFound, InvalidCursor):
            messages.error(request, "That page link is no longer valid; showing the first page.")
            query = request.GET.copy()
            query.pop("cursor", None)
            return redirect(f"{request.path}?{query.urlencode()}")
        next_url, previous_url = paginator.get_next_link(), paginator.get_previous_link()
        total = filterset.qs.count()
    query = filterset.data.copy()
    query.pop("cursor", None)
    context = {
        "filterset": filterset,
        "leads": leads,
        "total": total,
        "next_url": next_url,
        "previous_url": previous_url,
        "stages": Stage.choices,
        "sources": Source.choices,
        "sorts": SORT_CHOICES,
        "grade_selected": filterset.data.getlist("grade"),
        "saved_views": SavedView.objects.filter(user=request.user),
        "current_query": filterset.data.urlencode(),
        "campaigns": Campaign.objects.order_by("name").only("code", "name"),
        "owners": _assignable_owners().only("username", "first_name", "last_name"),
        "can_assign": roles.can_assign(request.user),
        "bulk_actions": BULK_ACTIONS,
        "filtered": bool(query),
        "export_query": query.urlencode(),
    }
    if not request.htmx:
        return render(request, "leads/lead_list.html", context)
    response = render(request, "leads/lead_list.html#lead-table", context)
    # Keep the address bar clean: only the filters in use, not every empty field.
    query = filterset.data.urlencode()
    response["HX-Push-Url"] = f"{request.path}?{query}" if query else request.path
    return response


@login_required
def lead_export(request):
    """CSV of every lead matching the list's filter that the user may see."""
    filterset = _filterset(request)
    if not filterset.is_valid():
        messages.error(request, "Fix the filter before exporting.")
        return redirect("leads:list")
    return export.csv_response(filterset.qs, now=timezone.now())


BULK_ACTIONS = {
    "disqualify": "Disqualify",
    "assign": "Assign owner",
    "campaign": "Change campaign",
    "export": "Export CSV",
}


@login_required
@require_POST
def lead_bulk(request):
    """Apply an action to the selected leads, or to all that match the list's filter.

    Whatever the scope, only leads the user may see are touched.
    """
    filter_query = request.POST.get("filter", "")
    back = redirect(f"{reverse('leads:list')}?{filter_query}" if filter_query else "leads:list")
    filterset = LeadFilter(
        QueryDict(filter_query), queryset=selectors.leads_visible_to(request.user), request=request
    )
    if not filterset.is_valid():
        messages.error(request, "The filter is not valid any more; nothing was changed.")
        return back
    leads = filterset.qs
    if request.POST.get("scope") != "all":
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        if not ids:
            messages.error(
                request, "Select at least one lead, or apply to all matching the filter."
            )
            return back
        leads = leads.filter(pk__in=ids)
    action, now = request.POST.get("action", ""), timezone.now()
    if action == "export":
        return export.csv_response(leads, now=now)
    if action == "disqualify":
        reason = request.POST.get("reason", "").strip()
        if not reason:
            messages.error(request, "Give a reason to disqualify; nothing was changed.")
            return back
        count = services.bulk_move_stage(
            leads=leads, to_stage=Stage.DISQUALIFIED, by=request.user, reason=reason, now=now
        )
        messages.success(request, f"Disqualified {count} lead{pluralize(count)}.")
    elif action == "assign":
        if not roles.can_assign(request.user):
            raise PermissionDenied
        username = request.POST.get("owner", "")
        owner = _assignable_owners().filter(username=username).first() if username else None
        if username and owner is None:
            messages.error(
                request, f"{username!r} is not a sales rep or manager; nothing was changed."
            )
            return back
        count = services.bulk_assign_owner(leads=leads, owner=owner, by=request.user, now=now)
        to = owner.username if owner else "nobody"
        messages.success(request, f"Assigned {count} lead{pluralize(count)} to {to}.")
    elif action == "campaign":
        campaign = Campaign.objects.filter(code=request.POST.get("campaign", "")).first()
        if campaign is None:
            messages.error(request, "Choose a campaign; nothing was changed.")
            return back
        count = services.bulk_set_campaign(leads=leads, campaign=campaign, by=request.user, now=now)
        messages.success(request, f"Moved {count} lead{pluralize(count)} to {campaign.name}.")
    else:
        messages.error(request, "Choose an action; nothing was changed.")
    return back


def _assignable_owners():
    return (
        get_user_model()
        .objects.filter(groups__name__in=[roles.SALES, roles.MANAGER], is_active=True)
        .distinct()
        .order_by("username")
    )


@login_required
@require_POST
def saved_view_save(request):
    name = request.POST.get("name", "").strip()[:100]
    query = request.POST.get("query", "")
    if not name:
        messages.error(request, "Give the view a name.")
    else:
        SavedView.objects.update_or_create(user=request.user, name=name, defaults={"query": query})
        messages.success(request, f"Saved the view “{name}”.")
    return redirect(f"{reverse('leads:list')}?{query}" if query else "leads:list")


@login_required
@require_POST
def saved_view_delete(request, pk: int):
    view = get_object_or_404(SavedView, pk=pk, user=request.user)
    view.delete()
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("leads:list")
