"""How many leads a list holds and where its page starts, without counting a million
rows for every page: exact up to EXACT_UP_TO, past that PostgreSQL's own estimate of the
filtered query ("about 12,300", "about 1.2M").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q, QuerySet

EXACT_UP_TO = 10_000


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
    there), else the planner's estimate for the query (never below that)."""
    found = queryset.order_by().values("pk")[: EXACT_UP_TO + 1].count()
    if found <= EXACT_UP_TO:
        return found, True
    return max(planned_rows(queryset), EXACT_UP_TO + 1), False


def planned_rows(queryset: QuerySet) -> int:
    """PostgreSQL's estimate of how many rows `queryset` has (EXPLAIN: it reads none)."""
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
