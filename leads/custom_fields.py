"""Custom field values: checked and converted by the field's type, in one place."""

from __future__ import annotations

from typing import Any

from leads.models import CustomField
from leads.values import is_empty, parse_bool, parse_date, parse_number

MAX_TEXT = 1000


def definitions() -> dict[str, CustomField]:
    return {field.name: field for field in CustomField.objects.all()}


def clean_value(field: CustomField, raw: Any):
    """The stored (JSON) form of `raw` for `field`; ValueError with a message if it does not fit."""
    if is_empty(raw):
        return None
    if field.type == CustomField.Type.NUMBER:
        return parse_number(raw)
    if field.type == CustomField.Type.BOOL:
        return parse_bool(raw)
    if field.type == CustomField.Type.DATE:
        return parse_date(raw).isoformat()
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError("Enter text.")
    text = str(raw).strip()
    if field.type == CustomField.Type.CHOICE:
        for choice in field.choices:
            if choice.lower() == text.lower():
                return choice
        raise ValueError(f"{text!r} is not one of: {', '.join(field.choices)}.")
    if len(text) > MAX_TEXT:
        raise ValueError(f"At most {MAX_TEXT} characters.")
    return text


def clean_values(values: dict[str, Any], fields: dict[str, CustomField] | None = None):
    """(cleaned values, errors by field name). An empty value is kept as None: an edit
    removes that key, a capture ignores it."""
    fields = definitions() if fields is None else fields
    cleaned, errors = {}, {}
    for name, raw in values.items():
        field = fields.get(name)
        if field is None:
            errors[name] = "There is no custom field with this name."
            continue
        try:
            value = clean_value(field, raw)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        cleaned[name] = value
    return cleaned, errors
