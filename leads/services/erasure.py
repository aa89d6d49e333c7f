"""A person's data on request (GDPR articles 15 and 17): export it all, or erase it.

`export_person` gathers what every app holds about the person (`leads.personal_data`:
each app registers its exporter) into one JSON document. `erase_person` runs every
app's eraser in one transaction, then records the erasure (who, when, why) and keeps
only keyed hashes of the person's emails (`ErasedEmail`).

The person is their lead and every lead merged into it (the same person captured twice),
with every email, phone, external id and name they were known by — on the leads, in
the aliases merges left, in merge records and in the field audit.

Why the lead row is anonymised in place, not deleted: the funnel, velocity and the
dashboards count stage history (`StageChange`) per lead, and campaigns, sources, owners
and handoffs count leads. Deleting the row would take its stage history with it
(CASCADE) and change every count it was in; an anonymous stub beside a deleted lead
would be the same row with another name. So the row stays with its id, stage, source,
campaigns, owner, scores and dates, every field that says who the person is blanked,
`erased_at` set — and from then on it is hidden (`leads_visible_to`), and no process
takes it (scoring, enrolment, routing and the stage machine skip erased leads).

Coming back: an import or an API batch that carries an erased email skips that row
with `erased.skip_message` ("erased on 3 March 2026 at their request"): an old list must
not bring them back. A single capture (`POST /api/v1/leads/`, a web form, the New lead
page) is the person coming back by themselves — a chat or a site form an integration
relays one at a time — and creates a new lead whose marketing consent starts as
withdrawn (`capture_lead`), so no marketing email goes out until they consent anew (a
person recording their consent, or their own confirmation): a capture never grants a
withdrawn consent, whatever its form's box says.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q
from django.forms.models import model_to_dict

from leads import personal_data
from leads.exceptions import InvalidTransition, LeadFlowError
from leads.models import (
    Activity,
    ConsentStatus,
    DuplicateReport,
    ErasedEmail,
    Erasure,
    FieldChange,
    ImportJob,
    Lead,
    LeadAlias,
    LeadMerge,
    StageChange,
)
from leads.normalise import normalise_email
from leads.personal_data import Person, scrub
from leads.services.erased import email_hash
from leads.services.imports import files

REASON_MAX = Erasure._meta.get_field("reason").max_length
ERASED_CONSENT_METHOD = "erased at their request"

# Lead columns that say who the person is, and what they become. What stays — stage,
# source, campaigns, owner, scores, converted, dates — is what the funnel and the
# dashboards count, and says nothing about who it was.
BLANKED: dict[str, Any] = {
    "email": None, "phone": None, "external_id": None, "first_name": "", "last_name": "",
    "title": "", "company": "", "company_domain": "", "website": "", "company_size": None,
    "industry": "", "country": "", "time_zone": "", "budget": None, "authority": None,
    "need": "", "timeline": "", "custom": {}, "human_edited": [],
}  # fmt: skip
# Audit rows of these fields keep their values (nothing personal); every other field's
# old and new values go.
_AUDIT_KEPT = {"stage", "source", "campaign", "latest_campaign", "owner", "consent_status",
               "converted"}  # fmt: skip
_NAMED_BY = ("email", "phone", "external_id", "first_name", "last_name")


# --- who the person is --------------------------------------------------------------


def person_of(lead: Lead) -> Person:
    """The person of `lead` (not merged into another): it and the leads merged into it,
    with every identity and name they were known by."""
    ids = [lead.pk]
    frontier = [lead.pk]
    while frontier:
        frontier = list(
            Lead.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True)
        )
        ids += [pk for pk in frontier if pk not in ids]
    values: dict[str, set[str]] = {name: set() for name in _NAMED_BY}
    for row in Lead.objects.filter(pk__in=ids).values(*_NAMED_BY):
        for name, value in row.items():
            if value:
                values[name].add(value)
    for kind, value in LeadAlias.objects.filter(lead_id__in=ids).values_list("kind", "value"):
        values[kind].add(value)
    merges = LeadMerge.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids))
    for before in merges.values_list("survivor_before", "merged_before"):
        for part in before:
            for name in _NAMED_BY:
                if isinstance(part.get(name), str) and part[name]:
                    values[name].add(part[name])
    audited = FieldChange.objects.filter(lead_id__in=ids, field__in=_NAMED_BY)
    for name, old, new in audited.values_list("field", "old_value", "new_value"):
        values[name].update(v for v in (old, new) if isinstance(v, str) and v)
    rows = Lead.objects.filter(pk__in=ids).values_list("first_name", "last_name")
    full_names = {f"{first} {last}".strip() for first, last in rows}
    return Person(
        lead_id=lead.pk,
        lead_ids=tuple(ids),
        emails=frozenset(normalise_email(e) for e in values["email"]),
        phones=frozenset(values["phone"]),
        external_ids=frozenset(values["external_id"]),
        names=frozenset(full_names | values["first_name"] | values["last_name"]),
    )


def _live_lead(lead_id: int, *, lock: bool = False) -> Lead:
    leads = Lead.objects.select_for_update() if lock else Lead.objects
    lead = leads.filter(pk=lead_id).first()
    if lead is None or lead.merged_into_id is not None:
        raise LeadFlowError("No such lead.", field="lead")
    if lead.erased_at is not None:
        raise InvalidTransition("This person was erased already.")
    return lead


# --- export and erase ---------------------------------------------------------------


def export_person(*, lead_id: int, now: datetime) -> dict[str, Any]:
    """Everything held about the lead's person, one part per app (`personal_data`)."""
    with transaction.atomic():
        person = person_of(_live_lead(lead_id))
        document: dict[str, Any] = {"exported_at": now, "lead_id": lead_id}
        for holder in personal_data.holders():
            document[holder.app] = holder.export(person)
    return document


def erasure_summary(lead: Lead) -> list[str]:
    """What an erasure of the lead's person would touch, in words for its confirmation:
    each app's records by kind and count ("Nurturing — emails: 3, enrolments: 1")."""
    document = export_person(lead_id=lead.pk, now=lead.created_at)
    lines = ["The lead's own fields, custom values and consent"]
    for holder in personal_data.holders():
        part = document[holder.app]
        counts = [
            f"{name.replace('_', ' ')}: {len(rows)}"
            for name, rows in (part.items() if isinstance(part, dict) else [])
            if isinstance(rows, list) and rows
        ]
        if counts:
            lines.append(f"{holder.app.capitalize()} — {', '.join(counts)}")
    return lines


def erase_person(*, lead_id: int, by, reason: str, now: datetime) -> Erasure:
    """Erase the lead's person everywhere (every registered app), keep the funnel's
    counts, record who erased them, when and why, and keep their emails' hashes."""
    reason = (reason or "").strip()
    if not reason:
        raise LeadFlowError("Say why the person is erased (e.g. their request).", field="reason")
    if len(reason) > REASON_MAX:
        raise LeadFlowError(f"At most {REASON_MAX} characters.", field="reason")
    with transaction.atomic():
        lead = _live_lead(lead_id, lock=True)
        person = person_of(lead)
        list(Lead.objects.select_for_update().filter(pk__in=person.lead_ids).order_by("pk"))
        for holder in personal_data.holders():
            holder.erase(person, now=now)
        erasure = Erasure.objects.create(lead=lead, erased_at=now, erased_by=by, reason=reason)
        for email in sorted(person.emails):
            ErasedEmail.objects.update_or_create(
                email_hash=email_hash(email), defaults={"erasure": erasure}
            )
    return erasure


# --- what leads holds ---------------------------------------------------------------


def export_leads(person: Person) -> dict[str, Any]:
    """The leads app's part: the lead and the leads merged into it, consent and its
    history, stage history, timeline, field audit, aliases, merges, imports."""
    ids = list(person.lead_ids)
    leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=ids)}
    lead = leads[person.lead_id]
    consent_history = FieldChange.objects.filter(lead_id__in=ids, field="consent_status")
    jobs = ImportJob.objects.filter(Q(leads__in=ids) | Q(field_changes__lead_id__in=ids)).distinct()
    return {
        "lead": _fields(lead),
        "merged_leads": [_fields(leads[pk]) for pk in ids[1:]],
        "custom": lead.custom,
        "consent": {
            "status": lead.consent_status,
            "at": lead.consent_at,
            "method": lead.consent_method,
            "history": [
                {
                    "from": c.old_value,
                    "to": c.new_value,
                    "at": c.changed_at,
                    "how": c.channel,
                    "by": _username(c.changed_by),
                }
                for c in consent_history.select_related("changed_by").order_by("changed_at")
            ],
        },
        "stage_history": [
            {
                "lead": c.lead_id,
                "from": c.from_stage,
                "to": c.to_stage,
                "at": c.changed_at,
                "by": _username(c.changed_by),
                "reason": c.reason,
            }
            for c in StageChange.objects.filter(lead_id__in=ids).select_related("changed_by")
        ],
        "timeline": [
            {
                "lead": a.lead_id,
                "kind": a.kind,
                "label": a.label,
                "at": a.occurred_at,
                "by": _username(a.user),
                "key": a.key,
                "data": a.data,
            }
            for a in Activity.objects.filter(lead_id__in=ids)
            .select_related("user")
            .order_by("occurred_at", "id")
        ],
        "field_changes": [
            {
                "lead": c.lead_id,
                "field": c.field,
                "from": c.old_value,
                "to": c.new_value,
                "at": c.changed_at,
                "by": _username(c.changed_by),
                "channel": c.channel,
                "import": c.import_job_id,
            }
            for c in FieldChange.objects.filter(lead_id__in=ids)
            .select_related("changed_by")
            .order_by("changed_at", "id")
        ],
        "aliases": list(
            LeadAlias.objects.filter(lead_id__in=ids).values("kind", "value", "source")
        ),
        "merges": list(
            LeadMerge.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids)).values(
                "survivor_id",
                "merged_id",
                "merged_at",
                "survivor_before",
                "merged_before",
                "undone_at",
            )
        ),
        "imports": [
            {"id": job.pk, "file": job.original_name, "at": job.created_at, "status": job.status}
            for job in jobs
        ],
        "duplicate_reports": list(
            DuplicateReport.objects.filter(Q(lead_id__in=ids) | Q(other_id__in=ids)).values(
                "lead_id", "other_id", "reasons", "reported_at", "note", "resolved_at"
            )
        ),
    }


def _fields(lead: Lead) -> dict[str, Any]:
    values = model_to_dict(lead)
    values["campaign"] = lead.campaign.code if lead.campaign_id else None
    values["latest_campaign"] = lead.latest_campaign.code if lead.latest_campaign_id else None
    values["owner"] = lead.owner.get_username() if lead.owner_id else None
    values["created_at"], values["updated_at"] = lead.created_at, lead.updated_at
    return {"id": lead.pk, **values}


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def erase_leads(person: Person, *, now: datetime) -> None:
    """The leads app's rows: the leads anonymised in place (stage history kept, its
    reasons blanked), timeline payloads scrubbed (touch bodies dropped), audit values
    dropped, aliases deleted, merge records emptied, the person's rows blanked in kept
    import files and import errors scrubbed, the admin's log entries renamed."""
    ids = list(person.lead_ids)
    pattern = person.pattern()
    Lead.objects.filter(pk__in=ids).update(
        **BLANKED,
        consent_status=ConsentStatus.WITHDRAWN,
        consent_at=now,
        consent_method=ERASED_CONSENT_METHOD,
        erased_at=now,
        updated_at=now,
    )
    StageChange.objects.filter(lead_id__in=ids).exclude(reason="").update(reason="")
    scrubbed = []
    for activity in Activity.objects.filter(lead_id__in=ids).iterator(chunk_size=2000):
        data = scrub({k: v for k, v in activity.data.items() if k != "body"}, person)
        key = activity.key
        if key and pattern is not None and pattern.search(key):
            key = None
        if data != activity.data or key != activity.key:
            activity.data, activity.key = data, key
            scrubbed.append(activity)
    Activity.objects.bulk_update(scrubbed, ["data", "key"], batch_size=1000)
    FieldChange.objects.filter(lead_id__in=ids).exclude(field__in=_AUDIT_KEPT).update(
        old_value=None, new_value=None
    )
    # A consent's channel is how it was given, in a person's words ("asked Ann at …").
    for change in FieldChange.objects.filter(lead_id__in=ids, field="consent_status"):
        channel = scrub(change.channel, person, pattern=pattern)
        if channel != change.channel:
            FieldChange.objects.filter(pk=change.pk).update(channel=channel)
    LeadAlias.objects.filter(lead_id__in=ids).delete()
    LeadMerge.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids)).update(
        survivor_before={}, merged_before={}
    )
    # A rep's note on a reported duplicate is free text about the person; the report
    # itself is settled (an erased lead is nobody's duplicate any more).
    reports = DuplicateReport.objects.filter(Q(lead_id__in=ids) | Q(other_id__in=ids))
    reports.update(note="")
    reports.filter(resolved_at__isnull=True).update(resolved_at=now)
    _erase_from_imports(person)
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Lead), object_id__in=[str(i) for i in ids]
    )
    for entry in entries:
        entry.object_repr = f"Erased lead {entry.object_id}"
        entry.change_message = scrub(entry.change_message, person)
        entry.save(update_fields=["object_repr", "change_message"])


def _erase_from_imports(person: Person) -> None:
    """Blank the person's rows in every uploaded file still kept (an import's undo needs
    none of them: it works from the leads and the audit), and scrub import errors."""
    pattern = person.pattern()
    if pattern is None:
        return
    like = [f"%{_like_escaped(value)}%" for value in person.values()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM leads_importjob WHERE errors::text ILIKE ANY(%s)", [like])
        named = [row[0] for row in cursor.fetchall()]
    for job in ImportJob.objects.filter(pk__in=named):
        job.errors = scrub(job.errors, person)
        job.save(update_fields=["errors"])
    for job in ImportJob.objects.exclude(file=""):
        files.blank_rows(job, lambda _, cells: _is_persons(cells, person))


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _is_persons(cells: list[str], person: Person) -> bool:
    """Whether a file's row is the person's: a cell holds one of their emails or
    external ids, or the digits of one of their phones (national or international)."""
    texts = {e.lower() for e in person.emails} | {x.lower() for x in person.external_ids}
    phones = {_digits(p) for p in person.phones}
    for cell in cells:
        value = cell.strip().lower()
        if not value:
            continue
        if value in texts:
            return True
        digits = _digits(value).lstrip("0")
        if len(digits) >= 7 and any(p.endswith(digits) for p in phones):
            return True
    return False


def register() -> None:
    """Leads' own part of every export and erasure (from `LeadsConfig.ready()`)."""
    personal_data.register("leads", export=export_leads, erase=erase_leads)
