"""Web forms with what they brought in."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform

from leads.models import Activity


def submission_counts(slugs: Iterable[str]) -> dict[str, int]:
    """How many submissions (`form_submit` events, each naming its form's slug in
    `data.form`) each form received; one grouped query over the index of such events
    (`activity_form_submit_idx`, migration 0015). A form with none is absent."""
    slugs = list(slugs)
    if not slugs:
        return {}
    rows = (
        Activity.objects.filter(kind=Activity.Kind.FORM_SUBMIT)
        .annotate(form=KeyTextTransform("form", "data"))
        .filter(form__in=slugs)
        .order_by()
        .values("form")
        .annotate(n=Count("*"))
    )
    return {row["form"]: row["n"] for row in rows}
