"""Bulk changes: set-based SQL over any queryset of leads (a selection or a whole filter).

The queryset is read once for its ids (`target_ids`); the statements that lock and change
the leads then name them with `leads.idsets.listed`, never with the queryset nested in
them: nested, it joins `leads_lead` with itself, and when the table's statistics say it
is empty PostgreSQL runs that join as nested loops reading the whole table for every lead
(1,000 leads: over 20 s a statement; see leads/idsets.py).
"""

from __future__ import annotations

from django.db.models import Q


def target_ids(leads, exclude: Q | None = None) -> list[int]:
    """The ids of the queryset `leads` (minus `exclude`), in order; none when it can match
    nothing (e.g. a user who sees no lead)."""
    if exclude is not None:
        leads = leads.exclude(exclude)
    return sorted(set(leads.order_by().values_list("pk", flat=True)))
