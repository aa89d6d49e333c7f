"""Who was erased: the keyed hashes of erased people's emails, looked up by every way a
lead comes in (capture, an API batch, an import). See `leads.services.erasure`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from django.conf import settings
from django.db import connection

from leads.models import ErasedEmail, Erasure
from leads.normalise import normalise_email
from leads.rows import reader

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
    # The hashes as one array parameter (a batch's thousand as an IN list cost the ORM
    # a tenth of the batch's CPU), the erasures read with them.
    columns, make = reader(Erasure, "r")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.email_hash, {columns} FROM {ErasedEmail._meta.db_table} e "  # noqa: S608
            f"JOIN {Erasure._meta.db_table} r ON r.id = e.erasure_id "
            "WHERE e.email_hash = ANY(%s)",
            [list(by_hash)],
        )
        return {by_hash[row[0]]: make(row[1:]) for row in cursor.fetchall()}


def erasure_of(email: str | None) -> Erasure | None:
    return erasures_of([email]).get(normalise_email(email)) if email else None


def skip_message(erasure: Erasure) -> str:
    """Why an import row or a batch item of an erased person was skipped."""
    when = erasure.erased_at
    return f"Skipped: this person was erased on {when.day} {when:%B %Y} at their request."
