"""Merges of duplicate leads (undoable) and pairs a person said are different people."""

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
