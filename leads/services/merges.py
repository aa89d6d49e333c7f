"""Merging duplicate leads, and undoing a merge exactly.

Other CRMs merge irreversibly, so people fear merging. Here a merge moves the other
lead's timeline and audit rows to the survivor, takes the field values a person
chose, and hides the other lead (its identity kept on the LeadMerge record);
`unmerge` puts every moved row, field and identity back.

Every identity either lead had that the survivor does not hold afterwards (the other
lead's, and the survivor's own that a taken value replaced) becomes a `LeadAlias` of
the survivor, so a later capture by it updates the survivor instead of bringing the
duplicate back. The other lead's own aliases (from earlier merges) are carried to the
survivor with its other rows; unmerge deletes the merge's aliases and carries them
back.

Stage history is never moved: each lead keeps its own, so the funnel, which counts
per-lead histories, is not rewritten by a merge (the survivor's history would
otherwise hold two `"" → new` rows and moves it never made).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from leads import hooks
from leads.exceptions import IdentityConflict, InvalidTransition, LeadFlowError
from leads.models import (
    Activity,
    DuplicateReport,
    FieldChange,
    Lead,
    LeadAlias,
    LeadMerge,
    NotDuplicate,
    StageChange,
)
from leads.services.identity import identity_keys
from leads.services.timeline import refresh_activity_dates

# Fields the merge screen offers to take from the other lead.
MERGE_FIELDS = (
    "email", "phone", "external_id", "first_name", "last_name", "title", "company",
    "company_domain", "website", "company_size", "industry", "country", "time_zone",
    "source", "campaign", "owner", "budget", "authority", "need", "timeline", "converted",
)  # fmt: skip
IDENTITY = ("email", "phone", "external_id")
MOVED = {"activity": Activity, "field_change": FieldChange, "alias": LeadAlias}
# What unmerge moves back: merges recorded before stage history stayed put moved it too.
RESTORED = {**MOVED, "stage_change": StageChange}


def _value(lead: Lead, name: str):
    """A field's value as JSON: foreign keys as ids, decimals as strings."""
    field = Lead._meta.get_field(name)
    value = getattr(lead, field.attname)
    if value is None or isinstance(value, str | int | bool | float):
        return value
    return field.value_to_string(lead)


def _set(lead: Lead, name: str, value) -> None:
    field = Lead._meta.get_field(name)
    setattr(lead, field.attname, value if field.is_relation else field.to_python(value))


def _lock_pair(first_id: int, second_id: int) -> dict[int, Lead]:
    # Always lock in id order so two merges of the same pair cannot deadlock.
    leads = Lead.objects.select_for_update().filter(pk__in=[first_id, second_id]).order_by("pk")
    return {lead.pk: lead for lead in leads}


def merge_leads(
    *, survivor_id: int, other_id: int, take: list[str], by, now: datetime
) -> LeadMerge:
    """Merge lead `other_id` into `survivor_id`, taking the fields named in `take`
    (standard fields or `custom.<name>`) from the other lead."""
    if survivor_id == other_id:
        raise LeadFlowError("A lead cannot be merged with itself.")
    unknown = [n for n in take if n not in MERGE_FIELDS and not n.startswith("custom.")]
    if unknown:
        raise LeadFlowError(f"These fields cannot be merged: {', '.join(unknown)}.")
    with transaction.atomic():
        pair = _lock_pair(survivor_id, other_id)
        if len(pair) != 2:
            raise LeadFlowError("One of these leads no longer exists.")
        survivor, other = pair[survivor_id], pair[other_id]
        if survivor.merged_into_id or other.merged_into_id:
            raise InvalidTransition("One of these leads was already merged into another.")
        if survivor.erased_at or other.erased_at:
            raise InvalidTransition("One of these people was erased.")

        standard = [n for n in take if not n.startswith("custom.")]
        custom_keys = [n.removeprefix("custom.") for n in take if n.startswith("custom.")]
        survivor_before = {name: _value(survivor, name) for name in standard}
        survivor_before["custom"] = dict(survivor.custom)
        survivor_before["human_edited"] = list(survivor.human_edited)
        merged_before = {name: _value(other, name) for name in IDENTITY}
        keys_before = identity_keys(survivor) | identity_keys(other)

        # Free the other lead's identity first: the survivor may take it.
        other.email = other.phone = other.external_id = None
        other.merged_into = survivor
        other.save(update_fields=[*IDENTITY, "merged_into", "updated_at"])

        changes = {}
        for name in standard:
            new = _value(other, name) if name not in IDENTITY else merged_before[name]
            if survivor_before[name] != new:
                changes[name] = (survivor_before[name], new)
                _set(survivor, name, new)
        custom = dict(survivor.custom)
        for key in custom_keys:
            if key in other.custom and custom.get(key) != other.custom[key]:
                changes[f"custom.{key}"] = (custom.get(key), other.custom[key])
                custom[key] = other.custom[key]
        survivor.custom = custom
        survivor.human_edited = sorted(set(survivor.human_edited) | set(changes))
        try:
            with transaction.atomic():
                survivor.save()
        except IntegrityError:
            raise IdentityConflict(
                "The chosen email, phone or external id belongs to a third lead."
            ) from None

        moved = {}
        for key, model in MOVED.items():
            ids = list(model.objects.filter(lead=other).values_list("pk", flat=True))
            model.objects.filter(pk__in=ids).update(lead=survivor)
            moved[key] = ids
        hooks.announce(
            "leads_merged", survivor_id=survivor.pk, merged_id=other.pk,
            lead_ids=[survivor.pk, other.pk], now=now,
        )  # fmt: skip
        FieldChange.objects.bulk_create(
            FieldChange(
                lead=survivor, field=name, old_value=old, new_value=new,
                changed_at=now, changed_by=by, channel="merge",
            )
            for name, (old, new) in changes.items()
        )  # fmt: skip
        Activity.objects.create(
            lead=survivor,
            kind=Activity.Kind.MERGED,
            occurred_at=now,
            user=by,
            data={"merged_lead": other.pk, "name": other.display_name or merged_before["email"]},
        )
        merge = LeadMerge.objects.create(
            survivor=survivor,
            merged=other,
            merged_at=now,
            merged_by=by,
            survivor_before=survivor_before,
            merged_before=merged_before,
            moved=moved,
        )
        _leave_aliases(survivor, keys_before - identity_keys(survivor), merge=merge)
        # The survivor's timeline now holds both leads' entries.
        refresh_activity_dates(lead_ids=[survivor.pk, other.pk])
        DuplicateReport.objects.filter(
            lead_id__in=[survivor.pk, other.pk], resolved_at__isnull=True
        ).update(resolved_at=now)
        return merge


def _leave_aliases(survivor: Lead, keys: set[tuple[str, str, str]], *, merge: LeadMerge) -> None:
    """Point the identities (kind, source, value) the merge took off at the survivor."""
    held = set(survivor.aliases.values_list("kind", "source", "value"))  # carried along
    try:
        with transaction.atomic():
            LeadAlias.objects.bulk_create(
                LeadAlias(lead=survivor, kind=kind, source=source, value=value, merge=merge)
                for kind, source, value in sorted(keys - held)
            )
    except IntegrityError:
        # Only possible when a person gave a lead an identity an older merge left behind.
        raise IdentityConflict(
            "An email or external id of these leads already points at another lead "
            "(from an earlier merge); change it on this lead first."
        ) from None


def unmerge(*, merge_id: int, by, now: datetime) -> LeadMerge:
    """Undo a merge: both leads come back as they were, each with its own rows."""
    with transaction.atomic():
        merge = LeadMerge.objects.select_for_update().get(pk=merge_id)
        if merge.undone_at:
            raise InvalidTransition("This merge was already undone.")
        pair = _lock_pair(merge.survivor_id, merge.merged_id)
        survivor, merged = pair[merge.survivor_id], pair[merge.merged_id]
        if survivor.erased_at or merged.erased_at:
            raise InvalidTransition("This person was erased: the merge cannot be undone.")
        # Its own aliases go first: the identities come back to their leads below.
        merge.aliases.all().delete()
        for key, model in RESTORED.items():
            model.objects.filter(pk__in=merge.moved.get(key, [])).update(lead=merged)
        hooks.announce(
            "leads_unmerged", survivor_id=survivor.pk, merged_id=merged.pk,
            lead_ids=[survivor.pk, merged.pk], now=now,
        )  # fmt: skip
        FieldChange.objects.filter(
            lead=survivor, channel="merge", changed_at=merge.merged_at
        ).delete()

        before = dict(merge.survivor_before)
        survivor.custom = before.pop("custom")
        survivor.human_edited = before.pop("human_edited")
        for name, value in before.items():
            _set(survivor, name, value)
        survivor.save()
        for name, value in merge.merged_before.items():
            _set(merged, name, value)
        merged.merged_into = None
        try:
            with transaction.atomic():
                merged.save()
        except IntegrityError:
            raise IdentityConflict(
                "The merged lead's email, phone or external id now belongs to another lead; "
                "change that lead first."
            ) from None
        for lead in (survivor, merged):
            Activity.objects.create(
                lead=lead,
                kind=Activity.Kind.UNMERGED,
                occurred_at=now,
                user=by,
                data={"merge": merge.pk},
            )
        merge.undone_at, merge.undone_by = now, by
        merge.save(update_fields=["undone_at", "undone_by"])
        refresh_activity_dates(lead_ids=[survivor.pk, merged.pk])
        return merge


def mark_not_duplicate(
    *, lead_id: int, other_id: int, by, now: datetime | None = None
) -> NotDuplicate:
    """The two leads are different people: never suggested again, and a report that
    paired them is settled."""
    now = now or timezone.now()
    first, second = sorted((lead_id, other_id))
    with transaction.atomic():
        decision, _ = NotDuplicate.objects.get_or_create(
            lead_a_id=first, lead_b_id=second, defaults={"decided_by": by, "decided_at": now}
        )
        DuplicateReport.objects.filter(
            Q(lead_id=first, other_id=second) | Q(lead_id=second, other_id=first),
            resolved_at__isnull=True,
        ).update(resolved_at=now)
    return decision


def report_duplicate(*, lead_id: int, by, now: datetime, note: str = "") -> DuplicateReport:
    """A person says the lead is a duplicate (sales rejecting its handoff as one): it
    shows on the duplicates page beside its likeliest match, found now, until the pair
    is merged or said to be different. A lead already reported keeps its open report."""
    from leads.selectors.duplicates import likely_duplicate_of

    match = likely_duplicate_of(lead_id)
    with transaction.atomic():
        open_report = DuplicateReport.objects.filter(lead_id=lead_id, resolved_at__isnull=True)
        report = open_report.select_for_update().first()
        if report is not None:
            return report
        return DuplicateReport.objects.create(
            lead_id=lead_id,
            other_id=match[0] if match else None,
            reasons=match[1] if match else "",
            reported_by=by,
            reported_at=now,
            note=(note or "")[:500],
        )


def settle_duplicate_report(*, report_id: int, by, now: datetime) -> None:
    """Take a report off the duplicates page (e.g. no match was found and none exists)."""
    DuplicateReport.objects.filter(pk=report_id, resolved_at__isnull=True).update(resolved_at=now)
