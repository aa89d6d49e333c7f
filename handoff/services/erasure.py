"""What handoff holds about a person, for `leads.personal_data` (export and erasure).

Erasing keeps every handoff's team, rep, status, deadlines, breaches, amounts and dates
(the SLA figures and the outcome reports count them), drops its notes and scrubs the
person from its decision and lost reason and from the notifications about it; an open
handoff is closed (nobody is to call an erased person, and no SLA clock runs for them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handoff.models import Handoff, Notification
from leads import personal_data
from leads.personal_data import Person, scrub


def export_person(person: Person) -> dict[str, Any]:
    handoffs = Handoff.objects.filter(lead_id__in=person.lead_ids).select_related("team", "rep")
    notices = Notification.objects.filter(handoff__lead_id__in=person.lead_ids)
    return {
        "handoffs": [
            {
                "team": h.team.name,
                "rep": h.rep.get_username() if h.rep else None,
                "status": h.status,
                "created_at": h.created_at,
                "accepted_at": h.accepted_at,
                "contacted_at": h.contacted_at,
                "closed_at": h.closed_at,
                "reject_reason": h.reject_reason,
                "note": h.note,
                "amount": h.amount,
                "lost_reason": h.lost_reason,
                "decision": h.decision,
            }
            for h in handoffs.order_by("created_at", "id")
        ],
        "notifications": list(notices.values("kind", "text", "created_at")),
    }


def erase_person(person: Person, *, now: datetime) -> None:
    pattern = person.pattern()
    for handoff in Handoff.objects.filter(lead_id__in=person.lead_ids):
        handoff.note = ""
        handoff.lost_reason = scrub(handoff.lost_reason, person, pattern=pattern)
        handoff.decision = scrub(handoff.decision, person, pattern=pattern)
        fields = ["note", "lost_reason", "decision"]
        if handoff.status in (Handoff.Status.PENDING, Handoff.Status.ACCEPTED):
            handoff.status, handoff.closed_at = Handoff.Status.CLOSED, now
            handoff.warn_at = handoff.escalate_at = None
            fields += ["status", "closed_at", "warn_at", "escalate_at"]
        handoff.save(update_fields=fields)
    for notice in Notification.objects.filter(handoff__lead_id__in=person.lead_ids):
        text = scrub(notice.text, person, pattern=pattern)
        if text != notice.text:
            notice.text = text
            notice.save(update_fields=["text"])


def register() -> None:
    personal_data.register("handoff", export=export_person, erase=erase_person)
