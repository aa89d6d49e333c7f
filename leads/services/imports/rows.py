"""One CSV row → the typed, normalised values of a lead, or row-level errors.

Values are read the way exports write them, with the same helpers every channel
uses: `leads.values` (yes/no, numbers, dates), `leads.custom_fields.clean_value`
and `leads.normalise` (email, phone, external id, company domain).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from leads.custom_fields import clean_value
from leads.models import Campaign, CustomField, Lead, Source
from leads.normalise import (
    domain_of_website,
    normalise_email,
    normalise_external_id,
    normalise_phone,
)
from leads.services.identity import (
    CSV_FILLABLE_FIELDS,
    clean_budget,
    clean_country,
    clean_time_zone,
    derived_company_domain,
    has_identity,
)
from leads.services.imports.mapping import CUSTOM_PREFIX
from leads.values import parse_bool, parse_number


def column_of(name: str) -> str:
    """The lead table's column of a field (a foreign key's `<name>_id`)."""
    return Lead._meta.get_field(name).column


_PG_TYPES = {
    "ForeignKey": "bigint",
    "PositiveIntegerField": "integer",
    "BooleanField": "boolean",
    "DecimalField": "numeric",
}

# The staging columns, in COPY order, with their PostgreSQL types: the source, what
# the capture spec says a CSV can fill, and the custom values.
STAGED = (
    ("source", "text"),
    *(
        (column_of(name), _PG_TYPES.get(Lead._meta.get_field(name).get_internal_type(), "text"))
        for name in CSV_FILLABLE_FIELDS
    ),
    ("custom", "jsonb"),
)
TEXT_FIELDS = (
    "first_name", "last_name", "title", "company", "website", "industry", "need", "timeline",
)  # fmt: skip
_MAX_POSITIVE_INT = 2_147_483_647
_THOUSANDS_DOT = re.compile(r"^\d{1,3}(\.\d{3})+$")

_SOURCE_WORDS = {
    **{value: value for value in Source.values},
    **{label.lower(): value for value, label in Source.choices},
    "web": Source.WEB_FORM,
    "website": Source.WEB_FORM,
    "webform": Source.WEB_FORM,
    "tradeshow": Source.TRADE_SHOW,
    "event": Source.TRADE_SHOW,
    "partner referral": Source.REFERRAL,
    "employee referral": Source.REFERRAL,
    "ppc": Source.PAID_SEARCH,
    "adwords": Source.PAID_SEARCH,
    "google ads": Source.PAID_SEARCH,
    "organic search": Source.ORGANIC,
    "seo": Source.ORGANIC,
    "purchased": Source.PURCHASED_LIST,
    "list": Source.PURCHASED_LIST,
    "syndication": Source.CONTENT_SYNDICATION,
}


@dataclass(frozen=True)
class RowError:
    row: int | None  # as in a spreadsheet: the header is row 1; None for the whole file
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ParsedRow:
    row: int
    values: dict[str, Any] = field(default_factory=dict)  # staged column → value
    errors: list[RowError] = field(default_factory=list)

    def staged(self) -> list[Any]:
        """The row in STAGED order, ready for COPY (None = NULL)."""
        out = []
        for name, kind in STAGED:
            value = self.values.get(name)
            if kind == "boolean" and value is not None:
                value = "t" if value else "f"
            elif kind == "jsonb":
                value = json.dumps(value, separators=(",", ":")) if value else None
            out.append(value)
        return out


def _max_length(name: str) -> int:
    return Lead._meta.get_field(name).max_length


class RowParser:
    """Parses rows for one mapping; built once per import (campaigns, custom fields
    and converters are looked up once, not per row)."""

    def __init__(
        self,
        *,
        columns: list[str],
        mapping: dict[str, str],
        source: str,
        campaign: Campaign | None,
        custom_fields: dict[str, CustomField] | None = None,
        campaigns: dict[str, int] | None = None,
    ):
        self.columns = columns
        self.width = len(columns)
        self.source = source
        self.campaign_id = campaign.pk if campaign else None
        if custom_fields is None:
            custom_fields = {f.name: f for f in CustomField.objects.all()}
        if campaigns is None and "campaign" in mapping.values():
            campaigns = {
                code.lower(): pk for pk, code in Campaign.objects.values_list("pk", "code")
            }
        self._campaigns = campaigns or {}
        index = {name: i for i, name in enumerate(columns)}
        # (cell index, column name, target, converter); country first: phones are read in it.
        plan = sorted(
            ((index[column], column, target) for column, target in mapping.items()),
            key=lambda item: item[2] != "country",
        )
        self._plan = [
            (i, column, target, self._converter(target, custom_fields))
            for i, column, target in plan
        ]
        self.targets = [target for _, _, target, _ in self._plan]

    def _converter(self, target: str, custom_fields) -> Callable[[str, dict], Any]:
        if target.startswith(CUSTOM_PREFIX):
            definition = custom_fields[target.removeprefix(CUSTOM_PREFIX)]
            return lambda raw, values: clean_value(definition, raw)
        if target in TEXT_FIELDS:
            limit = _max_length(target)

            def text(raw, values):
                value = raw.strip()
                if len(value) > limit:
                    raise ValueError(f"At most {limit} characters.")
                return value or None

            return text
        return getattr(self, f"_parse_{target}")

    def parse(self, row: int, cells: list[str]) -> ParsedRow:
        parsed = ParsedRow(row=row)
        if len(cells) != self.width:
            parsed.errors.append(
                RowError(
                    row,
                    None,
                    f"This row has {len(cells)} cells but the header has {self.width} columns "
                    "(check the delimiter and the quotes).",
                )
            )
            return parsed
        values = parsed.values
        custom: dict[str, Any] = {}
        for i, column, target, convert in self._plan:
            raw = cells[i]
            if not raw or raw.isspace():
                continue
            try:
                value = convert(raw, values)
            except ValueError as exc:
                parsed.errors.append(RowError(row, column, str(exc)))
                continue
            if value is None:
                continue
            if target.startswith(CUSTOM_PREFIX):
                custom[target.removeprefix(CUSTOM_PREFIX)] = value
            elif target == "campaign":
                values["campaign_id"] = value
            else:
                values[target] = value
        if parsed.errors:
            return parsed
        if not has_identity(values):
            parsed.errors.append(
                RowError(row, None, "This row has no email, phone or external id.")
            )
            return parsed
        values.setdefault("source", self.source)
        if self.campaign_id is not None:
            values.setdefault("campaign_id", self.campaign_id)
        values["company_domain"] = derived_company_domain(values) or None
        if custom:
            values["custom"] = custom
        return parsed

    # --- one parser per lead field (ValueError with a message for people) ---------

    @staticmethod
    def _parse_email(raw, values):
        email = normalise_email(raw)
        if email is None:
            return None
        if len(email) > 254:
            raise ValueError("At most 254 characters.")
        try:
            validate_email(email)
        except ValidationError:
            raise ValueError(f"{raw.strip()!r} is not a valid email address.") from None
        return email

    @staticmethod
    def _parse_phone(raw, values):
        return normalise_phone(raw, country=values.get("country") or "")

    @staticmethod
    def _parse_external_id(raw, values):
        value = normalise_external_id(raw)
        if value and len(value) > _max_length("external_id"):
            raise ValueError(f"At most {_max_length('external_id')} characters.")
        return value

    @staticmethod
    def _parse_country(raw, values):
        return clean_country(raw)

    @staticmethod
    def _parse_source(raw, values):
        word = " ".join(raw.strip().lower().replace("_", " ").split())
        source = _SOURCE_WORDS.get(word) or _SOURCE_WORDS.get(word.replace(" ", "_"))
        if source is None:
            raise ValueError(f"{raw.strip()!r} is not a source ({', '.join(Source.values)}).")
        return source

    def _parse_campaign(self, raw, values):
        pk = self._campaigns.get(raw.strip().lower())
        if pk is None:
            raise ValueError(f"There is no campaign with the code {raw.strip()!r}.")
        return pk

    @staticmethod
    def _parse_converted(raw, values):
        return parse_bool(raw)

    _parse_authority = _parse_converted  # yes/no too

    @staticmethod
    def _parse_budget(raw, values):
        return clean_budget(raw)

    @staticmethod
    def _parse_time_zone(raw, values):
        return clean_time_zone(raw) or None

    @staticmethod
    def _parse_company_size(raw, values):
        number = parse_number(raw)
        if number is None:
            return None
        if not isinstance(number, int) and _THOUSANDS_DOT.match(raw.strip()):
            # `1.200` employees: a thousands dot (a head count is whole).
            number = int(raw.strip().replace(".", ""))
        if not isinstance(number, int) or not 0 <= number <= _MAX_POSITIVE_INT:
            raise ValueError(f"{raw.strip()!r} is not a whole number of employees.")
        return number

    @staticmethod
    def _parse_company_domain(raw, values):
        domain = domain_of_website(raw)
        if len(domain) > _max_length("company_domain"):
            raise ValueError(f"At most {_max_length('company_domain')} characters.")
        return domain or None
