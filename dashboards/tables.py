"""The one shape every dashboard table has — named columns and rows of plain values —
so the page's HTML table, the chart beside it, the CSV download and the JSON of the API
all come from the same numbers.

A selector returns its tables (`Table`); a page renders them with
templates/dashboards/_table.html, `?format=csv&table=<name>` downloads one (cells made
formula-safe by `leads.export.safe_cell`), and `GET /api/v1/dashboards/<page>/` answers
them as JSON (`as_json`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.http import StreamingHttpResponse

from leads.export import safe_cell

# How a column's values read on a page (CSV and JSON keep the raw value).
INT, TEXT, RATE, MONEY, SECONDS, WHEN, DAY = (
    "int",
    "text",
    "rate",
    "money",
    "seconds",
    "when",
    "day",
)
NUMERIC = {INT, RATE, MONEY, SECONDS}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = INT
    lead_link: str = ""  # the row's key holding a lead id: the cell links to its page

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC


@dataclass
class Table:
    name: str  # the CSV's `table=` and the JSON key
    title: str
    columns: list[Column]
    rows: list[dict]
    note: str = ""  # the definition, in a sentence or two, shown under the title
    empty: str = "Nothing in this selection."
    chart: dict | None = None  # what the chart beside it draws (dashboards.charts)
    total: int | None = None  # rows in all (a paginated table shows a page of them)

    @property
    def wide(self) -> bool:
        """Too many columns to sit beside its chart: the chart goes above it."""
        return len(self.columns) > 7

    @property
    def chart_id(self) -> str:
        return f"chart-{self.name}"

    @property
    def display(self) -> list[list[tuple[str, bool, str]]]:
        """Each row as (text, numeric, link) cells, in column order ("" for no link)."""
        from django.urls import reverse

        def link(row: dict, c: Column) -> str:
            lead_id = row.get(c.lead_link) if c.lead_link else None
            return reverse("leads:detail", args=[lead_id]) if lead_id else ""

        return [
            [(show(row.get(c.key), c.kind), c.kind in NUMERIC, link(row, c)) for c in self.columns]
            for row in self.rows
        ]

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "note": self.note,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in self.columns],
            "rows": [{c.key: raw(row.get(c.key)) for c in self.columns} for row in self.rows],
            **({"total": self.total} if self.total is not None else {}),
        }


@dataclass
class Page:
    """What a dashboard page shows besides its filters: its tables, the sentences on top."""

    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def raw(value):
    """A value as JSON has it: Decimals as numbers (floats), instants as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def duration(seconds: int | None) -> str:
    """ "3 d 4 h", "2 h 10 min", "45 min", "30 s"; a dash for none."""
    if seconds is None:
        return "–"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def show(value, kind: str) -> str:
    if value is None or value == "":
        return "–"
    if kind == RATE:
        return f"{(Decimal(value) * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %"
    if kind == MONEY:
        return f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
    if kind == SECONDS:
        return duration(value)
    if kind == WHEN and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if kind == INT and isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(part, whole) -> Decimal | None:
    """part / whole to four places; None when whole is zero (shown as a dash)."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def money_per(cost: Decimal | None, count: int) -> Decimal | None:
    """Cost per one of `count` to the cent; None when there is no cost or nothing to
    divide by."""
    if cost is None or not count:
        return None
    return (Decimal(cost) / count).quantize(Decimal("0.01"), ROUND_HALF_UP)


def describe(rows: list[dict], *, what: str, empty: str, part, limit: int = 8) -> str:
    """A chart's aria description: what it is, then `part(row)` for its first rows."""
    if not rows:
        return empty
    return f"{what}. " + "; ".join(part(r) for r in rows[:limit]) + "."


def _line(cells: list) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


def csv_lines(table: Table) -> Iterator[str]:
    """The header (labels) and one line per row, every cell formula-safe."""
    yield "\ufeff" + _line([c.label for c in table.columns])
    for row in table.rows:
        yield _line([safe_cell(raw(row.get(c.key))) for c in table.columns])


def chart(
    table: Table,
    *,
    label: str,
    series: list[str],
    kind: str = "bar",
    summary: str,
    percent: bool = False,
    stacked: bool = False,
) -> Table:
    """Give `table` a chart: one bar (or line) series per column in `series`, one group
    per row labelled by column `label`; `summary` is its aria description."""
    by_key = {c.key: c for c in table.columns}

    def value(row, key):
        v = row.get(key)
        if v is None:
            return None
        v = float(v)
        return round(v * 100, 1) if percent else v

    table.chart = {
        "type": kind,
        "labels": [str(row.get(label)) for row in table.rows],
        "series": [
            {"label": by_key[k].label, "data": [value(r, k) for r in table.rows]} for k in series
        ],
        "percent": percent,
        "stacked": stacked,
        "summary": summary,
    }
    return table


def csv_response(table: Table, *, page: str, now: datetime) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{page}-{table.name}-{now:%Y%m%d-%H%M}.csv"'
    )
    return response
