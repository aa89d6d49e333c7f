"""The lead list (an htmx-refreshed table), its CSV export, bulk actions and saved views."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from leads import bulk_actions, export, roles, selectors, services
from leads.api.leads import InvalidCursor, LeadCursorPagination
from leads.bulk_actions import BulkChange
from leads.exceptions import LeadFlowError
from leads.filters import SORT_CHOICES, SORT_COLUMNS, SORTS, LeadFilter
from leads.models import (
    Campaign,
    SavedView,
    Source,
    Stage,
)
from leads.services import ownership, saved_views, stages
from leads.views.errors import domain_errors


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
        total = selectors.list_count(filterset.qs, known=filterset.matches, page=leads,
                                     ordering=paginator.ordering,
                                     first_page=paginator.cursor is None)  # fmt: skip
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
        "sort_headers": _sort_headers(request.path, filterset.data),
        "grade_selected": filterset.data.getlist("grade"),
        "saved_views": SavedView.objects.filter(user=request.user),
        "current_query": filterset.data.urlencode(),
        "campaigns": Campaign.objects.order_by("name").only("code", "name"),
        "owners": ownership.possible_owners().only("username", "first_name", "last_name"),
        "assignable_owners": ownership.assignable_owners(request.user).only(
            "username", "first_name", "last_name"
        ),
        "can_assign": roles.can_assign(request.user),
        "bulk_actions": {
            **BULK_ACTIONS,
            **{a.name: a.label for a in bulk_actions.for_user(request.user)},
        },
        "bulk_inputs": [a.inputs(request) for a in bulk_actions.for_user(request.user) if a.inputs],
        "filtered": bool(query),
        "export_query": query.urlencode(),
    }
    if not request.htmx:
        return render(request, "leads/lead_list.html", context)
    response = render(request, "leads/lead_list.html#lead-table", context)
    # The filter form stays on the page: its sort and its Clear link follow the table.
    for partial in ("sort-select", "clear-link"):
        oob = render_to_string(f"leads/lead_list.html#{partial}", {**context, "oob": True}, request)
        response.content += oob.encode()
    # Keep the address bar clean: only the filters in use, not every empty field.
    query = filterset.data.urlencode()
    response["HX-Push-Url"] = f"{request.path}?{query}" if query else request.path
    return response


def _sort_headers(path: str, data: QueryDict) -> dict[str, dict]:
    """Each sortable column's header: the link that sorts by it (the reverse when the
    list is sorted by it already; from the first page) and its `aria-sort` state."""
    current = data.get("sort") or "newest"
    headers = {}
    for column, (first, reversed_) in SORT_COLUMNS.items():
        query = data.copy()
        query.pop("cursor", None)
        query.pop("sort", None)
        target = reversed_ if current == first else first
        if target != "newest":
            query["sort"] = target
        state = None
        if current in (first, reversed_):
            state = "descending" if SORTS[current][0].startswith("-") else "ascending"
        headers[column] = {"url": f"{path}?{query.urlencode()}" if query else path, "state": state}
    return headers


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
    """Apply an action to the selected leads, or to all that match the list's filter
    (after a confirmation page that says how many: it works without JavaScript).

    Whatever the scope, only leads the user may see are touched.
    """
    filter_query = request.POST.get("filter", "")
    back = redirect(_list_url(filter_query))
    filterset = LeadFilter(
        QueryDict(filter_query), queryset=selectors.leads_visible_to(request.user), request=request
    )
    if not filterset.is_valid():
        messages.error(request, "The filter is not valid any more; nothing was changed.")
        return back
    leads = filterset.qs
    every_match = request.POST.get("scope") == "all"
    if not every_match:
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        if not ids:
            messages.error(
                request, "Select at least one lead, or apply to all matching the filter."
            )
            return back
        leads = leads.filter(pk__in=ids)
    action = request.POST.get("action", "")
    if action == "export":
        return export.csv_response(leads, now=timezone.now())
    with domain_errors(request) as outcome:
        change = _bulk_change(request, action)
    if outcome.refused:
        return back
    if every_match and request.POST.get("confirmed") != "yes":
        return _confirm(request, change, leads.count(), filterset)
    with domain_errors(request):
        messages.success(request, change.apply(leads, timezone.now()))
    return back


def _bulk_change(request, action: str) -> BulkChange:
    """The change an action's inputs ask for; a refusal when they are not usable."""
    by = request.user
    if action == "disqualify":
        reason = request.POST.get("reason", "").strip()

        def disqualify(leads, now):
            moved = stages.move_stages(
                leads=leads, to_stage=Stage.DISQUALIFIED, by=by, reason=reason, now=now
            )
            text = f"Disqualified {moved.count} lead{pluralize(moved.count)}"
            if moved.refused:
                text += f"; {moved.refused} could not move from their stage"
            return f"{text}."

        return BulkChange("Disqualify", "", disqualify)
    if action == "assign":
        owner = ownership.assignment_target(by=by, username=request.POST.get("owner", ""))
        name = owner.get_full_name() or owner.username

        def assign(leads, now):
            count = services.bulk_assign_owner(leads=leads, owner=owner, by=by, now=now)
            return f"Assigned {count} lead{pluralize(count)} to {name}."

        return BulkChange("Assign", f" to {name}", assign)
    if action == "campaign":
        campaign = Campaign.objects.filter(code=request.POST.get("campaign", "")).first()
        if campaign is None:
            raise LeadFlowError("Choose a campaign; nothing was changed.", field="campaign")

        def move(leads, now):
            count = services.bulk_set_campaign(leads=leads, campaign=campaign, by=by, now=now)
            return f"Moved {count} lead{pluralize(count)} to {campaign.name}."

        return BulkChange("Move", f" to the campaign {campaign.name}", move)
    registered = bulk_actions.get(action, by)
    if registered is not None:
        return registered.change(request)
    raise LeadFlowError("Choose an action; nothing was changed.", field="action")


def _filter_terms(filterset) -> list[tuple[str, str]]:
    """The filter in words, by the filter form's labels: [("Search", "uni.edu"), ...]."""
    fields = filterset.form.fields
    return [
        (fields[name].label if name in fields else name, value)
        for name, values in filterset.data.lists()
        for value in values
        if value
    ]


def _list_url(query: str) -> str:
    return f"{reverse('leads:list')}?{query}" if query else reverse("leads:list")


def _carried(post) -> tuple[str, ...]:
    """The inputs a registered action's confirmation sends again."""
    return bulk_actions.carried(post.get("action", ""))


def _confirm(request, change: BulkChange, count: int, filterset):
    """The page that asks before a change to every lead matching the filter."""
    post = request.POST
    return render(
        request,
        "leads/bulk_confirm.html",
        {
            "question": change.question(count),
            "button": change.button(count),
            "action": post.get("action", ""),
            "carried": {
                k: post.get(k, "") for k in ("filter", "owner", "campaign", *_carried(post))
            },
            "reason": post.get("reason", "").strip(),
            "reason_required": post.get("action") == "disqualify"
            and stages.always_needs_reason(Stage.DISQUALIFIED, stages.Mover.PERSON, request.user),
            "terms": _filter_terms(filterset),
            "back": _list_url(post.get("filter", "")),
        },
    )


@login_required
@require_POST
def saved_view_save(request):
    query = request.POST.get("query", "")
    with domain_errors(request):
        view = saved_views.save_view(
            user=request.user, name=request.POST.get("name", ""), query=query, now=timezone.now()
        )
        messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(_list_url(query))


@login_required
@require_POST
def saved_view_delete(request, pk: int):
    view = get_object_or_404(SavedView, pk=pk, user=request.user)
    saved_views.delete_view(view=view, by=request.user)
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("leads:list")
