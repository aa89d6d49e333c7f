"""Capture: create the lead a set of values identifies, or fill the existing one.

Which lead that is, what may be filled and which consent a capture may state is the
capture spec (`identity`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from leads import hooks
from leads.exceptions import IdentityConflict
from leads.models import Activity, ConsentStatus, Lead, Stage
from leads.rows import execute_prepared
from leads.services import erased, identity
from leads.services.audit import record_field_changes
from leads.services.edits import consent_source, set_consent
from leads.services.identity import FILLABLE_FIELDS
from leads.services.stages import check_initial, first_stages_sql
from leads.services.timeline import Entry, captured_entries_sql, check_entry


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool


def capture_lead(
    *,
    data: dict[str, Any],
    by=None,
    channel: str,
    now: datetime,
    created_at: datetime | None = None,
    consent_method: str = "",
) -> CaptureResult:
    """Create the lead `data` identifies, or update the existing one (never a duplicate).

    `data` holds validated, normalised model values (campaign as a Campaign).
    An existing lead only gets its empty fields filled and new custom keys; what is
    already there (often typed by a person) is never overwritten. A `consent_status`
    in `data` is stated as the spec allows (`identity.capture_may_state_consent`),
    recorded as given through `consent_method` (default: the channel and `by`).

    A new lead with the email of a person erased earlier (`leads.services.erasure`) is
    that person coming back by themselves: its consent starts as withdrawn, so no
    marketing email goes out until they consent anew (a capture never grants it).
    """
    identity.require_identity(data)
    data = dict(data)
    data["company_domain"] = identity.derived_company_domain(data)
    data["custom"] = {k: v for k, v in (data.get("custom") or {}).items() if v is not None}
    consent = data.pop("consent_status", None)
    method = consent_method or consent_source(channel, by)

    with transaction.atomic():
        existing = identity.find_lead(data)
        if existing is None:
            lead = _create(data, by=by, channel=channel, now=now, created_at=created_at)
            if lead is not None:
                if lead._returning:
                    set_consent(lead, status=ConsentStatus.WITHDRAWN, by=by, now=now,
                                method=erased.RETURNING_CONSENT_METHOD)  # fmt: skip
                _state_consent(lead, consent, method=method, by=by, now=now)
                hooks.announce("lead_changed", lead_ids=[lead.pk], now=now)
                return CaptureResult(lead=lead, created=True)
            # A concurrent capture of the same identity won the insert: update that one.
            existing = identity.find_lead(data)
            if existing is None:
                raise IntegrityError("The lead's identity was taken and then released.")
        _fill(existing, data, by=by, channel=channel, now=now)
        _state_consent(existing, consent, method=method, by=by, now=now)
        hooks.announce("lead_changed", lead_ids=[existing.pk], now=now)
        return CaptureResult(lead=existing, created=False)


def _state_consent(lead: Lead, status: str | None, *, method: str, by, now) -> None:
    if identity.capture_may_state_consent(lead.consent_status, status):
        set_consent(lead, status=status, method=method, by=by, now=now)


# Every column but the id and those PostgreSQL computes, in the model's order (a new Lead
# field needs no change here).
_INSERTED = [f for f in Lead._meta.concrete_fields if not (f.primary_key or f.generated)]
# Each column's value where the capture gives none: its default as prepared for the
# database once (preparing ~30 unchanging defaults took a fifteenth of a capture's CPU)
# or _COMPUTED for a default made at each insert (a callable, a timestamp).
_COMPUTED = object()
_ALWAYS_GIVEN = frozenset({"latest_campaign", "stage", "created_at", "last_activity_at"})
_DEFAULTS = [
    (
        f,
        _COMPUTED
        if callable(f.default) or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else f.get_db_prep_save(f.get_default(), connection),
    )
    for f in _INSERTED
]
_UPDATED_AT = next(i for i, (f, _) in enumerate(_DEFAULTS) if f.name == "updated_at")
# The lead, its first stage change and its `captured` entry in one statement; no row
# when a unique identity is taken (ON CONFLICT DO NOTHING: no error to recover from, so
# no savepoint). It also says whether the email is one of an erased person (its hash,
# or NULL for none).
_INSERT = (  # noqa: S608 - column names from the model
    "WITH lead AS (INSERT INTO leads_lead ({columns}) VALUES ({values}) "
    "ON CONFLICT DO NOTHING RETURNING id), stage AS ({first_stage}), entry AS ({entry}) "
    "SELECT id, EXISTS (SELECT 1 FROM leads_erasedemail WHERE email_hash = %s) FROM lead"
).format(
    columns=", ".join(connection.ops.quote_name(f.column) for f in _INSERTED),
    values=", ".join(["%s"] * len(_INSERTED)),
    first_stage=first_stages_sql("lead"),
    entry=captured_entries_sql("lead"),
)


def _create(data, *, by, channel, now, created_at) -> Lead | None:
    """The new lead with its first stage change and `captured` entry; None when a
    concurrent capture took one of its identities first."""
    stage = data.pop("stage", None) or Stage.NEW
    check_initial(stage)
    when = created_at or now
    by_id = getattr(by, "pk", None)
    entry = check_entry(
        Entry(0, Activity.Kind.CAPTURED, when, data={"channel": channel, "created": True},
              user_id=by_id),
        now=now,
    )  # fmt: skip
    lead = Lead(**data, latest_campaign=data.get("campaign"), stage=stage, created_at=when,
                last_activity_at=when)  # fmt: skip
    given = data.keys() | _ALWAYS_GIVEN
    values = [
        constant
        if constant is not _COMPUTED and f.name not in given
        else f.get_db_prep_save(f.pre_save(lead, add=True), connection)
        for f, constant in _DEFAULTS
    ]
    # As the captured entry leaves it (timeline.captured_entries_sql), not the clock.
    lead.updated_at = now
    values[_UPDATED_AT] = _DEFAULTS[_UPDATED_AT][0].get_db_prep_save(now, connection)
    with connection.cursor() as cursor:
        email = data.get("email")
        execute_prepared(
            cursor,
            _INSERT,
            [*values, stage, when, by_id, channel,
             entry.occurred_at, by_id, json.dumps(entry.data), now,
             erased.email_hash(email) if email else None],
        )  # fmt: skip
        row = cursor.fetchone()
    if row is None:
        return None
    lead.pk, lead._returning = row
    lead._state.adding, lead._state.db = False, connection.alias
    return lead


def _fill(lead: Lead, data, *, by, channel, now) -> None:
    """Fill what is empty on the lead, except what a person edited by hand."""
    changes: dict[str, tuple[Any, Any]] = {}
    held = identity.held_as_alias(lead)
    for name in FILLABLE_FIELDS:
        value = data.get(name)
        if identity.fillable_value(lead, name, value, held=held):
            changes[name] = (getattr(lead, Lead._meta.get_field(name).attname), value)
            setattr(lead, name, value)
    custom = dict(lead.custom)
    for key, value in data.get("custom", {}).items():
        if key not in custom and f"custom.{key}" not in lead.human_edited:
            custom[key] = value
            changes[f"custom.{key}"] = (None, value)
    lead.custom = custom
    campaign = data.get("campaign")
    if campaign is not None and lead.latest_campaign_id != campaign.pk:
        changes["latest_campaign"] = (lead.latest_campaign_id, campaign)
        lead.latest_campaign = campaign
    entry = check_entry(
        Entry(lead.pk, Activity.Kind.CAPTURED, now, user_id=getattr(by, "pk", None),
              data={"channel": channel, "created": False, "filled": sorted(changes)}),
        now=now,
    )  # fmt: skip
    # The captured entry's dates (timeline.captured_entries_sql) in the fill's UPDATE.
    lead.last_activity_at = max(filter(None, [lead.last_activity_at, entry.occurred_at]))
    lead.updated_at = now
    fields = {name.split(".")[0] for name in changes} | {"last_activity_at", "updated_at"}
    # No savepoint: a taken identity ends the capture (its transaction rolls back).
    try:
        Lead.objects.filter(pk=lead.pk).update(**{name: getattr(lead, name) for name in fields})
    except IntegrityError:
        raise IdentityConflict(
            "This lead's phone, email or external id already belongs to another lead."
        ) from None
    record_field_changes(lead, changes, by=by, channel=channel, now=now)
    with connection.cursor() as cursor:
        cursor.execute(
            captured_entries_sql("(SELECT %s::bigint AS id) lead"),
            [entry.occurred_at, entry.user_id, json.dumps(entry.data), now, lead.pk],
        )
