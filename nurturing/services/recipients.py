"""What recipients do to nurture email: unsubscribe, open, click, bounce, complain.

- Unsubscribing (the one-click POST or the page's button) withdraws the lead's consent,
  suppresses the address, ends every track at once and records an `unsubscribe` event;
  a second time changes nothing.
- A hard bounce or a complaint (the email-events webhook) suppresses the address, ends
  the lead's tracks and records a `bounce` event; SOFT_BOUNCES_AS_HARD soft bounces in
  SOFT_BOUNCE_DAYS count as a hard one.
- Opens and clicks come back as `email_open` / `email_click` events through the
  set-based events path, once per send (their key), and feed engagement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.functions import Coalesce

from leads.exceptions import LeadFlowError
from leads.models import ConsentStatus, Lead
from leads.services import record_consent, record_events
from nurturing.models import Enrolment, Send, SoftBounce, Suppression
from nurturing.services.enrolment import exit_tracks

SOFT_BOUNCES_AS_HARD = 3
SOFT_BOUNCE_DAYS = 30
EVENT_TYPES = ("hard_bounce", "soft_bounce", "complaint")


def suppress(*, email: str, reason: str, now: datetime) -> bool:
    """Suppress an address for every marketing email; whether it was new."""
    email = (email or "").strip().lower()
    if not email:
        return False
    _, created = Suppression.objects.get_or_create(
        email=email, defaults={"reason": reason, "created_at": now}
    )
    return created


def _lead_of(email: str) -> Lead | None:
    return Lead.objects.filter(email=email, merged_into__isnull=True).first() if email else None


def unsubscribe(*, send_id: int, email: str, now: datetime) -> Lead | None:
    """Unsubscribe the address a nurture email went to (see the module); the lead, when
    it still exists. Idempotent."""
    send = Send.objects.filter(pk=send_id).select_related("lead").first()
    with transaction.atomic():
        suppress(email=email, reason=Suppression.Reason.UNSUBSCRIBED, now=now)
        lead = send.lead if send is not None else _lead_of(email)
        if lead is not None and lead.merged_into_id is not None:
            lead = Lead.objects.filter(pk=lead.merged_into_id).first()
        if lead is None:
            return None
        if lead.consent_status != ConsentStatus.WITHDRAWN:
            record_consent(
                lead_id=lead.pk, status=ConsentStatus.WITHDRAWN, method="unsubscribe link", now=now
            )
        exit_tracks(lead_ids=[lead.pk], reason=Enrolment.Exit.UNSUBSCRIBED, now=now)
        if send is not None:
            Send.objects.filter(pk=send.pk, unsubscribed_at__isnull=True).update(
                unsubscribed_at=now
            )
        record_events(
            [
                {
                    "lead": lead.pk,
                    "type": "unsubscribe",
                    "occurred_at": now,
                    "key": f"unsubscribe:{email}",
                    "data": {"send": send_id},
                }
            ],
            now=now,
        )
    return lead


@dataclass(frozen=True)
class EmailEvent:
    type: str
    email: str
    lead_id: int | None
    suppressed: bool


def record_email_event(
    *, type: str, now: datetime, email: str = "", message_id: str = ""
) -> EmailEvent:
    """A bounce or complaint reported for an address or a message (the webhook)."""
    if type not in EVENT_TYPES:
        raise LeadFlowError(f"Use a type of {', '.join(EVENT_TYPES)}.", field="type")
    email = (email or "").strip().lower()
    message_id = (message_id or "").strip()
    if not email and not message_id:
        raise LeadFlowError("Give the address (`email`) or the `message_id`.", field="email")
    send = None
    if message_id:
        wanted = message_id if message_id.startswith("<") else f"<{message_id}>"
        send = Send.objects.filter(message_id=wanted).select_related("lead").first()
        if send is None:
            raise Send.DoesNotExist("No nurture email has this Message-ID.")
        email = email or send.to_email or (send.lead.email or "")
    lead = send.lead if send is not None else _lead_of(email)
    with transaction.atomic():
        hard = type in ("hard_bounce", "complaint")
        reason = (
            Suppression.Reason.COMPLAINT if type == "complaint" else Suppression.Reason.HARD_BOUNCE
        )
        if type == "soft_bounce":
            SoftBounce.objects.create(email=email, message_id=message_id, created_at=now)
            recent = SoftBounce.objects.filter(
                email=email, created_at__gt=now - timedelta(days=SOFT_BOUNCE_DAYS)
            ).count()
            hard = recent >= SOFT_BOUNCES_AS_HARD
            reason = Suppression.Reason.SOFT_BOUNCES
        if not hard:
            return EmailEvent(type, email, getattr(lead, "pk", None), False)
        suppress(email=email, reason=reason, now=now)
        if send is not None:
            column = "complained_at" if type == "complaint" else "bounced_at"
            Send.objects.filter(pk=send.pk).update(**{column: Coalesce(column, now)})
        if lead is not None:
            exit_tracks(
                lead_ids=[lead.pk],
                now=now,
                reason=Enrolment.Exit.COMPLAINED if type == "complaint" else Enrolment.Exit.BOUNCED,
            )
            record_events(
                [
                    {
                        "lead": lead.pk,
                        "type": "bounce",
                        "occurred_at": now,
                        "key": f"{type}:{message_id or email}",
                        "data": {"type": type},
                    }
                ],
                now=now,
            )
    return EmailEvent(type, email, getattr(lead, "pk", None), True)


def record_open(*, send_id: int, now: datetime) -> bool:
    """The open pixel was fetched; whether this was the send's first open."""
    return _engaged(send_id=send_id, now=now, event="email_open", columns=("opened_at",))


def record_click(*, send_id: int, now: datetime) -> bool:
    """A tracked link was followed (an open too, when no pixel loaded)."""
    return _engaged(
        send_id=send_id, now=now, event="email_click", columns=("clicked_at", "opened_at")
    )


def _engaged(*, send_id: int, now: datetime, event: str, columns: tuple[str, ...]) -> bool:
    send = Send.objects.filter(pk=send_id, status=Send.Status.SENT).first()
    if send is None:
        return False
    with transaction.atomic():
        Send.objects.filter(pk=send_id).update(**{c: Coalesce(c, now) for c in columns})
        events = [
            {
                "lead": send.lead_id,
                "type": event,
                "occurred_at": now,
                "key": f"{event}:{send.pk}",
                "data": {"send": send.pk, "track": send.track_id},
            }
        ]
        if event == "email_click" and send.opened_at is None:
            events.append(
                {
                    "lead": send.lead_id,
                    "type": "email_open",
                    "occurred_at": now,
                    "key": f"email_open:{send.pk}",
                    "data": {"send": send.pk},
                }
            )
        results = record_events(events, now=now)
    return results[0].created
