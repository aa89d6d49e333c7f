"""Lead filters (public contract): shared by the list API and the lead list page."""

from __future__ import annotations

import django_filters
from django.db.models import Q, Value
from django.db.models.functions import Concat

from leads.models import Lead, Source, Stage


class LeadFilter(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    source = django_filters.MultipleChoiceFilter(choices=Source.choices)
    campaign = django_filters.CharFilter(field_name="campaign__code", label="Campaign code")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner username")
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    score_max = django_filters.NumberFilter(field_name="score", lookup_expr="lte")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", label="Search")

    class Meta:
        model = Lead
        fields = [
            "stage",
            "source",
            "campaign",
            "owner",
            "score_min",
            "score_max",
            "created_after",
            "created_before",
            "search",
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

    def filter_search(self, queryset, name, value):
        """Name, email, company, phone or external id containing every word given."""
        words = value.split()
        if not words:
            return queryset
        queryset = queryset.annotate(_full_name=Concat("first_name", Value(" "), "last_name"))
        for word in words:
            queryset = queryset.filter(
                Q(_full_name__icontains=word)
                | Q(email__icontains=word)
                | Q(company__icontains=word)
                | Q(phone__icontains=word)
                | Q(external_id__icontains=word)
            )
        return queryset
