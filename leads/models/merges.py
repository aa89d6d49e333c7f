"""Merges of duplicate leads (undoable), the identities they leave pointing at the
survivor, and pairs a person said are different people."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leads.models.leads import Lead


class LeadMerge(models.Model):
    """One merge of `merged` into `survivor`, with what is needed to undo it exactly."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_kept")
    merged = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_absorbed")
    merged_at = models.DateTimeField()
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Field values before the merge: the survivor's changed fields, the merged lead's all.
    survivor_before = models.JSONField(default=dict)
    merged_before = models.JSONField(default=dict)
    # Rows moved from the merged lead to the survivor: {"activity": [ids], ...}.
    moved = models.JSONField(default=dict)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"lead {self.merged_id} into {self.survivor_id}"


class LeadAlias(models.Model):
    """An identity a merge took off a lead: it keeps finding the survivor.

    Written by `merge_leads` for every email, phone and (source, external id) either
    lead had that the survivor does not hold afterwards; captures look here after the
    live identities (`leads.services.identity.MATCH_ORDER`). `unmerge` deletes the
    merge's aliases; a later merge of the survivor carries them to its own survivor.
    Unique per kind like the Lead's own identities: an email or an external id of a
    source points at one lead; phones may be shared.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        PHONE = "phone", "Phone"
        EXTERNAL_ID = "external_id", "External id"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="aliases")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=254)  # normalised like the Lead field
    # The source system of an external id; "" for emails and phones.
    source = models.CharField(max_length=32, blank=True)
    merge = models.ForeignKey(LeadMerge, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        verbose_name_plural = "lead aliases"
        constraints = [
            models.UniqueConstraint(
                fields=["value"], condition=Q(kind="email"), name="leadalias_email_unique"
            ),
            models.UniqueConstraint(
                fields=["source", "value"],
                condition=Q(kind="external_id"),
                name="leadalias_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["email", "phone", "external_id"]), name="leadalias_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="external_id") | Q(source=""), name="leadalias_source_only_for_ids"
            ),
        ]
        indexes = [
            models.Index(fields=["value"], condition=Q(kind="phone"), name="leadalias_phone_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} → lead {self.lead_id}"


class NotDuplicate(models.Model):
    """A pair of leads a person said are different people: never suggested again."""

    lead_a = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    lead_b = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead_a", "lead_b"], name="notduplicate_pair_unique"),
            models.CheckConstraint(
                condition=Q(lead_a__lt=models.F("lead_b")), name="notduplicate_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead_a_id} ≠ {self.lead_b_id}"


class DuplicateReport(models.Model):
    """A person said this lead is a duplicate (sales rejecting its handoff as one): the
    duplicates page shows it beside `other`, the likeliest match found then (None: none
    found), until the pair is merged or said to be different people."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="duplicate_reports")
    other = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")  # fmt: skip
    reasons = models.CharField(max_length=200, blank=True)  # why `other` matched
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reported_at = models.DateTimeField()
    note = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(resolved_at__isnull=True),
                name="duplicatereport_one_open",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"lead {self.lead_id} reported as a duplicate of {self.other_id}"
