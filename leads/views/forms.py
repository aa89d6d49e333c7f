"""Web-to-lead forms: the public endpoint /f/<slug>/ and marketing's form pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from leads import roles
from leads.models import Campaign, LeadForm, Source
from leads.selectors.forms import submission_counts
from leads.services import webforms
from leads.views.errors import domain_errors, field_errors

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Accept",
    "Access-Control-Max-Age": "86400",
    # Chromium asks before a public page calls a server on a private network (intranets).
    "Access-Control-Allow-Private-Network": "true",
}


def _wants_json(request) -> bool:
    """A script (fetch/XHR) rather than a browser navigating after a form post."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _answer(request, body: dict, status: int, *, html: HttpResponse | None = None):
    if html is not None and not _wants_json(request):
        response = html
    else:
        response = JsonResponse(body, status=status)
    for key, value in CORS_HEADERS.items():
        response[key] = value
    return response


@csrf_exempt  # posted from other sites; protected by the honeypot and the rate limit
def public_submit(request, slug: str):
    form = LeadForm.objects.filter(slug=slug, active=True).select_related("campaign").first()
    if request.method == "OPTIONS":  # a script's CORS preflight
        return _answer(request, {}, 204, html=HttpResponse(status=204 if form else 404))
    if form is None:
        return _answer(request, {"detail": "No such form."}, 404)
    if request.method != "POST":
        response = _answer(request, {"detail": "Submit this form with POST."}, 405)
        response["Allow"] = "POST, OPTIONS"
        return response
    now = timezone.now()
    if not webforms.allow_submission(form=form, ip=_client_ip(request), now=now):
        page = render(
            request, "leads/forms/error.html", {"form": form, "limited": True}, status=429
        )
        return _answer(
            request, {"detail": "Too many submissions; try again in a minute."}, 429, html=page
        )
    result = webforms.submit(form=form, post=request.POST.dict(), now=now)
    if not result.ok:
        context = {
            "form": form,
            "errors": webforms.labelled_errors(result.errors),
            "back_url": _back_url(request),
        }
        page = render(request, "leads/forms/error.html", context, status=400)
        return _answer(request, result.errors, 400, html=page)
    # The same answer whether or not the person was a lead already (nor whether their
    # consent was granted or only asked for): the form must not tell who is in the CRM.
    thanks = form.redirect_url or reverse("form-thanks", args=[form.slug])
    return _answer(request, {"ok": True}, 200, html=_see_other(thanks))


def _back_url(request) -> str:
    """Where the visitor came from (the page with the form), if it is a web address."""
    referer = request.headers.get("Referer", "")
    return referer if urlsplit(referer).scheme in ("http", "https") else ""


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def thanks(request, slug: str):
    form = get_object_or_404(LeadForm, slug=slug)
    return render(request, "leads/forms/thanks.html", {"form": form})


def _definition(post) -> webforms.Definition:
    """A form's definition as the page posts it."""
    return webforms.Definition(
        name=post.get("name", ""),
        fields=post.getlist("fields"),
        required=post.getlist("required"),
        source=post.get("source") or Source.WEB_FORM,
        campaign_code=post.get("campaign", ""),
        consent_text=post.get("consent_text", ""),
        redirect_url=post.get("redirect_url", ""),
    )


def _definition_choices() -> dict:
    return {
        "field_choices": webforms.field_choices(),
        "sources": Source.choices,
        "campaigns": Campaign.objects.order_by("name"),
    }


@roles.marketing_required
def form_list(request):
    errors, data = {}, {}
    if request.method == "POST":
        data = _definition(request.POST)
        with domain_errors(request, message=False) as outcome:
            form = webforms.create_form(definition=data, by=request.user, now=timezone.now())
            messages.success(
                request, f"Form “{form.name}” created: paste its snippet on your site."
            )
            return redirect("leads:form-detail", slug=form.slug)
        errors = field_errors(outcome.error)
    forms = list(LeadForm.objects.select_related("campaign"))
    counts, labels = submission_counts(f.slug for f in forms), webforms.field_labels()
    for form in forms:
        form.submissions = counts.get(form.slug, 0)
        form.field_labels = [labels.get(name, name) for name in form.fields]
    return render(
        request,
        "leads/forms/list.html",
        {
            "forms": forms,
            **_definition_choices(),
            "errors": errors,
            "data": data,
        },
        status=400 if errors else 200,
    )


@roles.marketing_required
def form_detail(request, slug: str):
    form = get_object_or_404(LeadForm.objects.select_related("campaign"), slug=slug)
    errors, active = {}, form.active
    if request.method == "POST":
        data, active = _definition(request.POST), "active" in request.POST
        with domain_errors(request, message=False) as outcome:
            form = webforms.update_form(form_id=form.pk, definition=data, active=active)
            messages.success(request, f"Form “{form.name}” saved.")
            return redirect("leads:form-detail", slug=form.slug)
        errors = field_errors(outcome.error)
    else:
        data = webforms.Definition(
            name=form.name,
            fields=form.fields,
            required=form.required,
            source=form.source,
            campaign_code=form.campaign.code if form.campaign else "",
            consent_text=form.consent_text,
            redirect_url=form.redirect_url,
        )
    return render(
        request,
        "leads/forms/detail.html",
        {
            "form": form,
            "snippet": _snippet(request, form),
            "submissions": submission_counts([form.slug]).get(form.slug, 0),
            "rate_limit": settings.FORM_RATE_LIMIT,
            **_definition_choices(),
            "errors": errors,
            "data": data,
            "active": active,
        },
        status=400 if errors else 200,
    )


def _snippet(request, form: LeadForm) -> str:
    action = request.build_absolute_uri(reverse("form-submit", args=[form.slug]))
    return webforms.snippet(form, action_url=action)


@roles.marketing_required
@require_POST
def form_active(request, slug: str):
    """Switch a form off, or on again (the list's and the form page's buttons)."""
    form = get_object_or_404(LeadForm, slug=slug)
    active = request.POST.get("active") == "yes"
    form = webforms.set_form_active(form_id=form.pk, active=active)
    if active:
        messages.success(request, f"Form “{form.name}” is active again: it takes submissions.")
    else:
        messages.success(
            request, f"Form “{form.name}” is switched off: its address answers “No such form”."
        )
    if request.POST.get("next") == "list":
        return redirect("leads:forms")
    return redirect("leads:form-detail", slug=form.slug)


@roles.marketing_required
def form_preview(request, slug: str):
    """The form as a visitor sees it: its snippet rendered in a sandboxed frame that
    cannot submit (no lead is created from here)."""
    form = get_object_or_404(LeadForm, slug=slug)
    return render(
        request, "leads/forms/preview.html", {"form": form, "snippet": _snippet(request, form)}
    )
