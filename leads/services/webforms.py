"""Web-to-lead forms: what a form may ask, its embeddable snippet, and a submission.

A submission is validated like an API capture (LeadSerializer) and captured with
leads.services.capture_lead on the `web_form` channel; the form adds its own rules:
required fields, a honeypot against bots, consent, and a per-IP rate limit kept in
Redis (the Django cache), so it holds across all web processes.

The form is public: anyone may post any address to it. So a submission never tells
whether the person was already a lead (`Submission` carries nothing the answer may
show), fills only what is empty (the capture spec), and never grants a consent the
person denied or withdrew: it records a `consent_requested` entry instead (the
person's own confirmation, a double opt-in, is what may grant it again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from itertools import count
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from leads.api.serializers import LeadSerializer
from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import Activity, Campaign, ConsentStatus, CustomField, LeadForm, Source
from leads.services import capture_lead, record_activity, record_event
from leads.services.timeline import register_kind

log = logging.getLogger(__name__)

CONSENT_REQUESTED = "consent_requested"
register_kind(CONSENT_REQUESTED, "Consent confirmation requested")

# Standard fields a form may ask for: name → (label, input type; "yesno": a select).
FORM_FIELDS = {
    "email": ("Email", "email"),
    "first_name": ("First name", "text"),
    "last_name": ("Last name", "text"),
    "company": ("Company", "text"),
    "title": ("Job title", "text"),
    "phone": ("Phone", "tel"),
    "country": ("Country (2-letter code)", "text"),
    "website": ("Website", "url"),
    "company_size": ("Company size", "number"),
    "industry": ("Industry", "text"),
    "budget": ("Budget", "decimal"),
    "authority": ("Do you decide on the purchase?", "yesno"),
    "need": ("What do you need?", "text"),
    "timeline": ("When do you plan to buy?", "text"),
}
HONEYPOT = "hp_fax"  # a field people never see or fill; bots do
CONSENT = "consent"


def field_choices() -> list[tuple[str, str]]:
    """The fields a form may ask for, as marketing picks them (custom ones marked)."""
    custom = [(f"custom.{f.name}", f"{f.label} (custom)") for f in CustomField.objects.all()]
    return [(name, label) for name, (label, _) in FORM_FIELDS.items()] + custom


def field_labels() -> dict[str, str]:
    """Each field a form may ask for → the label its visitors read."""
    custom = {f"custom.{f.name}": f.label for f in CustomField.objects.all()}
    return {name: label for name, (label, _) in FORM_FIELDS.items()} | custom


def labelled_errors(errors: dict[str, list[str]]) -> list[tuple[str, str]]:
    """A submission's errors for its visitor: (the field's label, the messages). Scripts
    get `errors` itself, by field name."""
    labels = field_labels()
    return [
        (labels.get(name, name.removeprefix("custom.").replace("_", " ").capitalize()),
         " ".join(messages))
        for name, messages in errors.items()
    ]  # fmt: skip


def validate_definition(*, fields: list[str], required: list[str]) -> dict[str, str]:
    """Errors by form attribute; empty when the definition is usable."""
    known = {name for name, _ in field_choices()}
    errors = {}
    unknown = [f for f in fields if f not in known]
    if not fields:
        errors["fields"] = "Choose at least one field."
    elif unknown:
        errors["fields"] = f"Unknown fields: {', '.join(unknown)}."
    elif not {"email", "phone"} & set(fields):
        errors["fields"] = "A form needs an email or a phone field to identify the lead."
    if set(required) - set(fields):
        errors["required"] = "Only fields on the form can be required."
    return errors


@dataclass(frozen=True)
class Definition:
    """What a web form asks and where its leads are attributed."""

    name: str
    fields: list[str]
    required: list[str] = field(default_factory=list)
    source: str = Source.WEB_FORM
    campaign_code: str = ""  # empty: no campaign
    consent_text: str = ""  # empty: the form asks for no consent
    redirect_url: str = ""  # the thank-you page; empty: LeadFlow's own


def create_form(*, definition: Definition, by, now: datetime) -> LeadForm:
    """A new web-to-lead form with a unique slug made from its name (its address
    /f/<slug>/ never changes). A definition the form cannot use raises one LeadFlowError
    listing the field errors (`errors`); nothing is saved."""
    form = LeadForm(slug="", created_by=by, created_at=now)
    _define(form, definition)
    base = slugify(form.name)[:50] or "form"
    taken = set(LeadForm.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    for n in count(1):
        form.slug = base if n == 1 else f"{base}-{n}"
        if form.slug in taken:
            continue
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:
            if not LeadForm.objects.filter(slug=form.slug).exists():
                raise
            continue  # another form took this slug a moment ago: try the next
        return form


def update_form(*, form_id: int, definition: Definition, active: bool = True) -> LeadForm:
    """Change what a form asks and where its leads are attributed, or switch it off (an
    inactive form answers 404); its slug stays, so pasted snippets keep working. Errors
    as for `create_form`."""
    with transaction.atomic():
        form = LeadForm.objects.select_for_update().get(pk=form_id)
        _define(form, definition)
        form.active = active
        form.save()
    return form


def set_form_active(*, form_id: int, active: bool) -> LeadForm:
    """Switch a form off (its address answers 404, pasted snippets stop creating leads)
    or on again; nothing else about it changes."""
    with transaction.atomic():
        form = LeadForm.objects.select_for_update().get(pk=form_id)
        if form.active != active:
            form.active = active
            form.save(update_fields=["active"])
    return form


def _define(form: LeadForm, definition: Definition) -> None:
    """Set a form's definition, or raise a LeadFlowError with every field's error."""
    fields, required = list(definition.fields), list(definition.required)
    errors = validate_definition(fields=fields, required=required)
    form.name, form.fields, form.required = definition.name.strip(), fields, required
    form.source = definition.source or Source.WEB_FORM
    form.consent_text = definition.consent_text.strip()[:500]
    form.redirect_url = definition.redirect_url.strip()
    if form.redirect_url and urlsplit(form.redirect_url).scheme.lower() not in ("http", "https"):
        errors["redirect_url"] = "Enter a web address starting with http:// or https://."
    code = definition.campaign_code
    form.campaign = Campaign.objects.filter(code=code).first() if code else None
    if not form.name:
        errors["name"] = "Give the form a name."
    if code and form.campaign is None:
        errors["campaign"] = "No such campaign."
    if form.source not in Source.values:
        errors["source"] = "Choose a source."
    if form.redirect_url and urlsplit(form.redirect_url).scheme.lower() not in ("http", "https"):
        errors["redirect_url"] = "The thank-you page must be an http:// or https:// address."
    try:
        form.full_clean(exclude=["slug", *errors])
    except ValidationError as exc:  # a bad redirect URL, mostly
        errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if errors:
        raise LeadFlowError("The form has errors; nothing was saved.", errors=errors)


def snippet(form: LeadForm, *, action_url: str) -> str:
    """Self-contained HTML to paste into any page (no script needed)."""
    labels = field_labels()
    custom_types = {f"custom.{f.name}": f for f in CustomField.objects.all()}
    lines = [f'<form method="post" action="{escape(action_url)}" class="leadflow-form">']
    for name in form.fields:
        label = escape(labels.get(name, name))
        required = " required" if name in form.required else ""
        ident = f"lf-{name.replace('.', '-')}"
        lines.append(f'  <p><label for="{ident}">{label}</label><br>')
        custom = custom_types.get(name)
        kind = FORM_FIELDS[name][1] if name in FORM_FIELDS else "text"
        if custom and custom.type == CustomField.Type.CHOICE:
            options = "".join(f"<option>{escape(c)}</option>" for c in custom.choices)
        elif kind == "yesno":
            options = '<option value="yes">Yes</option><option value="no">No</option>'
        else:
            options = None
        if options is not None:
            lines.append(
                f'  <select id="{ident}" name="{name}"{required}><option value=""></option>'
                f"{options}</select></p>"
            )
        elif kind == "decimal":
            lines.append(
                f'  <input id="{ident}" name="{name}" type="text" inputmode="decimal"'
                f"{required}></p>"
            )
        else:
            lines.append(f'  <input id="{ident}" name="{name}" type="{kind}"{required}></p>')
    lines.append(
        f'  <p style="position:absolute;left:-10000px" aria-hidden="true">'
        f'<input name="{HONEYPOT}" tabindex="-1" autocomplete="off"></p>'
    )
    if form.consent_text:
        lines.append(
            f'  <p><label><input type="checkbox" name="{CONSENT}" value="yes"> '
            f"{escape(form.consent_text)}</label></p>"
        )
    lines.append('  <p><button type="submit">Send</button></p>')
    lines.append("</form>")
    return "\n".join(lines)


@dataclass
class Submission:
    """A submission's outcome. The public answer shows only `ok` and `errors` (the
    submitted values' own errors): never whether the lead existed."""

    ok: bool
    created: bool = False
    lead_id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    spam: bool = False


def allow_submission(*, form: LeadForm, ip: str, now: datetime) -> bool:
    """At most FORM_RATE_LIMIT submissions per IP and form per minute (counted in Redis)."""
    window = int(now.timestamp()) // 60
    key = f"formrate:{form.pk}:{ip}:{window}"
    cache.add(key, 0, timeout=120)
    return cache.incr(key) <= settings.FORM_RATE_LIMIT


def submit(*, form: LeadForm, post: dict[str, str], now: datetime) -> Submission:
    """Validate and capture one submission of `form`."""
    if post.get(HONEYPOT):
        return Submission(ok=True, spam=True)  # look successful to the bot, write nothing
    values = {name: (post.get(name) or "").strip() for name in form.fields}
    errors = {name: ["This field is required."] for name in form.required if not values.get(name)}
    payload: dict = {
        name: value for name, value in values.items() if value and not name.startswith("custom.")
    }
    custom = {
        name.removeprefix("custom."): value
        for name, value in values.items()
        if value and name.startswith("custom.")
    }
    if custom:
        payload["custom"] = custom
    payload["source"] = form.source
    if form.campaign_id:
        payload["campaign"] = form.campaign.code
    serializer = LeadSerializer(data=payload)
    if not serializer.is_valid():
        for name, messages in serializer.errors.items():
            if name == "custom" and isinstance(messages, dict):
                for key, custom_messages in messages.items():
                    errors.setdefault(f"custom.{key}", []).extend(custom_messages)
            else:
                errors.setdefault(name, []).extend(messages)
    if errors:
        return Submission(ok=False, errors=errors)
    consented = bool(form.consent_text) and (post.get(CONSENT) or "").lower() in {
        "yes",
        "on",
        "true",
        "1",
    }
    data = dict(serializer.validated_data)
    if consented:
        data["consent_status"] = ConsentStatus.GRANTED
    try:
        with transaction.atomic():
            result = capture_lead(
                data=data, channel="web_form", consent_method=f"web form {form.slug}", now=now
            )
            if consented and result.lead.consent_status != ConsentStatus.GRANTED:
                # Refused or withdrawn before: only the person's confirmation grants it.
                record_activity(
                    lead_id=result.lead.pk, kind=CONSENT_REQUESTED, occurred_at=now,
                    data={"form": form.slug}, now=now,
                )  # fmt: skip
            record_event(
                lead_id=result.lead.pk,
                type=Activity.Kind.FORM_SUBMIT,
                occurred_at=now,
                data={"form": form.slug},
                now=now,
            )
    except IdentityConflict as exc:
        # The values clash with leads that exist (an identity of another lead): saying so
        # would tell that they exist. Nothing is written; the answer is the usual one.
        log.warning("Web form %s: submission not captured: %s", form.slug, exc.message)
        return Submission(ok=True)
    return Submission(ok=True, created=result.created, lead_id=result.lead.pk)
