"""Custom field definitions after they exist: relabelling, changing a choice field's
choices, and deleting a field with the values leads hold in it.

- A choice removed from a field stays in the leads that hold it (their pages show it
  as it is; an edit of the lead may keep it or choose a current one): nothing a person
  entered disappears because a list of options changed. `holders` says how many.
- Deleting a field removes its values from every lead that has one, each removal
  audited (a `FieldChange` row per lead, old value kept, channel `field_deleted`), in
  one statement. Keeping them would leave values no page, filter or export names, and
  a new field of the same name (perhaps of another type) would inherit them.
- A field a web form asks for cannot be deleted (the form would ask for nothing);
  other apps refuse too, through `register_use` (e.g. a scoring rule on the field).

Name and type never change: imports, API clients and stored values rely on them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform

from leads import hooks
from leads.exceptions import LeadFlowError
from leads.models import CustomField, Lead, LeadForm

AUDIT_CHANNEL = "field_deleted"


class NoSuchField(LeadFlowError):
    status_code = 404


class FieldInUse(LeadFlowError):
    status_code = 409


# Other apps' uses of a field: fn(name) → descriptions of what uses it ("the scoring
# rule “Gold plan”"); a field in use is not deleted.
_uses: list[Callable[[str], list[str]]] = []


def register_use(check: Callable[[str], list[str]]) -> None:
    """Let a higher app say what of its own uses a custom field (from its `ready()`)."""
    _uses.append(check)


def _field(name: str, *, lock: bool = False) -> CustomField:
    fields = CustomField.objects.select_for_update() if lock else CustomField.objects
    field = fields.filter(name=name).first()
    if field is None:
        raise NoSuchField(f"There is no custom field {name!r}.", field="name")
    return field


def holders(name: str, values: list[str] | None = None) -> dict[str, int]:
    """How many live leads hold each value of field `name` (only `values`, if given)."""
    leads = Lead.objects.filter(merged_into__isnull=True, custom__has_key=name)
    rows = (
        leads.annotate(value=KeyTextTransform(name, "custom"))
        .filter(**({"value__in": values} if values is not None else {}))
        .order_by()
        .values("value")
        .annotate(n=Count("*"))
    )
    return {row["value"]: row["n"] for row in rows}


def leads_with_a_value(name: str) -> int:
    """How many leads (merged ones included) hold a value of field `name`."""
    return Lead.objects.filter(custom__has_key=name).count()


def clean_choices(choices: list[str]) -> list[str]:
    """Choices as stored: trimmed, blanks dropped; refused when two differ only by case."""
    cleaned = [c.strip() for c in choices if c.strip()]
    if len({c.lower() for c in cleaned}) != len(cleaned):
        raise LeadFlowError("Choices must differ.", field="choices")
    if any(len(c) > 100 for c in cleaned):
        raise LeadFlowError("A choice has at most 100 characters.", field="choices")
    return cleaned


def removed_choices(field: CustomField, choices: list[str]) -> list[str]:
    kept = {c.lower() for c in choices}
    return [c for c in field.choices if c.lower() not in kept]


def update_custom_field(*, name: str, label: str, choices: list[str] | None = None, by=None):
    """Relabel field `name`, and for a choice field set its choices. A removed choice
    stays in the leads that hold it (see the module). Refusals raise LeadFlowError with
    the field errors (`errors`); nothing is saved."""
    errors: dict[str, str] = {}
    label = label.strip()
    if not label:
        errors["label"] = "Give the field a label."
    elif len(label) > 100:
        errors["label"] = "A label has at most 100 characters."
    with transaction.atomic():
        field = _field(name, lock=True)
        new_choices = field.choices
        if field.type == CustomField.Type.CHOICE and choices is not None:
            try:
                new_choices = clean_choices(choices)
            except LeadFlowError as exc:
                errors["choices"] = exc.message
            else:
                if not new_choices:
                    errors["choices"] = "A choice field needs choices."
        elif choices:
            errors["choices"] = "Only choice fields have choices."
        if errors:
            raise LeadFlowError("The field has errors; nothing was saved.", errors=errors)
        field.label, field.choices = label, new_choices
        field.save(update_fields=["label", "choices"])
    return field


def uses(name: str) -> list[str]:
    """What asks for field `name`: web forms, and what other apps registered."""
    forms = LeadForm.objects.filter(fields__contains=[f"custom.{name}"]).order_by("name")
    found = [f"the web form “{form.name}”" for form in forms]
    for check in _uses:
        found += check(name)
    return found


def delete_custom_field(*, name: str, by=None, now: datetime) -> int:
    """Delete field `name` and remove its values from every lead that holds one, each
    removal audited (one statement); refused while something uses the field (`uses`).
    Returns how many leads lost a value."""
    with transaction.atomic():
        field = _field(name, lock=True)
        used_by = uses(name)
        if used_by:
            raise FieldInUse(
                f"“{field.label}” is still used by {', '.join(used_by)}; take it out there "
                "first. Nothing was deleted."
            )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                WITH locked AS (
                    SELECT id, custom -> %(name)s AS old FROM leads_lead
                    WHERE custom ? %(name)s FOR UPDATE
                ), audit AS (
                    INSERT INTO leads_fieldchange
                        (lead_id, field, old_value, new_value, changed_at, changed_by_id, channel)
                    SELECT id, %(key)s, old, NULL, %(now)s, %(by)s, %(channel)s FROM locked
                )
                UPDATE leads_lead SET custom = custom - %(name)s, updated_at = %(now)s
                WHERE id IN (SELECT id FROM locked)
                RETURNING id
                """,
                {"name": name, "key": f"custom.{name}", "now": now, "by": getattr(by, "pk", None),
                 "channel": AUDIT_CHANNEL},
            )  # fmt: skip
            ids = sorted(row[0] for row in cursor.fetchall())
        field.delete()
        if ids:
            hooks.announce("leads_changed_in_bulk", lead_ids=ids, now=now)
    return len(ids)
