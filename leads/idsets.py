"""Many ids in hand-written SQL, as a set.

`column = ANY(%s)` with an array of thousands of ids is searched element by element for
each row PostgreSQL considers: when it plans a sequential scan (a stage or status
condition beside the ids makes that look cheap), a million leads are each compared with
the whole array — enrolling 20,000 leads took over six minutes. `among(column)` gives
the planner a set it hashes or probes by index instead; pass the ids as a list.
"""

from __future__ import annotations


def among(column: str) -> str:
    """`column IN` the set of the `%s` parameter's ids (a list of ints)."""
    return f"{column} IN (SELECT unnest(%s::bigint[]))"
