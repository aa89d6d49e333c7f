"""Many ids in hand-written SQL, as a set.

`column = ANY(%s)` with an array of thousands of ids is searched element by element for
each row PostgreSQL considers: when it plans a sequential scan (a stage or status
condition beside the ids makes that look cheap), a million leads are each compared with
the whole array — enrolling 20,000 leads took over six minutes. `among(column)` gives
the planner a set it hashes or probes by index instead; pass the ids as a list.

A statement that changes or locks leads by id uses `listed(column)`: the ids as one
`bigint[]` constant, which PostgreSQL hashes when it filters a scan (an array of another
type, or one computed in the statement, it searches element by element) and probes the
primary key with when it reads by index. Either way the table is read once, so the plan
cannot go quadratic when `leads_lead`'s statistics say it is empty (an autovacuum after
rolled-back inserts, a new install's first import): `among`'s semi join was then planned
as nested loops re-reading the whole id set for every lead (20,000 leads: minutes), and a
queryset nested in the statement (`id IN (SELECT ... FROM leads_lead ...)`) as nested
loops reading the whole table for every lead (1,000 leads: 20 s a statement).
"""

from __future__ import annotations


def among(column: str) -> str:
    """`column IN` the set of the `%s` parameter's ids (a list of ints)."""
    return f"{column} IN (SELECT unnest(%s::bigint[]))"


def listed(column: str) -> str:
    """`column` is one of the `%s` parameter's ids (a list of ints), as a bigint array
    the statement's one scan of the table checks each row against (no join)."""
    return f"{column} = ANY(%s::bigint[])"
