"""The capture spec: what identifies a lead, what a capture may fill, and the field
checks every channel applies. Written once, here.

`capture_lead` (a lead at a time) runs `find_lead` and `fillable_value`; the
set-based import (`leads.services.imports.merge`) builds its SQL from the same
data: `MATCH_ORDER`, each `Identity`'s rules, `FILLABLE_FIELDS`. The API
serializer and the CSV row parser use the same checks (`has_identity`,
`clean_country`).

Identity (DESIGN.md: "capture never creates a duplicate"):

- A capture is matched step by step, in `MATCH_ORDER`: the lead's live email,
  else its (source, external id), else its phone; then the same three among the
  identities merges left behind (`LeadAlias`, pointing at the survivor). Live
  identities always win over aliases; the first step that finds a lead decides.
- Emails and (source, external id) are unique; phones are not (an office line):
  the earliest lead with the phone (created_at, id) is taken, and a capture that
  carries an email only takes a lead that has no email yet.
- An external id that belongs to a lead with another email is a conflict
  (`IdentityConflict`), not a match.

Filling: an existing lead only gets its EMPTY `FILLABLE_FIELDS` filled and absent
custom keys added, never a field a person edited (`Lead.human_edited`), and never
an identity it already holds as an alias: that value came from another lead, and
unmerging gives it back there.

Consent (`capture_may_state_consent`): a capture states marketing-email consent where
none is stated yet, and may take a granted one back; it never erases a stated consent
(`unknown` says nothing) and never grants again what the person refused (denied) or
withdrew — only a person editing the lead, or the person's own confirmation, may.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Q

from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import ConsentStatus, Lead, Source
from leads.normalise import company_domain
from leads.rows import execute_prepared, reader
from leads.values import parse_decimal

# The match's SQL is built from the spec's constants; values travel as parameters.
# ruff: noqa: S608


@dataclass(frozen=True)
class Identity:
    """One kind of identity: a Lead field (and the `LeadAlias.kind` of the same name)."""

    field: str
    # Unique within the lead's source system, not globally (external ids).
    per_source: bool = False
    # Found on a lead that has another email: a conflict, not a match.
    conflicts_with_other_email: bool = False
    # A capture with an email only takes a lead with no email (two people can share
    # an office phone; an email names one of them).
    emailless_lead_for_email_rows: bool = False


EMAIL = Identity("email")
EXTERNAL_ID = Identity("external_id", per_source=True, conflicts_with_other_email=True)
PHONE = Identity("phone", emailless_lead_for_email_rows=True)
IDENTITIES = (EMAIL, EXTERNAL_ID, PHONE)
IDENTITY_FIELDS = tuple(identity.field for identity in IDENTITIES)


@dataclass(frozen=True)
class Step:
    """One lookup of the match: an identity, on the lead itself or among its aliases."""

    identity: Identity
    alias: bool


MATCH_ORDER = (
    *(Step(identity, alias=False) for identity in IDENTITIES),
    *(Step(identity, alias=True) for identity in IDENTITIES),
)


@dataclass(frozen=True)
class Fillable:
    name: str
    csv: bool = True  # a CSV import can carry it (the import's staged columns follow)


# Fields a repeated capture may fill when they are empty on the existing lead.
FILLABLE = (
    Fillable("email"),
    Fillable("phone"),
    Fillable("external_id"),
    Fillable("first_name"),
    Fillable("last_name"),
    Fillable("title"),
    Fillable("company"),
    Fillable("company_domain"),
    Fillable("website"),
    Fillable("company_size"),
    Fillable("industry"),
    Fillable("country"),
    Fillable("time_zone"),
    Fillable("campaign"),
    Fillable("budget"),
    Fillable("authority"),
    Fillable("need"),
    Fillable("timeline"),
    Fillable("converted"),
)
FILLABLE_FIELDS = tuple(f.name for f in FILLABLE)
CSV_FILLABLE_FIELDS = tuple(f.name for f in FILLABLE if f.csv)

# --- field checks ------------------------------------------------------------------

MISSING_IDENTITY = "A lead needs an email, a phone number or an external id."


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def has_identity(values: Mapping[str, Any]) -> bool:
    """True when the values carry at least one identity (the `lead_has_identity` rule)."""
    return any(values.get(name) for name in IDENTITY_FIELDS)


def require_identity(values: Mapping[str, Any]) -> None:
    if not has_identity(values):
        raise LeadFlowError(MISSING_IDENTITY)


def clean_country(raw: str | None) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased ("" for none); ValueError for people."""
    value = (raw or "").strip()
    if not value:
        return ""
    if len(value) != 2 or not value.isalpha() or not value.isascii():
        raise ValueError(f"{value!r} is not a two-letter ISO country code, e.g. DE.")
    return value.upper()


BUDGET_PLACES = Lead._meta.get_field("budget").decimal_places
BUDGET_DIGITS = Lead._meta.get_field("budget").max_digits


def clean_budget(raw: Any) -> Decimal | None:
    """An amount of money ≥ 0 with at most two decimal places, read the way people and
    exports write it (`12,500.50`, `12.500,50`, `12 500`, a JSON number); None for
    none; ValueError for people."""
    value = parse_decimal(raw)
    if value is None:
        return None
    if value < 0:
        raise ValueError("A budget cannot be negative.")
    if value.as_tuple().exponent < -BUDGET_PLACES:  # type: ignore[operator]
        raise ValueError(f"A budget has at most {BUDGET_PLACES} decimal places.")
    # Before quantizing (1e30 has more digits than the decimal context holds): at most
    # BUDGET_DIGITS - BUDGET_PLACES digits before the point, so the quantized value fits.
    if not value.is_zero() and value.adjusted() >= BUDGET_DIGITS - BUDGET_PLACES:
        raise ValueError(f"{raw!r} is too large for a budget.")
    return value.quantize(Decimal(1).scaleb(-BUDGET_PLACES))


# Files of a system's zoneinfo folder that name no zone of the IANA database.
_NOT_ZONES = {"localtime", "posixrules"}


@cache
def _time_zones() -> dict[str, str]:
    """IANA time zone names by their lower-cased spelling (the list never changes while
    the process runs)."""
    return {name.lower(): name for name in zoneinfo.available_timezones() if name not in _NOT_ZONES}


def clean_time_zone(raw: str | None) -> str:
    """An IANA time zone name in its own spelling (`europe/berlin` → `Europe/Berlin`),
    "" for none; ValueError for people."""
    value = (raw or "").strip()
    if not value:
        return ""
    name = _time_zones().get(value.lower())
    if name is None:
        raise ValueError(f"{value!r} is not a time zone; use an IANA name, e.g. Europe/Berlin.")
    return name


def capture_may_state_consent(current: str, stated: str | None) -> bool:
    """Whether a capture sets a lead's consent `current` to the `stated` one (see the
    module's docstring: never erased, never granted again once refused or withdrawn)."""
    if not stated or stated in (ConsentStatus.UNKNOWN, current):
        return False
    if current == ConsentStatus.UNKNOWN:
        return True
    return current == ConsentStatus.GRANTED  # taken back: denied or withdrawn


def derived_company_domain(values: Mapping[str, Any]) -> str:
    """The company domain a capture gets when it names none: from the website, else
    from a business email."""
    return values.get("company_domain") or company_domain(
        email=values.get("email"), website=values.get("website")
    )


# --- the match, a lead at a time -----------------------------------------------------


def label(field: str) -> str:
    """An identity's name in messages: "Email", "Phone", "External id"."""
    return field.replace("_", " ").capitalize()


def conflict_message(field: str, value: str, lead_id: int) -> str:
    return f"{label(field)} {value!r} already belongs to lead {lead_id} with another email address."


def key_source(identity: Identity, source: str) -> str:
    """The source part of an identity's key: the source system for per-source ids."""
    return source if identity.per_source else ""


def _step_filter(step: Step, value: str, source: str) -> Q:
    name = step.identity.field
    if step.alias:
        return Q(aliases__kind=name, aliases__value=value) & (
            Q(aliases__source=source) if step.identity.per_source else Q()
        )
    return Q(**{name: value}) & (Q(source=source) if step.identity.per_source else Q())


def find_lead(values: Mapping[str, Any], *, lock: bool = True) -> Lead | None:
    """The lead these capture values identify (locked FOR UPDATE), or None. With
    `lock=False` the same lookup only reads (the New lead page's duplicate warning).

    IdentityConflict when an external id belongs to a lead with another email.

    One statement: every step of `MATCH_ORDER` that the values can take is a branch of
    a UNION ALL (its earliest lead), the first branch that finds one decides, and that
    lead is locked and read with the identities it holds as aliases (`held_as_alias`).
    The branches are the SQL form of `_step_filter` (the stepwise lookup, kept for the
    rare case below). The lock may wait for a transaction that changed the lead; the
    statement's other rows are then from before it, so the lead is checked again
    against its step under the lock, and when it no longer matches (or matched by an
    alias) the lookup is redone step by step.
    """
    email = values.get("email")
    source = values.get("source") or Source.OTHER
    branches, params, steps = [], [], []
    for step in MATCH_ORDER:
        value = values.get(step.identity.field)
        if not value:
            continue
        sql, step_params = _step_sql(step, value, source, email=email)
        branches.append(f"(SELECT {len(steps)} AS step, {sql})")
        params.extend(step_params)
        steps.append((step, value))
    if not branches:
        return None
    columns, make = reader(Lead, "l")
    with connection.cursor() as cursor:
        execute_prepared(
            cursor,
            f"SELECT {columns}, m.step, ARRAY(SELECT ARRAY[a.kind, a.value] FROM "
            "leads_leadalias a WHERE a.lead_id = l.id) AS held FROM (SELECT * FROM "
            f"({' UNION ALL '.join(branches)}) c ORDER BY step LIMIT 1) m "
            f"JOIN leads_lead l ON l.id = m.id{' FOR UPDATE OF l' if lock else ''}",
            params,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    *fields, found_by, held = row
    lead = make(fields)
    step, value = steps[found_by]
    if step.alias or not _matches(lead, step, value, source, email=email):
        return _find_lead_stepwise(values, lock=lock)
    lead._held_as_alias = {(kind, alias) for kind, alias in held}
    _check_conflict(lead, step.identity, value, email)
    return lead


def _step_sql(step: Step, value: str, source: str, *, email: str | None) -> tuple[str, list]:
    """`id, created_at` of the earliest lead `step` finds for `value` (as SQL)."""
    field = step.identity.field
    if step.alias:
        sql = (
            "l.id FROM leads_lead l JOIN leads_leadalias a ON a.lead_id = l.id "
            f"WHERE a.kind = '{field}' AND a.value = %s"
        )
        params = [value]
        if step.identity.per_source:
            sql += " AND a.source = %s"
            params.append(source)
    else:
        sql = f"l.id FROM leads_lead l WHERE l.{field} = %s"
        params = [value]
        if step.identity.per_source:
            sql += " AND l.source = %s"
            params.append(source)
    if step.identity.emailless_lead_for_email_rows and email:
        sql += " AND l.email IS NULL"
    return f"{sql} ORDER BY l.created_at, l.id LIMIT 1", params


def _matches(lead: Lead, step: Step, value: str, source: str, *, email: str | None) -> bool:
    """Whether the (locked, current) lead still holds `value` as `step` asks."""
    identity = step.identity
    if getattr(lead, identity.field) != value:
        return False
    if identity.per_source and lead.source != source:
        return False
    return not (identity.emailless_lead_for_email_rows and email and lead.email)


def _check_conflict(lead: Lead, identity: Identity, value: str, email: str | None) -> None:
    if identity.conflicts_with_other_email and email and lead.email and lead.email != email:
        raise IdentityConflict(
            conflict_message(identity.field, value, lead.pk), field=identity.field
        )


def _find_lead_stepwise(values: Mapping[str, Any], *, lock: bool = True) -> Lead | None:
    """`find_lead` a step at a time, each step's lookup locking (and re-checking) its lead."""
    leads = Lead.objects.select_for_update(of=("self",)) if lock else Lead.objects.all()
    email = values.get("email")
    source = values.get("source") or Source.OTHER
    for step in MATCH_ORDER:
        identity = step.identity
        value = values.get(identity.field)
        if not value:
            continue
        candidates = leads.filter(_step_filter(step, value, source))
        if identity.emailless_lead_for_email_rows and email:
            candidates = candidates.filter(email__isnull=True)
        lead = candidates.order_by("created_at", "id").first()
        if lead is None:
            continue
        _check_conflict(lead, identity, value, email)
        return lead
    return None


def identity_keys(lead: Lead) -> set[tuple[str, str, str]]:
    """(kind, source, value) of each identity the lead holds live, keyed as a
    `LeadAlias` is: an external id with the lead's source, emails and phones with ""."""
    return {
        (identity.field, key_source(identity, lead.source), getattr(lead, identity.field))
        for identity in IDENTITIES
        if getattr(lead, identity.field)
    }


def held_as_alias(lead: Lead) -> set[tuple[str, Any]]:
    """(field, value) of the identities the lead holds as aliases (an external id
    whatever its source: the lead would otherwise claim it twice); read with the lead
    when `find_lead` found it."""
    held = getattr(lead, "_held_as_alias", None)
    if held is None:
        held = set(lead.aliases.values_list("kind", "value"))
    return held


def fillable_value(lead: Lead, name: str, value: Any, *, held: set[tuple[str, Any]]) -> bool:
    """Whether a capture fills the lead's field `name` with `value` (`held`: the
    lead's `held_as_alias`)."""
    if is_empty(value) or name in lead.human_edited or (name, value) in held:
        return False
    # A foreign key's id: whether it is empty needs no query.
    return is_empty(getattr(lead, Lead._meta.get_field(name).attname))
