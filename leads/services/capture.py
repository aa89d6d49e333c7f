"""Capture: create the lead a set of values identifies, or fill the existing one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from leads import hooks
from leads.exceptions import IdentityConflict, LeadFlowError
from leads.models import Activity, Lead, Source, Stage, StageChange
from leads.normalise import company_domain
from leads.services.audit import record_field_changes
from leads.services.stages import check_initial

# Fields a repeated capture may fill when they are empty on the existing lead.
FILLABLE_FIELDS = (
    "email",
    "phone",
    "external_id",
    "first_name",
    "last_name",
    "title",
    "company",
    "company_domain",
    "website",
    "company_size",
    "industry",
    "country",
    "time_zone",
    "campaign",
    "budget",
    "authority",
    "need",
    "timeline",
    "converted",
)


@dataclass(frozen=True)
class CaptureResult:
    lead: Lead
    created: bool


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def _find_existing(data: dict[str, Any]) -> Lead | None:
    """The lead this capture identifies, locked: email, else source+external id, else phone.

    A lead found by external id or phone only counts when it has no other email:
    two people can share an office phone.
    """
    leads = Lead.objects.select_for_update()
    email, external_id, phone = data.get("email"), data.get("external_id"), data.get("phone")
    if email:
        lead = leads.filter(email=email).first()
        if lead:
            return lead
    if external_id:
        lead = leads.filter(
            source=data.get("source") or Source.OTHER, external_id=external_id
        ).first()
        if lead:
            if email and lead.email and lead.email != email:
                raise IdentityConflict(
                    f"External id {external_id!r} already belongs to lead {lead.pk} "
                    f"with another email address.",
                    field="external_id",
                )
            return lead
    if phone:
        candidates = leads.filter(phone=phone).order_by("created_at", "id")
        if email:
            candidates = candidates.filter(email__isnull=True)
        return candidates.first()
    return None


def capture_lead(
    *,
    data: dict[str, Any],
    by=None,
    channel: str,
    now: datetime,
    created_at: datetime | None = None,
) -> CaptureResult:
    """Create the lead `data` identifies, or update the existing one (never a duplicate).

    `data` holds validated, normalised model values (campaign as a Campaign).
    An existing lead only gets its empty fields filled and new custom keys; what is
    already there (often typed by a person) is never overwritten.
    """
    if not (data.get("email") or data.get("phone") or data.get("external_id")):
        raise LeadFlowError("A lead needs an email, a phone number or an external id.")
    data = dict(data)
    if not data.get("company_domain"):
        data["company_domain"] = company_domain(
            email=data.get("email"), website=data.get("website")
        )
    data["custom"] = {k: v for k, v in (data.get("custom") or {}).items() if v is not None}

    with transaction.atomic():
        existing = _find_existing(data)
        if existing is None:
            try:
                with transaction.atomic():
                    lead = _create(data, by=by, channel=channel, now=now, created_at=created_at)
                hooks.announce("lead_changed", lead_ids=[lead.pk], now=now)
                return CaptureResult(lead=lead, created=True)
            except IntegrityError:
                # A concurrent capture of the same identity won the insert: update that one.
                existing = _find_existing(data)
                if existing is None:
                    raise
        _fill(existing, data, by=by, channel=channel, now=now)
        hooks.announce("lead_changed", lead_ids=[existing.pk], now=now)
        return CaptureResult(lead=existing, created=False)


def _create(data, *, by, channel, now, created_at) -> Lead:
    stage = data.pop("stage", None) or Stage.NEW
    check_initial(stage)
    when = created_at or now
    lead = Lead.objects.create(
        **data,
        latest_campaign=data.get("campaign"),
        stage=stage,
        created_at=when,
        last_activity_at=when,
    )
    StageChange.objects.create(
        lead=lead, from_stage="", to_stage=stage, changed_at=when, changed_by=by, reason=channel
    )
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.CAPTURED,
        occurred_at=when,
        user=by,
        data={"channel": channel, "created": True},
    )
    return lead


def _fill(lead: Lead, data, *, by, channel, now) -> None:
    """Fill what is empty on the lead, except what a person edited by hand."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name in FILLABLE_FIELDS:
        value = data.get(name)
        if name in lead.human_edited or is_empty(value):
            continue
        if is_empty(getattr(lead, name)):
            changes[name] = (getattr(lead, name), value)
            setattr(lead, name, value)
    custom = dict(lead.custom)
    for key, value in data.get("custom", {}).items():
        if key not in custom and f"custom.{key}" not in lead.human_edited:
            custom[key] = value
            changes[f"custom.{key}"] = (None, value)
    lead.custom = custom
    campaign = data.get("campaign")
    if campaign is not None and lead.latest_campaign_id != campaign.pk:
        changes["latest_campaign"] = (lead.latest_campaign, campaign)
        lead.latest_campaign = campaign
    lead.last_activity_at = now
    fields = {name.split(".")[0] for name in changes}
    try:
        with transaction.atomic():
            lead.save(update_fields=[*fields, "last_activity_at", "updated_at"])
    except IntegrityError:
        raise IdentityConflict(
            "This lead's phone, email or external id already belongs to another lead."
        ) from None
    record_field_changes(lead, changes, by=by, channel=channel, now=now)
    Activity.objects.create(
        lead=lead,
        kind=Activity.Kind.CAPTURED,
        occurred_at=now,
        user=by,
        data={"channel": channel, "created": False, "filled": sorted(changes)},
    )
