"""Email templates: saved only when they compile and every merge field is safe; rendered
from a plain dict of allowed values (never a model), HTML escaped in the HTML body.

Merge fields: `first_name`, `last_name`, `company`, `title`, `country`, `owner_name`,
`custom.<name>` (a custom field's value) and `unsubscribe_url` (always set). Each field
a lead may lack is written with a default (`{{ first_name|default:"there" }}`) or
inside an `{% if first_name %}` that tests it, so no email ever reads "Hi ,"; that is
checked when the template is saved, never at send time. Template tags are limited to
the harmless ones (if, for, with, firstof, comment, spaceless, filter, autoescape):
no include, extends, load, debug, now or url.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import FilterExpression, NodeList, VariableNode
from django.template.defaulttags import IfNode
from django.utils import timezone

from leads.exceptions import LeadFlowError
from leads.models import CustomField, Lead
from nurturing.models import Template

FIELDS = ("first_name", "last_name", "company", "title", "country", "owner_name")
ALWAYS_SET = ("unsubscribe_url",)
ALLOWED_TAGS = frozenset(
    {
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "empty",
        "endfor",
        "with",
        "endwith",
        "firstof",
        "comment",
        "endcomment",
        "spaceless",
        "endspaceless",
        "filter",
        "endfilter",
        "autoescape",
        "endautoescape",
    }
)
LIMITS = {"subject": 300, "html": 100_000, "text": 100_000}

# No loaders (nothing to include or extend), no tag libraries to load; `debug` off.
_HTML = Engine(loaders=[], libraries={}, autoescape=True)
_PLAIN = Engine(loaders=[], libraries={}, autoescape=False)


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


class TemplateError(LeadFlowError):
    """A template that cannot be saved; `errors` maps subject/html/text to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _names(expression) -> set[str]:
    """The variable names an `{% if %}` condition reads."""
    found: set[str] = set()
    stack = [expression]
    while stack:
        item = stack.pop()
        if isinstance(item, FilterExpression):
            var = getattr(item.var, "var", None)
            if isinstance(var, str):
                found.add(var)
        for attr in ("value", "first", "second"):
            inner = getattr(item, attr, None)
            if inner is not None and inner is not item:
                stack.append(inner)
    return found


def _unsafe_fields(nodelist: NodeList, guarded: frozenset[str], known: set[str]) -> list[str]:
    """Merge fields used with neither a default nor an `{% if %}` on them, and unknown
    ones (reported as `?name`)."""
    problems: list[str] = []
    for node in nodelist:
        if isinstance(node, VariableNode):
            var = getattr(node.filter_expression.var, "var", None)
            if not isinstance(var, str):
                continue  # a literal
            if var not in known:
                problems.append(f"?{var}")
            elif (
                var not in ALWAYS_SET
                and var not in guarded
                and not any(f.__name__ == "default" for f, _args in node.filter_expression.filters)
            ):
                problems.append(var)
            continue
        if isinstance(node, IfNode):
            for condition, inner in node.conditions_nodelists:
                names = _names(condition) if condition is not None else set()
                problems += _unsafe_fields(inner, guarded | names, known)
            continue
        for attr in getattr(node, "child_nodelists", ()):
            inner = getattr(node, attr, None)
            if isinstance(inner, NodeList):
                problems += _unsafe_fields(inner, guarded, known)
    return problems


def _tags(source: str) -> set[str]:
    from django.template.base import Lexer, TokenType

    return {
        token.split_contents()[0]
        for token in Lexer(source).tokenize()
        if token.token_type == TokenType.BLOCK and token.contents.strip()
    }


def known_fields() -> set[str]:
    custom = {f"custom.{name}" for name in CustomField.objects.values_list("name", flat=True)}
    return {*FIELDS, *ALWAYS_SET, *custom}


def check_template(*, subject: str, html: str, text: str) -> dict[str, str]:
    """What is wrong with each part (subject, html, text); empty when it may be saved."""
    errors: dict[str, str] = {}
    known = known_fields()
    for part, source, engine in (
        ("subject", subject, _PLAIN),
        ("html", html, _HTML),
        ("text", text, _PLAIN),
    ):
        if not isinstance(source, str) or not source.strip():
            errors[part] = "Write this part of the email."
            continue
        if "\x00" in source:
            errors[part] = "Remove the NUL character (\\x00)."
            continue
        if len(source) > LIMITS[part]:
            errors[part] = f"Use at most {LIMITS[part]:,} characters."
            continue
        try:
            refused = sorted(_tags(source) - ALLOWED_TAGS)
        except TemplateSyntaxError as exc:
            errors[part] = str(exc)
            continue
        if refused:
            errors[part] = f"{{% {refused[0]} %}} cannot be used in an email template."
            continue
        try:
            compiled = engine.from_string(source)
        except TemplateSyntaxError as exc:
            errors[part] = f"This does not compile: {exc}"
            continue
        problems = _unsafe_fields(compiled.nodelist, frozenset(), known)
        unknown = sorted({p[1:] for p in problems if p.startswith("?")})
        bare = sorted({p for p in problems if not p.startswith("?")})
        if unknown:
            fields = ", ".join(sorted(known))
            errors[part] = f"Unknown merge field {unknown[0]!r}: use one of {fields}."
        elif bare:
            errors[part] = (
                f'Give {{{{ {bare[0]} }}}} a default, e.g. {{{{ {bare[0]}|default:"there" }}}}, '
                f"or put it inside {{% if {bare[0]} %}}: a lead without it would read a gap."
            )
    if "subject" not in errors and "\n" in subject:
        errors["subject"] = "The subject must be one line."
    return errors


def save_template(
    *, subject: str, html: str, text: str, name: str, template_id: int | None = None
) -> Template:
    """Create a template or change one (`template_id`), refusing one that does not
    compile or has an unsafe merge field (TemplateError, nothing saved)."""
    errors = check_template(subject=subject, html=html, text=text)
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the template a name."
    elif len(name) > 200 or "\x00" in name:
        errors["name"] = "Use at most 200 characters, and no NUL character."
    elif Template.objects.filter(name=name).exclude(pk=template_id).exists():
        errors["name"] = f"A template called {name!r} exists already."
    if errors:
        raise TemplateError(errors)
    now = timezone.now()
    with transaction.atomic():
        if template_id is None:
            return Template.objects.create(
                name=name,
                subject=subject.strip(),
                html=html,
                text=text,
                created_at=now,
                updated_at=now,
            )
        template = Template.objects.select_for_update().get(pk=template_id)
        template.name, template.subject, template.html, template.text = name, subject, html, text
        template.updated_at = now
        template.save()
        return template


def merge_values(lead: Lead, *, unsubscribe_url: str) -> dict:
    """The plain dict a template is rendered from: the lead's allowed fields only."""
    owner = lead.owner
    return {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "company": lead.company,
        "title": lead.title,
        "country": lead.country,
        "owner_name": (owner.get_full_name() or owner.username) if owner else "",
        "custom": {k: "" if v is None else str(v) for k, v in (lead.custom or {}).items()},
        "unsubscribe_url": unsubscribe_url,
    }


@functools.lru_cache(maxsize=256)
def _compiled(source: str, *, html: bool):
    """A template's part compiled once per process (a batch renders it for every row);
    keyed by its text, so an edited template compiles anew."""
    return (_HTML if html else _PLAIN).from_string(source)


def render(template: Template, values: dict) -> Rendered:
    """The email as the lead gets it: subject and text unescaped (they are not HTML), the
    HTML body with every value escaped."""
    plain = Context(values, autoescape=False)
    subject = " ".join(_compiled(template.subject, html=False).render(plain).split())
    return Rendered(
        subject=subject[:300],
        html=_compiled(template.html, html=True).render(Context(values)),
        text=_compiled(template.text, html=False).render(plain),
    )


def delete_template(*, template_id: int) -> None:
    """Delete a template no step uses; refused (naming the tracks) while one does — its
    sent emails keep their subject and lose only the link to it."""
    with transaction.atomic():
        template = Template.objects.select_for_update().get(pk=template_id)
        used = sorted(set(template.steps.values_list("track__name", flat=True)))
        if used:
            names = ", ".join(f"“{name}”" for name in used)
            raise LeadFlowError(
                f"The template “{template.name}” is used by the track{'s' if len(used) > 1 else ''}"
                f" {names}: remove its email steps first."
            )
        template.delete()


def preview(template: Template, lead: Lead) -> Rendered:
    """The email as `lead` would get it (the unsubscribe link a placeholder)."""
    return render(template, merge_values(lead, unsubscribe_url="https://example.invalid/u/…/"))
