"""Column mapping: which lead field each CSV column fills, and suggestions from headers.

A mapping is `{column name: target}` where a target is a lead JSON field name of
`LeadSerializer` (email, first_name, ...) or `custom.<name>` for a custom field;
columns left out (or mapped to "") are skipped.
"""

from __future__ import annotations

import re

from leads.exceptions import LeadFlowError
from leads.models import CustomField
from leads.services.identity import IDENTITY_FIELDS

CUSTOM_PREFIX = "custom."

# The importable lead fields (LeadSerializer's writable fields), in the order pages list them.
FIELD_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "company": "Company",
    "title": "Job title",
    "phone": "Phone",
    "country": "Country",
    "source": "Source",
    "campaign": "Campaign (code)",
    "external_id": "External id",
    "converted": "Converted",
    "website": "Website",
    "company_size": "Company size (employees)",
    "industry": "Industry",
    "time_zone": "Time zone",
    "company_domain": "Company domain",
    "budget": "Budget (BANT)",
    "authority": "Authority (BANT: decides the purchase, yes/no)",
    "need": "Need (BANT)",
    "timeline": "Timeline (BANT)",
}

# Header spellings of the usual CRM and spreadsheet exports, compared after `_key()`.
_SYNONYMS = {
    "email": [
        "email", "emailaddress", "mail", "workemail", "businessemail", "primaryemail",
        "emailaddr", "contactemail",
    ],
    "first_name": ["firstname", "givenname", "forename", "first", "vorname", "prenom"],
    "last_name": ["lastname", "surname", "familyname", "last", "nachname", "nom"],
    "company": [
        "company", "companyname", "accountname", "account", "organization", "organisation",
        "organizationname", "organisationname", "employer", "firma",
    ],
    "title": ["title", "jobtitle", "position", "jobrole", "jobposition"],
    "phone": [
        "phone", "phonenumber", "mobilephone", "mobile", "mobilenumber", "mobilephonenumber",
        "telephone", "telephonenumber", "tel", "workphone", "businessphone", "cellphone",
        "directphone", "primaryphone",
    ],
    "country": ["country", "countryregion", "countrycode", "countryname", "land"],
    "source": ["source", "leadsource", "sourcechannel", "originalsource"],
    "campaign": ["campaign", "campaigncode", "leadcampaign"],
    "external_id": [
        "externalid", "salesforceid", "recordid", "leadid", "id", "contactid", "crmid",
        "hubspotid", "sourceid", "pipedriveid", "zohoid",
    ],
    "converted": ["converted", "isconverted", "convertedlead", "hasconverted"],
    "website": ["website", "websiteurl", "web", "url", "companywebsite", "homepage"],
    "company_size": [
        "companysize", "employees", "noofemployees", "numberofemployees", "numemployees",
        "employeecount", "headcount", "employeesize",
    ],
    "industry": ["industry", "sector", "vertical"],
    "time_zone": ["timezone", "tz"],
    "company_domain": ["companydomain", "domain", "companydomainname", "emaildomain"],
    "budget": ["budget", "budgetamount", "estimatedbudget", "bantbudget"],
    "authority": [
        "authority", "decisionmaker", "isdecisionmaker", "bantauthority", "budgetholder",
    ],
    "need": ["need", "needs", "bantneed", "businessneed", "painpoint"],
    "timeline": [
        "timeline", "banttimeline", "timeframe", "purchasetimeframe", "purchasetimeline",
        "buyingtimeframe",
    ],
}  # fmt: skip


def _key(text: str) -> str:
    """Case-, space-, underscore- and punctuation-insensitive form of a header."""
    return re.sub(r"[\W_]+", "", text.lower())


_BY_KEY = {key: target for target, keys in _SYNONYMS.items() for key in keys}


def targets(custom_fields: list[CustomField] | None = None) -> list[tuple[str, str]]:
    """(target, label) for every importable field, custom fields last."""
    fields = list(CustomField.objects.all()) if custom_fields is None else custom_fields
    return [
        *FIELD_LABELS.items(),
        *((f"{CUSTOM_PREFIX}{field.name}", f"{field.label} (custom)") for field in fields),
    ]


def suggest_mapping(
    columns: list[str], custom_fields: list[CustomField] | None = None
) -> dict[str, str]:
    """{column: target} for the columns whose header names a field; each target once.

    A header naming one of the lead's own fields (the usual export headers) maps to
    it; else a header equal to a custom field's name or label maps to that custom
    field — also when the lead's own field of that name went to an earlier column.
    """
    fields = list(CustomField.objects.all()) if custom_fields is None else custom_fields
    custom = {}
    for field in fields:
        custom.setdefault(_key(field.name), f"{CUSTOM_PREFIX}{field.name}")
        custom.setdefault(_key(field.label), f"{CUSTOM_PREFIX}{field.name}")
    mapping: dict[str, str] = {}
    for column in columns:
        key = _key(column)
        for target in (_BY_KEY.get(key), custom.get(key)):
            if target and target not in mapping.values():
                mapping[column] = target
                break
    return mapping


def check_mapping(
    mapping: object, columns: list[str], custom_fields: list[CustomField] | None = None
) -> dict[str, str]:
    """The mapping without skipped columns; LeadFlowError (field "mapping") if it
    names a column the file lacks, a field that does not exist, a field twice, or
    no identity (email, phone or external id)."""
    if not isinstance(mapping, dict):
        raise LeadFlowError(
            'The mapping must be a JSON object: {"column": "field", ...}.', field="mapping"
        )
    valid = dict(targets(custom_fields))
    cleaned: dict[str, str] = {}
    for column, target in mapping.items():
        if target in (None, ""):
            continue
        if column not in columns:
            raise LeadFlowError(f"The file has no column {column!r}.", field="mapping")
        if not isinstance(target, str) or target not in valid:
            raise LeadFlowError(
                f"Column {column!r}: {target!r} is not a lead field or custom.<name>.",
                field="mapping",
            )
        if target in cleaned.values():
            raise LeadFlowError(
                f"Two columns are mapped to {valid[target]!r}; map each field once.",
                field="mapping",
            )
        cleaned[column] = target
    if not any(target in IDENTITY_FIELDS for target in cleaned.values()):
        raise LeadFlowError(
            "Map a column to email, phone or external id: every lead needs one of them.",
            field="mapping",
        )
    return cleaned
