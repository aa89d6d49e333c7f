"""How many leads a list holds and where its page starts, without counting a million
rows for every page: exact up to EXACT_UP_TO, past that an estimate ("about 12,300",
"about 1.2M").

Estimating first: PostgreSQL's estimate of the filtered query when it is large (it is
close for the whole list and a stage, source or score range; counting 10,001 leads of a
filter no index covers reads ten times as many), else a sample of the table's pages
(`sampled_rows`: the planner misjudges correlated filters and any word prefix), and only
when neither is sure the list is past EXACT_UP_TO, the count itself. A count shown as
exact is always counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

EXACT_UP_TO = 10_000
# Past this, PostgreSQL's estimate is taken as it is (an error of five times would be
# needed for such a list to hold EXACT_UP_TO or fewer).
ESTIMATE_TRUSTED_ABOVE = 50_000
# A sampled estimate reads about this many rows (TABLESAMPLE SYSTEM: whole pages, the
# same ones every time, so the figure stays put between page views) ...
SAMPLE_ROWS = 10_000
# Only a table of at least this many rows is sampled; a smaller one is counted.
SAMPLE_FROM = 100_000


@dataclass(frozen=True)
class ListCount:
    """A list's size (`total`, exact or the planner's estimate) and the positions of its
    page's first and last rows (1-based; 0 for an empty page)."""

    total: int
    exact: bool = True
    first: int = 0
    last: int = 0
    first_exact: bool = True

    def __str__(self) -> str:
        return about(self.total, exact=self.exact)

    def __float__(self) -> float:  # for |pluralize
        return float(self.total)

    @property
    def position(self) -> str:
        """The rows the page holds ("51-100", "about 250,000-250,049", with en dashes), or
        "" when the page is the whole list."""
        if not self.first or (self.first == 1 and self.exact and self.last == self.total):
            return ""
        if self.first_exact:
            return f"{self.first:,}–{self.last:,}"
        return f"about {self.first:,}–{self.last:,}"


def about(count: int, *, exact: bool) -> str:
    if exact:
        return f"{count:,}"
    if count >= 1_000_000:
        return f"about {count / 1_000_000:.1f}M"
    return f"about {round(count, 3 - len(str(count))):,}"  # three significant digits


def count_leads(queryset: QuerySet) -> tuple[int, bool]:
    """(count, exact): exact when there are at most EXACT_UP_TO (it stops counting
    there), else an estimate (never below that). In a table of SAMPLE_FROM rows or more
    an estimate comes first: the planner's when it is past ESTIMATE_TRUSTED_ABOVE, else
    a sample's when even its lower bound is past EXACT_UP_TO; only otherwise counted."""
    if queryset.query.is_empty():  # none(): there is no statement to ask about
        return 0, True
    estimate = None
    if table_rows(queryset) >= SAMPLE_FROM:
        planned = planned_rows(queryset)
        if planned > ESTIMATE_TRUSTED_ABOVE:
            return planned, False
        estimate, lower = sampled_rows(queryset)
        if lower > EXACT_UP_TO:
            return max(estimate, EXACT_UP_TO + 1), False
    found = queryset.order_by().values("pk")[: EXACT_UP_TO + 1].count()
    if found <= EXACT_UP_TO:
        return found, True
    if estimate is None:
        estimate = planned_rows(queryset)
    return max(estimate, EXACT_UP_TO + 1), False


def table_rows(queryset: QuerySet) -> float:
    """How many rows the table of `queryset` holds, as last analysed (-1: never)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        return cursor.fetchone()[0]


def sampled_rows(queryset: QuerySet) -> tuple[int, int]:
    """(estimate, lower bound) of how many rows `queryset` has, from the rows of about
    SAMPLE_ROWS of its table's rows (whole pages, the same each time) that it keeps; the
    bound four standard deviations below (a page holds leads made together, often alike)."""
    if queryset.query.is_empty():
        return 0, 0
    table = queryset.model._meta.db_table
    percent = min(100.0, 100.0 * SAMPLE_ROWS / max(table_rows(queryset), 1))
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    # The query's own table (values("pk"): nothing is selected before its FROM).
    table_sql = f"FROM {connection.ops.quote_name(table)}"
    sampled = sql.replace(
        table_sql, f"{table_sql} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (0)", 1
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sampled}) sample", params)  # noqa: S608
        (hits,) = cursor.fetchone()
    scale = 100.0 / percent
    lower = max(0.0, hits - 4 * math.sqrt(hits)) * scale
    return round(hits * scale), round(lower)


def planned_rows(queryset: QuerySet) -> int:
    """PostgreSQL's estimate of how many rows `queryset` has (EXPLAIN: it reads none)."""
    if queryset.query.is_empty():
        return 0
    plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def list_count(
    queryset: QuerySet,
    *,
    known: tuple[int, bool] | None = None,
    page: Sequence = (),
    ordering: Sequence[str] = (),
    first_page: bool = True,
) -> ListCount:
    """The size of the list `queryset` (filtered, as the page shows it; `known` when the
    filter already counted it, as a search does) and where `page` (its rows in
    `ordering`, keyset-paged) lies in it: counted like count_leads, the rows before a
    later page too."""
    total, exact = known or count_leads(queryset)
    if not page:
        return ListCount(total, exact)
    before, first_exact = (0, True) if first_page else count_leads(
        queryset.filter(_before(page[0], ordering))
    )  # fmt: skip
    first = before + 1
    if not first_exact:
        first = round(first, 3 - len(str(first)))
    return ListCount(total, exact, first, first + len(page) - 1, first_exact)


def _before(row, ordering: Sequence[str]) -> Q:
    """The rows that come before `row` in `ordering` (keyset: ties broken by the later
    fields)."""
    before, same = Q(pk__in=[]), Q()
    for field in ordering:
        name = field.lstrip("-")
        value = getattr(row, name)
        lookup = "gt" if field.startswith("-") else "lt"
        before |= same & Q(**{f"{name}__{lookup}": value})
        same &= Q(**{name: value})
    return before
