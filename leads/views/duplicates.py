"""Duplicate suggestions, merges and their undo."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads import roles, selectors
from leads.models import (
    Lead,
    LeadMerge,
)
from leads.selectors.duplicate_pages import duplicate_page
from leads.services import merges
from leads.views.errors import domain_errors


def _int(value, default):
    try:
        return int(value) if value else default
    except ValueError:
        return default  # a hand-edited address: the default


def _position(query) -> dict:
    """Where in the duplicates the user is: the window (`before`) and the page."""
    return {"before": _int(query.get("before"), None), "page": _int(query.get("page"), 1)}


def _duplicates_url(before, page) -> str:
    query = urlencode({k: v for k, v in (("before", before), ("page", page)) if v and v != 1})
    return f"{reverse('leads:duplicates')}?{query}" if query else reverse("leads:duplicates")


@roles.marketing_required
def duplicates(request):
    position = _position(request.GET)
    found = duplicate_page(request.user, **position)
    before = position["before"]
    reports = selectors.duplicates.reported_duplicates(request.user) if not before else []
    return render(
        request,
        "leads/duplicates.html",
        {"found": found, "pairs": found.pairs, "reports": reports,
         "checked_from": found.checked_from, "before": before,
         "window": selectors.duplicates.DUPLICATE_WINDOW,
         "previous_url": found.previous_page and _duplicates_url(before, found.previous_page),
         "next_url": found.next_page and _duplicates_url(before, found.next_page)},
    )  # fmt: skip


@roles.marketing_required
@require_POST
def not_duplicate(request):
    visible = selectors.leads_visible_to(request.user)
    a = get_object_or_404(visible, pk=request.POST.get("lead", 0))
    b = get_object_or_404(visible, pk=request.POST.get("other", 0))
    merges.mark_not_duplicate(lead_id=a.pk, other_id=b.pk, by=request.user, now=timezone.now())
    messages.success(request, f"{a.display_name} and {b.display_name} will not be suggested again.")
    position = _position(request.POST)
    return redirect(_duplicates_url(position["before"], position["page"]))


@roles.marketing_required
@require_POST
def settle_report(request, pk: int):
    """Take a reported duplicate with no match off the page."""
    from leads.models import DuplicateReport

    visible = selectors.leads_visible_to(request.user)
    report = get_object_or_404(DuplicateReport, pk=pk, lead__in=visible.values("pk"))
    merges.settle_duplicate_report(report_id=report.pk, by=request.user, now=timezone.now())
    messages.success(request, f"{report.lead.display_name} is off the reported duplicates.")
    return redirect("leads:duplicates")


@roles.marketing_required
def merge(request, pk: int, other_pk: int):
    """Compare two leads field by field and merge `other_pk` into `pk`."""
    visible = selectors.lead_list(request.user)
    survivor = get_object_or_404(visible, pk=pk)
    other = get_object_or_404(visible, pk=other_pk)
    if request.method == "POST":
        with domain_errors(request):
            merges.merge_leads(
                survivor_id=survivor.pk,
                other_id=other.pk,
                take=[n for n, v in request.POST.items() if v == "other"],
                by=request.user,
                now=timezone.now(),
            )
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
    with domain_errors(request):
        merges.unmerge(merge_id=done.pk, by=request.user, now=timezone.now())
        messages.success(request, "The merge is undone: both leads are back as they were.")
    return redirect("leads:detail", pk=done.survivor_id)
