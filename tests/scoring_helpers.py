"""Scoring test set-up through the product's own services."""

import copy

from scoring.models import ScoringModel
from scoring.rules import DEFAULT_DEFINITION

SIMPLE = {
    "rules": [
        {"name": "VP title", "field": "title", "op": "contains", "value": "VP", "points": 15},
        {"name": "Mid-size", "field": "company_size", "op": "range", "min": 200, "max": 2000,
         "points": 10},
        {"name": "Budget confirmed", "field": "budget", "op": "is_set", "points": 20},
        {"name": "Free mail", "field": "free_mail", "op": "equals", "value": True, "points": -10},
        {"name": "Unsubscribed", "field": "consent_status", "op": "equals", "value": "withdrawn",
         "points": -20, "applies_to": "engagement"},
    ],
    "engagement": [
        {"event": "pricing_page_view", "points": 10, "cap": 30},
        {"event": "demo_request", "points": 40, "cap": 40},
        {"event": "page_view", "points": 1, "cap": None},
    ],
    "half_life_days": 30,
    "grades": [{"grade": "A", "min_fit": 40}, {"grade": "B", "min_fit": 25},
               {"grade": "C", "min_fit": 10}, {"grade": "D", "min_fit": None}],
    "mql": {"min_grade": "B", "min_engagement": 50, "need_known": True},
    "disqualify": [{"name": "Students", "field": "title", "op": "contains", "value": "student"}],
}  # fmt: skip


def activate(definition=None, *, version=None):
    """Make `definition` the active model directly (no rescoring run)."""
    ScoringModel.objects.filter(is_active=True).update(is_active=False)
    number = version or (ScoringModel.objects.count() + 1)
    return ScoringModel.objects.create(
        version=number, is_active=True, definition=copy.deepcopy(definition or SIMPLE)
    )


__all__ = ["DEFAULT_DEFINITION", "SIMPLE", "activate"]
