"""CSV export of leads: streamed, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime

from django.http import StreamingHttpResponse

from leads.models import CustomField

# Column → where its value comes from.
COLUMNS = {
    "id": "id",
    "email": "email",
    "first_name": "first_name",
    "last_name": "last_name",
    "company": "company",
    "title": "title",
    "phone": "phone",
    "country": "country",
    "source": "source",
    "campaign": "campaign__code",
    "latest_campaign": "latest_campaign__code",
    "owner": "owner__username",
    "stage": "stage",
    "score": "score",
    "grade": "grade",
    "external_id": "external_id",
    "converted": "converted",
    "company_domain": "company_domain",
    "website": "website",
    "company_size": "company_size",
    "industry": "industry",
    "created_at": "created_at",
}
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# Spreadsheets split CSV on commas, on semicolons (the locales our import reads) or on
# tabs: any part a separator starts could be read as a cell of its own.
_SEPARATED = re.compile(r"([,;\t])")


def safe_cell(value) -> str:
    """The cell's text; every part of it a spreadsheet could run as a formula (the start,
    or what follows a comma, semicolon or tab) is prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    parts = _SEPARATED.split(str(value))
    return "".join(_safe_part(part) if i % 2 == 0 else part for i, part in enumerate(parts))


def _safe_part(text: str) -> str:
    stripped = text.lstrip(" ")
    if stripped.startswith(FORMULA_STARTS) and not _is_number(stripped):
        return text[: len(text) - len(stripped)] + "'" + stripped
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value):
        return value


def csv_response(leads, *, now: datetime) -> StreamingHttpResponse:
    """The download of `leads` as a CSV file, streamed."""
    response = StreamingHttpResponse(csv_lines(leads), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leads-{now:%Y%m%d-%H%M}.csv"'
    return response


def csv_lines(leads) -> Iterator[str]:
    """Header and one line per lead of the queryset, fetched in chunks (flat memory)."""
    custom = list(CustomField.objects.values_list("name", flat=True))
    writer = csv.writer(_Echo())
    # The BOM makes spreadsheet programs read the file as UTF-8.
    yield "\ufeff" + writer.writerow([*COLUMNS, *(f"custom.{name}" for name in custom)])
    rows = leads.order_by("id").values_list(*COLUMNS.values(), "custom")
    for *values, custom_values in rows.iterator(chunk_size=2000):
        cells = [v.isoformat() if isinstance(v, datetime) else v for v in values]
        cells += [custom_values.get(name) for name in custom]
        yield writer.writerow([safe_cell(cell) for cell in cells])
