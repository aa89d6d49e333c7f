"""Reading typed values the way people and other systems write them.

One place for the API, forms and CSV imports: yes/no, true/false and 1/0 for
yes/no fields; numbers with a decimal point or comma (and thousands separators);
dates in the usual forms. Each parser raises ValueError with a message for people.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

TRUE_WORDS = {"yes", "y", "true", "t", "1", "on", "ja", "oui", "si", "sí"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "off", "nein", "non"}


def is_empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse_bool(raw) -> bool | None:
    if is_empty(raw):
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{raw!r} is not yes/no (use yes, no, true, false, 1 or 0).")


_THOUSANDS_COMMA = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_THOUSANDS_DOT = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")


def parse_decimal(raw) -> Decimal | None:
    """`1234.5`, `1,234.5`, `1.234,5`, `1 234,5`, `12,5` → Decimal."""
    if is_empty(raw):
        return None
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number.")
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(str(raw))
    text = str(raw).strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if "," in text and "." in text:
        # Whichever separator comes last is the decimal one.
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        # 1,234 and 1,234,567 are thousands; 12,5 is a decimal comma.
        text = text.replace(",", "") if _THOUSANDS_COMMA.match(text) else text.replace(",", ".")
    elif text.count(".") > 1 and _THOUSANDS_DOT.match(text):
        text = text.replace(".", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number.") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a number.")
    return value


def parse_number(raw) -> int | float | None:
    """A number for JSON: an int when whole, else a float."""
    value = parse_decimal(raw)
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


_MONTHS = "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y"


def parse_date(raw) -> date | None:
    """ISO (`2026-03-01`, also with a time), `2026/03/01`, `01.03.2026` (day first),
    `03/01/2026` (month first unless the first part cannot be a month), `1 Mar 2026`,
    `Mar 1, 2026`."""
    if is_empty(raw):
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    try:
        return datetime.fromisoformat(text.replace("/", "-") if text[:4].isdigit() else text).date()
    except ValueError:
        pass
    formats = ["%d.%m.%Y", "%d.%m.%y"]
    parts = re.split(r"[/-]", text)
    if len(parts) == 3 and parts[0].isdigit() and int(parts[0]) > 12:
        formats += ["%d/%m/%Y", "%d-%m-%Y", "%d/%m/%y"]
    else:
        formats += ["%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y"]
    formats += list(_MONTHS)
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
    raise ValueError(f"{raw!r} is not a date (use e.g. 2026-03-01).")
