"""Every read that matters, scoped once by who is asking.

- `visibility`: `leads_visible_to(user)`, the one rule of who sees which lead (and
  `visible_among(leads, user)`, the same rule on a queryset of leads)
- `timeline`: a lead's timeline and stage history
- `duplicates`: likely duplicates to merge
- `counts`: a list's size and a page's position in it (exact to 10,000, then estimated)
- `search`: the leads a search matches, read from its index first when they are few
"""

from leads.selectors.counts import EXACT_UP_TO, ListCount, count_leads, list_count
from leads.selectors.duplicates import (
    DUPLICATE_WINDOW,
    DuplicatePair,
    Duplicates,
    duplicate_suggestions,
)
from leads.selectors.timeline import TimelineEntry, stage_history, timeline
from leads.selectors.visibility import (
    lead_list,
    leads_visible_to,
    register_grant,
    visible_among,
)

__all__ = [
    "DUPLICATE_WINDOW",
    "EXACT_UP_TO",
    "DuplicatePair",
    "Duplicates",
    "ListCount",
    "TimelineEntry",
    "count_leads",
    "duplicate_suggestions",
    "lead_list",
    "leads_visible_to",
    "list_count",
    "register_grant",
    "stage_history",
    "timeline",
    "visible_among",
]
