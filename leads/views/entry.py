"""The New lead page: a person enters a lead by hand (`leads.services.manual`), warned
while typing when the email, phone or external id already belongs to someone."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from leads import roles
from leads.api.serializers import LeadSerializer
from leads.exceptions import LeadFlowError
from leads.models import Campaign, ConsentStatus, Source
from leads.normalise import normalise_email, normalise_external_id, normalise_phone
from leads.services import manual
from leads.services.identity import clean_country
from leads.services.ownership import assignable_owners
from leads.views.errors import domain_errors, field_errors
from leads.views.leads import EDIT_FIELDS, EDIT_TYPES, NULLABLE_FIELDS, field_rows

_IDENTITIES = ("email", "phone", "external_id")
_PAGE_ONLY = ("owner", "consent_how")  # not lead JSON: the owner rule, the consent's how


def _fields(user) -> list[tuple[str, str]]:
    """The edit page's fields, with the external id beside the other identities, then
    source, campaign, owner (those who assign) and how the consent was given."""
    fields = list(EDIT_FIELDS)
    at = fields.index(("phone", "Phone")) + 1
    fields[at:at] = [("external_id", "External id (another system's)")]
    extra = [("source", "Source"), ("campaign", "Campaign")]
    if roles.can_assign(user):
        extra.append(("owner", "Owner"))
    consent = fields.index(("consent", "Marketing-email consent"))
    return [*fields[:consent], *extra, *fields[consent:],
            ("consent_how", "How consent was given")]  # fmt: skip


def _types(user) -> dict:
    campaigns = [(c.code, c.name) for c in Campaign.objects.order_by("name")]
    owners = [(u.username, u.get_full_name() or u.username) for u in assignable_owners(user)]
    types = {
        **EDIT_TYPES,
        "source": {"type": "choice", "choices": Source.choices, "required": True},
        "campaign": {"type": "choice", "choices": campaigns},
        "owner": {"type": "choice", "choices": owners},
        "consent_how": {"hint": "e.g. “asked on the phone”, “ticked the box at our booth”"},
    }
    for name in _IDENTITIES:
        types[name] = {**types.get(name, {}), "check": True}
    return types


def _render(request, data: dict, errors: dict | None = None, *, status: int = 200):
    context = {
        "rows": field_rows(
            None, data, errors, fields=_fields(request.user), types=_types(request.user)
        ),
        "has_errors": bool(errors),
        "form_error": (errors or {}).get("__all__"),
        "check_url": reverse("leads:new-check"),
    }
    return render(request, "leads/lead_new.html", context, status=status)


@login_required
def lead_new(request):
    if not manual.may_enter_leads(request.user):
        raise PermissionDenied("Only marketing and sales enter leads.")
    if request.method != "POST":
        owner = request.user.username if roles.MANAGER in roles.group_names(request.user) else ""
        initial = {"source": Source.OTHER, "consent": ConsentStatus.UNKNOWN, "owner": owner}
        return _render(request, initial)
    names = [name for name, _ in _fields(request.user)]
    data = {name: request.POST.get(name, "").strip() for name in names}
    custom = {
        key.removeprefix("custom."): value.strip()
        for key, value in request.POST.items()
        if key.startswith("custom.") and value.strip()
    }
    payload = {
        k: (v or None) if k in NULLABLE_FIELDS else v
        for k, v in data.items()
        if v and k not in _PAGE_ONLY
    }
    if custom:
        payload["custom"] = custom
    serializer = LeadSerializer(data=payload)
    errors: dict = {}
    if serializer.is_valid():
        with domain_errors(request, message=False) as outcome:
            owner = manual.owner_for(by=request.user, username=data.get("owner", ""))
            result = manual.enter_lead(
                data={k: v for k, v in serializer.validated_data.items() if k != "stage_reason"},
                owner=owner,
                consent_how=data.get("consent_how", ""),
                by=request.user,
                now=timezone.now(),
            )
        if not outcome.refused:
            if result.created:
                messages.success(request, "Lead saved.")
            else:
                messages.info(
                    request, f"{result.lead.display_name} was already a lead: its empty "
                    "fields were filled from what you entered."
                )  # fmt: skip
            return redirect("leads:detail", pk=result.lead.pk)
        errors = {k: [v] for k, v in field_errors(outcome.error).items()}
    else:
        errors = serializer.errors
    form = {**data, **{f"custom.{k}": v for k, v in custom.items()}}
    return _render(request, form, errors, status=400)


@login_required
@require_GET
def lead_new_check(request):
    """The duplicate warning (htmx, while typing): the lead the identities belong to if
    the user may see it, else only that the person is known."""
    if not manual.may_enter_leads(request.user):
        raise PermissionDenied("Only marketing and sales enter leads.")
    if not _allow_check(request.user, timezone.now()):
        return render(request, "leads/_known_person.html", {"throttled": True}, status=429)
    values = _typed_identities(request.GET)
    known = manual.known_person(values=values, user=request.user)
    return render(request, "leads/_known_person.html", {"known": known, "values": values})


def _allow_check(user, now: datetime) -> bool:
    key = f"dupcheck:{user.pk}:{int(now.timestamp()) // 60}"
    cache.add(key, 0, timeout=120)
    return cache.incr(key) <= settings.DUPLICATE_CHECKS_PER_MINUTE


def _typed_identities(params) -> dict:
    """The identities typed so far, normalised as capture normalises them; what is not
    (yet) a valid value is left out."""
    try:
        country = clean_country(params.get("country", ""))
    except ValueError:
        country = ""
    source = params.get("source", "")
    values: dict = {"source": source if source in Source.values else Source.OTHER}
    readers = {
        "email": normalise_email,
        "phone": lambda raw: normalise_phone(raw, country=country),
        "external_id": normalise_external_id,
    }
    for name, read in readers.items():
        raw = (params.get(name) or "").strip()[:254]
        if not raw:
            continue
        try:
            value = read(raw)
        except (ValueError, LeadFlowError):
            continue
        if value and (name != "email" or "@" in value):
            values[name] = value
    return values
