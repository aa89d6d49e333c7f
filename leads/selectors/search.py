"""The list's search, read the fast way for how many leads it matches.

PostgreSQL guesses the same share of matches for any prefix ("surname1234:*" and "ada:*"
alike, 2%), so for a rare one it walks the list in its order testing every lead's words
(seconds at any size). `first_matches` reads the first matches from the GIN index
lead_search_idx instead, in no order: up to EXACT_UP_TO of them are the whole list,
counted; more are common enough that walking the list finds a page at once.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import QuerySet

from leads.selectors.counts import EXACT_UP_TO, planned_rows


def found_by_index(found: QuerySet) -> tuple[list[int] | None, tuple[int, bool]]:
    """(ids, (count, exact)) of the leads of `found` (a search, leads.filters'
    search_matches): their ids when there are at most EXACT_UP_TO (their count exact),
    else None with the planner's estimate of how many (never below EXACT_UP_TO + 1)."""
    rows = found.order_by().values_list("pk", flat=True)[: EXACT_UP_TO + 1]
    with transaction.atomic(), connection.cursor() as cursor:
        # Room for an exact bitmap of every match: a lossy one tests every lead of the
        # pages it covers against the document again (seconds for "ada" at 1M leads).
        cursor.execute("SELECT current_setting('work_mem')")
        (work_mem,) = cursor.fetchone()
        cursor.execute("SET LOCAL work_mem = '64MB'")
        ids = list(rows)
        cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
    if len(ids) <= EXACT_UP_TO:
        return ids, (len(ids), True)
    return None, (max(planned_rows(found), EXACT_UP_TO + 1), False)
