"""What nurturing holds about a person, for `leads.personal_data` (export and erasure).

Erasing ends their enrolments (exit `erased`, queued emails not sent), keeps every
outbox row's status and dates (the tracks' figures count them) without the address,
subject or errors that name the person, and deletes the suppressions and soft bounces
of their addresses: an erased person who comes back is a new lead whose consent starts
as withdrawn (`leads.services.capture`), so nothing is sent until they consent anew —
and then an old unsubscribe must not silence them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leads import personal_data
from leads.personal_data import Person, scrub
from nurturing.models import Enrolment, Send, SoftBounce, Suppression
from nurturing.services.enrolment import exit_tracks

ERASED_SKIP = "The person was erased at their request."


def export_person(person: Person) -> dict[str, Any]:
    ids = list(person.lead_ids)
    enrolments = Enrolment.objects.filter(lead_id__in=ids).select_related("track")
    sends = Send.objects.filter(lead_id__in=ids).order_by("created_at", "id")
    return {
        "enrolments": [
            {
                "track": e.track.name,
                "status": e.status,
                "enrolled_at": e.enrolled_at,
                "exited_at": e.exited_at,
                "exit_reason": e.exit_reason,
            }
            for e in enrolments.order_by("enrolled_at", "id")
        ],
        "emails": list(
            sends.values(
                "subject",
                "to_email",
                "status",
                "message_id",
                "created_at",
                "sent_at",
                "opened_at",
                "clicked_at",
                "bounced_at",
                "complained_at",
                "unsubscribed_at",
                "skip_reason",
            )
        ),
        "suppressions": list(
            Suppression.objects.filter(email__in=person.emails).values(
                "email", "reason", "created_at"
            )
        ),
        "soft_bounces": list(
            SoftBounce.objects.filter(email__in=person.emails).values(
                "email", "message_id", "created_at"
            )
        ),
    }


def erase_person(person: Person, *, now: datetime) -> None:
    ids = list(person.lead_ids)
    exit_tracks(lead_ids=ids, reason=Enrolment.Exit.ERASED, now=now)
    Send.objects.filter(lead_id__in=ids, status=Send.Status.QUEUED).update(
        status=Send.Status.SKIPPED, skip_reason=ERASED_SKIP, lease_until=None
    )
    pattern = person.pattern()
    fields = ["to_email", "subject", "last_error", "skip_reason"]
    sends = list(Send.objects.filter(lead_id__in=ids).only("id", *fields))
    for send in sends:  # scrubbed in Python (the person's names and addresses), written at once
        send.to_email = ""
        send.subject = scrub(send.subject, person, pattern=pattern)
        send.last_error = scrub(send.last_error, person, pattern=pattern)
        send.skip_reason = scrub(send.skip_reason, person, pattern=pattern)
    Send.objects.bulk_update(sends, fields, batch_size=500)
    # No late "email sent" entry for them: what their timeline had is erased with it.
    Send.objects.filter(lead_id__in=ids, on_timeline=False).update(on_timeline=True)
    Suppression.objects.filter(email__in=person.emails).delete()
    SoftBounce.objects.filter(email__in=person.emails).delete()


def register() -> None:
    personal_data.register("nurturing", export=export_person, erase=erase_person)
