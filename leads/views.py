"""Lead pages: the list (htmx-refreshed table), a lead's page with its actions,
custom field definitions and the CSV export.

Pages validate input with the API's serializers and change state only through
leads.services, so a page and the API can never disagree on a rule.
"""

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

from leads import export, merges, roles, selectors, services
from leads.api import LeadCursorPagination
from leads.exceptions import LeadFlowError
from leads.filters import SORT_CHOICES, LeadFilter
from leads.models import (
    Activity,
    Campaign,
    CustomField,
    Lead,
    LeadMerge,
    SavedView,
    Source,
    Stage,
)
from leads.serializers import CustomFieldSerializer, LeadSerializer


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
        except NotFound:
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


# --- A lead's page ---------------------------------------------------------------------

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
    ("time_zone", "Time zone"),
]


NULLABLE_FIELDS = {"email", "phone", "company_size"}


def _visible_lead(request, pk):
    return get_object_or_404(selectors.lead_list(request.user), pk=pk)


def _edit_rows(lead, data=None, errors=None):
    """The edit form's rows: standard fields, then custom fields by type."""
    errors = errors or {}
    custom_errors = errors.get("custom", {}) if isinstance(errors.get("custom"), dict) else {}
    rows = []
    for name, label in EDIT_FIELDS:
        value = data.get(name, "") if data is not None else (getattr(lead, name) or "")
        rows.append({"name": name, "label": label, "value": value, "errors": errors.get(name, [])})
    for field in CustomField.objects.all():
        key = f"custom.{field.name}"
        value = data.get(key, "") if data is not None else lead.custom.get(field.name, "")
        rows.append(
            {
                "name": key,
                "label": field.label,
                "value": value,
                "type": field.type,
                "choices": field.choices,
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
    return render(request, "leads/lead_detail.html", _detail_context(lead))


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


def _detail_context(lead, **extra):
    return {
        "lead": lead,
        "custom_values": _custom_values(lead),
        "timeline": selectors.timeline(lead),
        "stages": [(v, label) for v, label in Stage.choices if v != lead.stage],
        "touch_kinds": [(k, Activity.Kind(k).label) for k in services.HUMAN_TOUCHES],
        "campaigns": Campaign.objects.order_by("name").only("code", "name"),
        "sources": Source.choices,
        "merges": lead.merges_kept.filter(undone_at__isnull=True).select_related("merged"),
        **extra,
    }


@login_required
def lead_edit(request, pk: int):
    lead = _visible_lead(request, pk)
    if request.method != "POST":
        return render(request, "leads/lead_edit.html", {"lead": lead, "rows": _edit_rows(lead)})
    # Only what the form sent: a field left out is left alone, a field sent empty is cleared.
    data = {name: request.POST[name].strip() for name, _ in EDIT_FIELDS if name in request.POST}
    custom = {
        key.removeprefix("custom."): value.strip()
        for key, value in request.POST.items()
        if key.startswith("custom.")
    }
    payload = {k: (v or None) if k in NULLABLE_FIELDS else v for k, v in data.items()}
    if custom:
        payload["custom"] = {k: (v or None) for k, v in custom.items()}
    serializer = LeadSerializer(lead, data=payload, partial=True)
    if serializer.is_valid():
        try:
            services.update_lead(
                lead_id=lead.pk,
                changes=serializer.validated_data,
                by=request.user,
                now=timezone.now(),
            )
        except LeadFlowError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Lead saved.")
            return redirect("leads:detail", pk=lead.pk)
        errors = {}
    else:
        errors = serializer.errors
    form_data = {**data, **{f"custom.{k}": v for k, v in custom.items()}}
    return render(
        request,
        "leads/lead_edit.html",
        {"lead": lead, "rows": _edit_rows(lead, form_data, errors), "has_errors": True},
        status=400,
    )


@login_required
@require_POST
def lead_touch(request, pk: int):
    lead = _visible_lead(request, pk)
    try:
        services.log_touch(
            lead_id=lead.pk,
            kind=request.POST.get("kind", ""),
            body=request.POST.get("body", ""),
            by=request.user,
            now=timezone.now(),
        )
    except LeadFlowError as exc:
        if request.htmx:
            context = _detail_context(
                lead, touch_error=exc.message, touch_body=request.POST.get("body", "")
            )
            return render(request, "leads/lead_detail.html#activity", context, status=400)
        messages.error(request, exc.message)
        return redirect("leads:detail", pk=lead.pk)
    if request.htmx:
        lead.refresh_from_db(fields=["last_sales_touch_at"])
        return render(
            request, "leads/lead_detail.html#activity", _detail_context(lead, touch_saved=True)
        )
    messages.success(request, "Logged.")
    return redirect("leads:detail", pk=lead.pk)


@login_required
@require_POST
def lead_move(request, pk: int):
    lead = _visible_lead(request, pk)
    to_stage = request.POST.get("stage", "")
    try:
        services.move_stage(
            lead_id=lead.pk,
            to_stage=to_stage,
            by=request.user,
            reason=request.POST.get("reason", "").strip()[:500],
            now=timezone.now(),
        )
    except LeadFlowError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Moved to {Stage(to_stage).label}.")
    return redirect("leads:detail", pk=lead.pk)


# --- Custom fields ---------------------------------------------------------------------


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


# --- Bulk actions ------------------------------------------------------------------------

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


# --- Saved views -------------------------------------------------------------------------


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


# --- Duplicates and merges ----------------------------------------------------------------


@roles.marketing_required
def duplicates(request):
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None  # a hand-edited address: start from the newest leads
    found = selectors.duplicate_suggestions(request.user, limit=100, before=before)
    return render(
        request,
        "leads/duplicates.html",
        {"pairs": found.pairs, "checked_from": found.checked_from, "before": before,
         "window": selectors.DUPLICATE_WINDOW},
    )  # fmt: skip


@roles.marketing_required
@require_POST
def not_duplicate(request):
    visible = selectors.leads_visible_to(request.user)
    a = get_object_or_404(visible, pk=request.POST.get("lead", 0))
    b = get_object_or_404(visible, pk=request.POST.get("other", 0))
    merges.mark_not_duplicate(lead_id=a.pk, other_id=b.pk, by=request.user)
    messages.success(request, f"{a.display_name} and {b.display_name} will not be suggested again.")
    return redirect("leads:duplicates")


@roles.marketing_required
def merge(request, pk: int, other_pk: int):
    """Compare two leads field by field and merge `other_pk` into `pk`."""
    visible = selectors.lead_list(request.user)
    survivor = get_object_or_404(visible, pk=pk)
    other = get_object_or_404(visible, pk=other_pk)
    if request.method == "POST":
        try:
            merges.merge_leads(
                survivor_id=survivor.pk,
                other_id=other.pk,
                take=[n for n, v in request.POST.items() if v == "other"],
                by=request.user,
                now=timezone.now(),
            )
        except LeadFlowError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Merged {other.display_name} into {survivor.display_name} "
                "(you can undo this below).",
            )
            return redirect("leads:detail", pk=survivor.pk)
    rows = []
    for name in merges.MERGE_FIELDS:
        mine, theirs = getattr(survivor, name), getattr(other, name)
        if mine in (None, "") and theirs in (None, ""):
            continue
        rows.append(
            {
                "name": name,
                "label": Lead._meta.get_field(name).verbose_name.capitalize(),
                "mine": mine,
                "theirs": theirs,
                "same": mine == theirs,
                # Default: keep the survivor's value unless it is empty.
                "take_other": mine in (None, "") and theirs not in (None, ""),
            }
        )
    for key in sorted(set(survivor.custom) | set(other.custom)):
        mine, theirs = survivor.custom.get(key), other.custom.get(key)
        rows.append(
            {
                "name": f"custom.{key}",
                "label": key,
                "mine": mine,
                "theirs": theirs,
                "same": mine == theirs,
                "take_other": mine is None and theirs is not None,
            }
        )
    return render(request, "leads/merge.html", {"survivor": survivor, "other": other, "rows": rows})


@roles.marketing_required
@require_POST
def unmerge(request, merge_pk: int):
    done = get_object_or_404(LeadMerge, pk=merge_pk)
    get_object_or_404(selectors.leads_visible_to(request.user), pk=done.survivor_id)
    try:
        merges.unmerge(merge_id=done.pk, by=request.user, now=timezone.now())
    except LeadFlowError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The merge is undone: both leads are back as they were.")
    return redirect("leads:detail", pk=done.survivor_id)
