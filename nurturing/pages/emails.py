"""Email templates: the list, the editor (field errors from the template check), a
preview rendered with a real lead's data, a test sent to oneself, and deleting."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leads import roles, selectors
from leads.views.errors import domain_errors, field_errors
from nurturing.models import Template
from nurturing.services import sending, templates

PREVIEW_LEADS = 20  # leads offered to preview with


@roles.marketing_required
def template_list(request):
    listed = Template.objects.annotate(
        step_count=Count("steps", distinct=True), sent_count=Count("sends", distinct=True)
    )
    return render(request, "nurturing/templates.html", {"email_templates": listed})


@roles.marketing_required
def template_edit(request, pk: int | None = None):
    template = get_object_or_404(Template, pk=pk) if pk is not None else None
    errors = {}
    data = {
        key: getattr(template, key) if template else ""
        for key in ("name", "subject", "html", "text")
    }
    if request.method == "POST":
        data = {key: request.POST.get(key, "") for key in data}
        with domain_errors(request, message=False) as outcome:
            saved = templates.save_template(template_id=pk, **data)
            messages.success(request, f"Saved the template “{saved.name}”.")
            return redirect("nurture:template", pk=saved.pk)
        errors = field_errors(outcome.error)
    return render(
        request,
        "nurturing/template_edit.html",
        {
            "template": template,
            "data": data,
            "errors": errors,
            "fields": sorted(templates.known_fields()),
        },
        status=400 if errors else 200,
    )


def _preview_lead(request):
    """The lead to preview with: the one asked for (among those the user sees), else
    the latest lead."""
    visible = selectors.leads_visible_to(request.user)
    raw = request.GET.get("lead") or request.POST.get("lead") or ""
    if raw.isdigit():
        return get_object_or_404(visible.select_related("owner"), pk=int(raw))
    return visible.select_related("owner").order_by("-created_at", "-id").first()


@roles.marketing_required
def template_preview(request, pk: int):
    template = get_object_or_404(Template, pk=pk)
    lead = _preview_lead(request)
    return render(
        request,
        "nurturing/template_preview.html",
        {
            "template": template,
            "lead": lead,
            "rendered": templates.preview(template, lead) if lead else None,
            "leads": selectors.leads_visible_to(request.user)
            .order_by("-created_at", "-id")
            .only("first_name", "last_name", "email", "company")[:PREVIEW_LEADS],
        },
    )


@roles.marketing_required
@require_POST
def template_test(request, pk: int):
    template = get_object_or_404(Template, pk=pk)
    lead = _preview_lead(request)
    if lead is None:
        messages.error(request, "There is no lead to fill in the merge fields with yet.")
        return redirect("nurture:template-preview", pk=template.pk)
    with domain_errors(request):
        subject = sending.send_test(template_id=template.pk, lead=lead, to=request.user.email)
        messages.success(request, f"Sent “{subject}” to {request.user.email}.")
    return redirect(f"{reverse('nurture:template-preview', args=[template.pk])}?lead={lead.pk}")


@roles.marketing_required
@require_POST
def template_delete(request, pk: int):
    template = get_object_or_404(Template, pk=pk)
    with domain_errors(request) as outcome:
        templates.delete_template(template_id=template.pk)
        messages.success(request, f"Deleted the template “{template.name}”.")
    if outcome.refused:
        return redirect("nurture:template", pk=template.pk)
    return redirect("nurture:templates")
