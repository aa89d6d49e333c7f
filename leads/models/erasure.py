"""Erasures (GDPR article 17): who erased a person, when and why — never who they were —
and the keyed hashes of the erased emails, so an old list cannot bring them back."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Erasure(models.Model):
    """The record of one erasure. It holds no personal data: the lead row it names was
    anonymised in place (`Lead.erased_at`), `reason` is what the marketer wrote (the page
    asks for no names), and the emails are only `ErasedEmail` hashes."""

    lead = models.ForeignKey(
        "leads.Lead", null=True, on_delete=models.SET_NULL, related_name="erasures"
    )
    erased_at = models.DateTimeField()
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-erased_at", "-id"]

    def __str__(self) -> str:
        return f"erasure {self.pk} of lead {self.lead_id}"


class ErasedEmail(models.Model):
    """An erased email as an HMAC-SHA256 keyed by `settings.ERASURE_HASH_KEY`
    (`leads.services.erasure.email_hash`): a bare hash of an email is reversed by
    hashing a list of addresses, a keyed one is not without the key."""

    email_hash = models.CharField(max_length=64, unique=True)
    erasure = models.ForeignKey(Erasure, on_delete=models.CASCADE, related_name="emails")

    def __str__(self) -> str:
        return self.email_hash
