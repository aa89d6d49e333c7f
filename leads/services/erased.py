"""Who was erased: the keyed hashes of erased people's emails, looked up by every way a
lead comes in (capture, an API batch, an import). See `leads.services.erasure`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings

from leads.models import ErasedEmail, Erasure
from leads.normalise import normalise_email

# How the consent of an erased person who came back by themselves starts (`capture_lead`).
RETURNING_CONSENT_METHOD = "came back after an erasure: needs fresh consent"


def email_hash(email: str) -> str:
    """The normalised email's HMAC-SHA256 under `settings.ERASURE_HASH_KEY`, in hex (a
    bare hash of an email is reversed by hashing a list of addresses)."""
    key = settings.ERASURE_HASH_KEY.encode()
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()


def erasures_of(emails: Iterable[str | None]) -> dict[str, Erasure]:
    """The erasure of each of `emails` that was erased (normalised email → Erasure), in
    one query."""
    by_hash = {email_hash(e): normalise_email(e) for e in emails if e}
    if not by_hash:
        return {}
    found = ErasedEmail.objects.filter(email_hash__in=by_hash).select_related("erasure")
    return {by_hash[row.email_hash]: row.erasure for row in found}


def erasure_of(email: str | None) -> Erasure | None:
    return erasures_of([email]).get(normalise_email(email)) if email else None


def skip_message(erasure: Erasure) -> str:
    """Why an import row or a batch item of an erased person was skipped."""
    when = erasure.erased_at
    return f"Skipped: this person was erased on {when.day} {when:%B %Y} at their request."
