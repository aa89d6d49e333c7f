"""The condition language of LeadFlow's rules: a test of one lead field or custom field,
compiled to SQL over the lead row `l`.

    {"field": "country", "op": "in", "value": ["DE", "AT"]}
    {"field": "company_size", "op": "range", "min": 200, "max": 2000}
    {"field": "custom.crm_in_use", "op": "is_set"}

Scoring's fit, engagement and disqualification rules are written in it, and so are the
rules of the apps built on scoring (nurture enrolment, handoff routing): marketing
learns it once, and one compiler (`condition_sql`, `compile_condition`) decides what a
condition means everywhere. Every value from a person travels as a query parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from leads.exceptions import LeadFlowError
from leads.models import CustomField
from leads.normalise import FREE_MAIL_DOMAINS
from leads.values import parse_date

OPS = ("equals", "in", "contains", "range", "is_set")
VALUE = (-(10**12), 10**12)  # a number a rule compares a field with (budgets included)
MAX_VALUES = 500  # values of one "in" rule
MAX_TEXT = 200
# The keys a condition may have (a rule adds its own: name, points, ...).
CONDITION_KEYS = ("field", "op", "value", "min", "max")

# Lead fields a rule may test: name → (SQL over the lead row `l`, type, what people see).
FIELDS: dict[str, tuple[str, str, str]] = {
    "title": ("l.title", "text", "Title"),
    "company": ("l.company", "text", "Company"),
    "company_domain": ("l.company_domain", "text", "Company domain"),
    "email_domain": ("split_part(l.email, '@', 2)", "text", "Email domain"),
    "industry": ("l.industry", "text", "Industry"),
    "country": ("l.country", "text", "Country"),
    "source": ("l.source", "text", "Source channel"),
    "need": ("l.need", "text", "Need (BANT)"),
    "timeline": ("l.timeline", "text", "Timeline (BANT)"),
    "consent_status": ("l.consent_status", "text", "Email consent"),
    "company_size": ("l.company_size", "number", "Company size"),
    "budget": ("l.budget", "number", "Budget (BANT)"),
    "authority": ("l.authority", "bool", "Authority (BANT)"),
    "converted": ("l.converted", "bool", "Converted"),
    "free_mail": ("(split_part(l.email, '@', 2) = ANY(%s))", "bool", "Free-mail address"),
    "days_inactive": (
        "(date_part('epoch', (%s::timestamptz - coalesce(l.last_activity_at, l.created_at)))"
        " / 86400)",
        "number",
        "Days inactive",
    ),
}
_CUSTOM_SQL = {
    CustomField.Type.TEXT: ("(l.custom ->> %s)", "text"),
    CustomField.Type.CHOICE: ("(l.custom ->> %s)", "text"),
    CustomField.Type.NUMBER: ("(l.custom ->> %s)::numeric", "number"),
    CustomField.Type.BOOL: ("(l.custom ->> %s)::boolean", "bool"),
    CustomField.Type.DATE: ("(l.custom ->> %s)::date", "date"),
}
OP_LABELS = {
    "equals": "is",
    "in": "is one of",
    "contains": "contains",
    "range": "is between",
    "is_set": "is set",
}
OPS_BY_TYPE = {
    "text": ("equals", "in", "contains", "is_set"),
    "number": ("equals", "in", "range", "is_set"),
    "bool": ("equals", "is_set"),
    "date": ("equals", "range", "is_set"),
}


def field_labels(custom: Iterable[CustomField]) -> dict[str, str]:
    """Every field a rule may test → what people see: the lead's, then the custom ones."""
    return {
        **{name: label for name, (_sql, _kind, label) in FIELDS.items()},
        **{f"custom.{f.name}": f.label for f in custom},
    }


class DefinitionError(LeadFlowError):
    """A definition (a scoring model, a condition of another app's rule) that cannot be
    used; `errors` maps a path (rules.2.points) to a message."""

    def __init__(self, errors: dict[str, str], *, what: str = "The scoring model"):
        super().__init__(f"{what} has errors: " + "; ".join(
            f"{path}: {message}" for path, message in errors.items()
        ))  # fmt: skip
        self.errors = errors


@dataclass
class Sql:
    """A piece of SQL and its parameters, in order."""

    text: str
    params: list = field(default_factory=list)


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_number(
    value,
    path: str,
    errors: dict,
    *,
    bounds: tuple[int, int],
    missing: str = "Enter a number.",
    allow_none: bool = False,
) -> float | None:
    """`value` (a number, or text of one) within `bounds`; None, with an error at `path`
    unless it may be left out (`allow_none`), when it is not."""
    if is_blank(value):
        if not allow_none:
            errors[path] = missing
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        errors[path] = "Enter a number."
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors[path] = "Enter a number."
        return None
    if not number.is_finite():
        errors[path] = "Enter a number."
        return None
    low, high = bounds
    if not low <= number <= high:
        errors[path] = f"Use a number from {low:,} to {high:,}."
        return None
    return float(number)


def read_text(value, path: str, errors: dict, *, missing: str, limit: int) -> str | None:
    """`value` stripped, if it is text PostgreSQL can hold, of at most `limit` characters."""
    if not isinstance(value, str) or not value.strip():
        errors[path] = missing
        return None
    if "\x00" in value:
        errors[path] = "Remove the NUL character (\\x00)."
        return None
    if len(value.strip()) > limit:
        errors[path] = f"Use at most {limit} characters."
        return None
    return value.strip()


def field_sql(name: str, custom: dict[str, CustomField], now) -> tuple[Sql, str] | None:
    if name.startswith("custom."):
        definition = custom.get(name.removeprefix("custom."))
        if definition is None:
            return None
        sql, kind = _CUSTOM_SQL[definition.type]
        return Sql(sql, [definition.name]), kind
    if name not in FIELDS:
        return None
    sql, kind, _label = FIELDS[name]
    if name == "free_mail":
        return Sql(sql, [sorted(FREE_MAIL_DOMAINS)]), kind
    if name == "days_inactive":
        return Sql(sql, [now]), kind
    return Sql(sql, []), kind


def typed_value(value, kind: str, path: str, errors: dict):
    if kind == "number":
        return read_number(value, path, errors, bounds=VALUE)
    if kind == "bool":
        if not isinstance(value, bool):
            errors[path] = "Enter true or false."
        return value
    if kind == "date":
        try:
            parsed = parse_date(value)
        except (ValueError, TypeError, OverflowError):
            parsed = None
        if parsed is None:
            errors[path] = "Enter a date, e.g. 2026-03-01."
        return parsed
    return read_text(value, path, errors, missing="Enter a value.", limit=MAX_TEXT)


def condition_sql(rule: dict, path: str, custom, now, errors: dict) -> Sql | None:
    """The rule's test as SQL (NULL-safe: an unknown value never matches)."""
    name, op = rule.get("field"), rule.get("op")
    if is_blank(name):
        errors[f"{path}.field"] = "Choose a field."
        return None
    compiled = field_sql(name, custom, now) if isinstance(name, str) else None
    if compiled is None:
        errors[f"{path}.field"] = f"Unknown field {name!r}."
        return None
    expr, kind = compiled
    if is_blank(op):
        errors[f"{path}.op"] = "Choose a test."
        return None
    if op not in OPS_BY_TYPE[kind]:
        errors[f"{path}.op"] = f"Use one of {', '.join(OPS_BY_TYPE[kind])} for this field."
        return None
    if op == "is_set":
        if kind == "text":
            return Sql(f"COALESCE({expr.text} <> '', false)", expr.params)
        return Sql(f"({expr.text} IS NOT NULL)", expr.params)
    if op == "range":
        low, high = (
            None
            if is_blank(rule.get(end))
            else typed_value(rule[end], kind, f"{path}.{end}", errors)
            for end in ("min", "max")
        )
        if low is None and high is None:
            errors.setdefault(f"{path}.min", "Give a minimum, a maximum or both.")
            return None
        if low is not None and high is not None and low > high:
            errors[f"{path}.max"] = "The maximum is below the minimum."
            return None
        parts, params = [], []
        if low is not None:
            parts.append(f"{expr.text} >= %s")
            params += [*expr.params, low]
        if high is not None:
            parts.append(f"{expr.text} <= %s")
            params += [*expr.params, high]
        return Sql("COALESCE(" + " AND ".join(parts) + ", false)", params)
    if op == "in":
        values = rule.get("value")
        if not isinstance(values, list) or not values:
            errors[f"{path}.value"] = "Give a list of values."
            return None
        if len(values) > MAX_VALUES:
            errors[f"{path}.value"] = f"Give at most {MAX_VALUES} values."
            return None
        typed = [typed_value(v, kind, f"{path}.value", errors) for v in values]
        if kind == "text":
            return Sql(f"COALESCE(lower({expr.text}) = ANY(%s), false)",
                       [*expr.params, [v.lower() for v in typed if v]])  # fmt: skip
        return Sql(f"COALESCE({expr.text} = ANY(%s), false)", [*expr.params, typed])
    value = typed_value(rule.get("value"), kind, f"{path}.value", errors)
    if value is None:
        return None
    if op == "contains":
        pattern = "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return Sql(f"COALESCE({expr.text} ILIKE %s, false)", [*expr.params, pattern])
    if kind == "text":
        return Sql(f"COALESCE(lower({expr.text}) = lower(%s), false)", [*expr.params, value])
    return Sql(f"COALESCE({expr.text} = %s, false)", [*expr.params, value])


def compile_condition(
    condition, *, now: datetime, custom: Iterable[CustomField] | None = None, what: str
) -> Sql:
    """One condition (a dict of CONDITION_KEYS) as SQL over the lead row `l`, for the
    rules of other apps; a DefinitionError naming each bad key (`field`, `value`, ...)
    when it cannot be used. `custom`: the custom fields it may test (all, by default)."""
    if not isinstance(condition, dict):
        raise DefinitionError({"condition": "Expected an object."}, what=what)
    errors: dict[str, str] = {
        key: f"Unknown key {key!r}: use {', '.join(CONDITION_KEYS)}."
        for key in condition
        if key not in CONDITION_KEYS
    }
    fields = {f.name: f for f in (CustomField.objects.all() if custom is None else custom)}
    compiled = condition_sql(condition, "", fields, now, errors)
    errors = {path.lstrip("."): message for path, message in errors.items()}
    if errors or compiled is None:
        raise DefinitionError(errors or {"condition": "Not a condition."}, what=what)
    return compiled
