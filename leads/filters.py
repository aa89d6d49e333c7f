"""Lead filters (public contract): shared by the list API and the lead list page."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django_filters.fields import IsoDateTimeField

from leads.models import CustomField, FieldChange, Lead, Source, Stage
from leads.models.leads import PREDICTIVE_SORT_KEY, TEXT_SORT_KEYS
from leads.selectors import search

CUSTOM_PREFIX = "custom."

# `sort` values → keyset ordering (the id last, so every ordering is total). A value
# with a leading "-" is the reverse of the one without (newest/oldest are each other's).
SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "score": ("-score", "-id"),
    "-score": ("score", "id"),
    "name": ("sort_name", "id"),
    "-name": ("-sort_name_desc", "-id"),
    "company": ("sort_company", "id"),
    "-company": ("-sort_company_desc", "-id"),
    "predictive": ("-sort_predictive", "-id"),
    "-predictive": ("sort_predictive_low", "id"),
}


# The text sorts' keys (blanks last either way) and the predictive one are the model's:
# its indexes are on the very expressions the sorts order by.
SORT_KEYS = TEXT_SORT_KEYS | {
    # The predictive score, the unscored last either way (highest first: lead_predictive_idx).
    "sort_predictive": lambda: PREDICTIVE_SORT_KEY,
    "sort_predictive_low": lambda: Coalesce("predictive_score", Value(101)),
}


def with_sort_key(queryset, sort: str):
    """`queryset` with the computed key its sort orders by, if it has one."""
    first = SORTS.get(sort, SORTS["newest"])[0].lstrip("-")
    if first in SORT_KEYS:
        return queryset.annotate(**{first: SORT_KEYS[first]()})
    return queryset


SORT_CHOICES = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("score", "Highest score"),
    ("-score", "Lowest score"),
    ("name", "Name A to Z"),
    ("-name", "Name Z to A"),
    ("company", "Company A to Z"),
    ("-company", "Company Z to A"),
    ("predictive", "Highest predictive score"),
    ("-predictive", "Lowest predictive score"),
]
# The list's sortable columns: column → (the sort of a first click, its reverse).
SORT_COLUMNS = {
    "name": ("name", "-name"),
    "company": ("company", "-company"),
    "score": ("score", "-score"),
    "predictive": ("predictive", "-predictive"),
    "created": ("newest", "oldest"),
}


class InstantField(IsoDateTimeField):
    """An ISO 8601 instant, in UTC: PostgreSQL refuses offsets past ±15:59 that Python
    reads (`+16:00`), and a date at the edge of the calendar cannot be shifted."""

    def clean(self, value):
        value = super().clean(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Enter a date and time between year 1 and 9999.") from None


class InstantFilter(django_filters.IsoDateTimeFilter):
    field_class = InstantField


class LeadFilter(django_filters.FilterSet):
    # distinct=False: these filter the lead row itself, so no join can repeat a lead
    # (django-filter's default SELECT DISTINCT costs a lot at a million leads).
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    source = django_filters.MultipleChoiceFilter(choices=Source.choices, distinct=False)
    campaign = django_filters.CharFilter(field_name="campaign__code", label="Campaign code")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner username")
    grade = django_filters.MultipleChoiceFilter(
        choices=[(g, g) for g in "ABCD"], label="Grade", distinct=False
    )
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    predictive_min = django_filters.NumberFilter(
        field_name="predictive_score", lookup_expr="gte", label="Predictive score from"
    )
    predictive_max = django_filters.NumberFilter(
        field_name="predictive_score", lookup_expr="lte", label="Predictive score to"
    )
    created_after = InstantFilter(field_name="created_at", lookup_expr="gte")
    created_before = InstantFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", label="Search")
    # Applied by the keyset paginator (leads.api.leads.LeadCursorPagination), not here.
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, method="keep", label="Sort")

    class Meta:
        model = Lead
        fields = [
            "stage",
            "source",
            "campaign",
            "owner",
            "grade",
            "score_min",
            "score_max",
            "predictive_min",
            "predictive_max",
            "created_after",
            "created_before",
            "search",
            "sort",
        ]

    def __init__(self, data=None, *args, **kwargs):
        # An empty form field (`?stage=`) means "any", not an invalid choice.
        if data is not None:
            data = data.copy()
            for key in list(data.keys()):
                values = [v for v in data.getlist(key) if v.strip()]
                if values:
                    data.setlist(key, values)
                else:
                    del data[key]
        super().__init__(data, *args, **kwargs)
        # (count, exact) of the leads the search found, when there is a search: the list
        # page's count (leads.selectors.list_count) need not count them again.
        self.matches: tuple[int, bool] | None = None
        self.custom_fields = {field.name: field for field in CustomField.objects.all()}
        for field in self.custom_fields.values():
            self.filters.update(_custom_filters(field))

    def is_valid(self):
        valid = super().is_valid()
        unknown = sorted(
            key
            for key in (self.data or {})
            if key.startswith(CUSTOM_PREFIX) and key not in self.filters
        )
        for key in unknown:
            self.form.add_error(None, f"{key}: there is no such custom field filter.")
        return valid and not unknown

    def keep(self, queryset, name, value):
        return with_sort_key(queryset, value)

    def filter_queryset(self, queryset):
        """Every filter given, the search after the others (it counts the leads they
        leave: `matches`), the sort last."""
        last = ("search", "sort")

        def order(item):
            return last.index(item[0]) + 1 if item[0] in last else 0

        for name, value in sorted(self.form.cleaned_data.items(), key=order):
            queryset = self.filters[name].filter(queryset, value)
        return queryset

    def filter_search(self, queryset, name, value):
        """Leads with, for every word given, a word of their name, email, company, phone
        or external id that starts with it: "ada lov" finds Ada Lovelace, "acme" finds
        ada@acme.io, "sf-00" finds SF-0042, "+1415" finds +14155550100. A word inside
        another (e.g. "velace") does not match; punctuation splits words."""
        found = search.search(queryset, value)
        if found is None:
            return queryset
        queryset, self.matches = found
        return queryset


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number a PostgreSQL integer can hold (else a 400)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=1, max_value=2**31 - 1, **kwargs)


def filter_import(queryset, name, value):
    """The leads import `value` created (`Lead.import_job`) or filled fields of (its
    `FieldChange` rows, channel "import")."""
    filled = FieldChange.objects.filter(import_job_id=value, channel="import").values("lead_id")
    return queryset.filter(Q(import_job_id=value) | Q(pk__in=filled))


# `import` is a Python keyword, so this filter cannot be declared in the class body.
LeadFilter.base_filters["import"] = IdFilter(
    method=filter_import,
    label="Import",
    help_text="An import's id: the leads it created or whose empty fields it filled.",
)


def _custom_filters(field: CustomField) -> dict[str, django_filters.Filter]:
    """`custom.<name>` (contains for text, equals otherwise); `.min` / `.max` for numbers
    and dates."""
    key = f"custom__{field.name}"
    name = f"{CUSTOM_PREFIX}{field.name}"
    label = field.label
    if field.type == CustomField.Type.TEXT:
        return {
            name: django_filters.CharFilter(field_name=key, lookup_expr="icontains", label=label)
        }
    if field.type == CustomField.Type.CHOICE:
        choices = [(c, c) for c in field.choices]
        return {name: django_filters.ChoiceFilter(field_name=key, choices=choices, label=label)}
    if field.type == CustomField.Type.BOOL:
        return {name: django_filters.BooleanFilter(field_name=key, label=label)}
    filter_class = (
        django_filters.NumberFilter
        if field.type == CustomField.Type.NUMBER
        else django_filters.DateFilter
    )
    return {
        name: filter_class(field_name=key, label=label, method=_json_value_filter("exact")),
        f"{name}.min": filter_class(field_name=key, method=_json_value_filter("gte")),
        f"{name}.max": filter_class(field_name=key, method=_json_value_filter("lte")),
    }


def _json_value_filter(lookup: str):
    """Compare a JSON number or ISO date (stored as a JSON string) with a typed value."""

    def apply(queryset, name, value):
        if value is None:
            return queryset
        stored = value.isoformat() if hasattr(value, "isoformat") else float(value)
        return queryset.filter(**{f"{name}__{lookup}": stored})

    return apply
