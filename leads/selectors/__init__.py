"""Every read that matters, scoped once by who is asking.

- `visibility`: `leads_visible_to(user)`, the one rule of who sees which lead
- `timeline`: a lead's timeline and stage history
- `duplicates`: likely duplicates to merge
"""

from leads.selectors.duplicates import (
    DUPLICATE_WINDOW,
    DuplicatePair,
    Duplicates,
    duplicate_suggestions,
)
from leads.selectors.timeline import TimelineEntry, stage_history, timeline
from leads.selectors.visibility import lead_list, leads_visible_to, register_grant

__all__ = [
    "DUPLICATE_WINDOW",
    "DuplicatePair",
    "Duplicates",
    "TimelineEntry",
    "duplicate_suggestions",
    "lead_list",
    "leads_visible_to",
    "register_grant",
    "stage_history",
    "timeline",
]
