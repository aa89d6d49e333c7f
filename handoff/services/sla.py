"""The SLA scan (the `handoff.sla` tick job, and `tick --at`): a plain function of `now`.

Every deadline and warning instant is stored on the handoff, so the scan is indexed
comparisons, each a conditional UPDATE … RETURNING that flags a row once:

- warnings at 50 % and 80 % of the time to a deadline notify the rep;
- a passed accept or first-contact deadline is a breach, flagged exactly once: the rep
  and the team's managers are notified (in the app, and by email on commit), the lead's
  timeline says so; a pending handoff then escalates after the team's grace period;
- an escalation reassigns the handoff to the next rep by the same routing, leaving out
  the rep who let it lapse, with a fresh accept deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction

from handoff.models import Handoff, Notification
from handoff.services import routing
from handoff.services.calendars import deadline, policy_of, warning_at
from leads.services.timeline import Entry, record_activities

BREACHED = "handoff_breached"
ESCALATED = "handoff_escalated"


@dataclass
class Scan:
    warned: int = 0
    accept_breaches: int = 0
    contact_breaches: int = 0
    escalated: int = 0

    def summary(self) -> dict:
        return dict(self.__dict__)


def notify(
    *, users, handoff: Handoff, kind: str, text: str, now: datetime, email: bool = True
) -> int:
    """An in-app notice (once per user, handoff and kind) and, with `email`, an email on
    commit."""
    made = 0
    for user in {u.pk: u for u in users if u is not None}.values():
        try:
            with transaction.atomic():
                Notification.objects.create(
                    user=user, handoff=handoff, kind=kind, text=text[:500], created_at=now
                )
        except IntegrityError:
            continue  # given already
        made += 1
        if email and user.email:
            transaction.on_commit(
                lambda u=user: send_mail(
                    f"LeadFlow: {text[:120]}",
                    text,
                    settings.DEFAULT_FROM_EMAIL,
                    [u.email],
                    fail_silently=True,
                )
            )
    return made


def _lead_name(handoff: Handoff) -> str:
    return handoff.lead.display_name


def _managers(handoff: Handoff):
    return list(handoff.team.managers.all())


def _claim(sql: str, params: list) -> list[Handoff]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    return list(
        Handoff.objects.filter(pk__in=ids).select_related("lead", "rep", "team").order_by("pk")
    )


def scan(*, now: datetime, email: bool = True) -> Scan:
    """One pass as of `now` (with `email` False the notices stay in the app)."""
    result = Scan()
    with transaction.atomic():
        _warnings(now, result, email)
        _accept_breaches(now, result, email)
        _contact_breaches(now, result, email)
    with transaction.atomic():
        _escalations(now, result, email)
    return result


def _warnings(now: datetime, result: Scan, email: bool) -> None:
    rows = _claim(
        """UPDATE handoff_handoff SET warn_at = NULL WHERE id IN (
               SELECT id FROM handoff_handoff WHERE warn_at <= %s
               AND status IN ('pending', 'accepted') FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        [now],
    )
    for handoff in rows:
        pending = handoff.status == Handoff.Status.PENDING
        start = (handoff.assigned_at or handoff.created_at) if pending else handoff.accepted_at
        due = handoff.accept_by if pending else handoff.contact_by
        if due is None or due <= now or (not pending and handoff.contacted_at is not None):
            continue
        share = ("50 %", "80 %")[min(handoff.warnings, 1)]
        what = "accept" if pending else "contact"
        notify(
            users=[handoff.rep],
            handoff=handoff,
            kind=f"warn_{what}_{handoff.warnings}_{handoff.escalations}",
            text=f"{share} of the time to {what} {_lead_name(handoff)} has passed.",
            now=now,
        )
        policy = policy_of(handoff.team_id)
        handoff.warnings += 1
        handoff.warn_at = warning_at(policy, start, due, handoff.warnings)
        handoff.save(update_fields=["warnings", "warn_at"])
        result.warned += 1


def _breach(handoff: Handoff, what: str, now: datetime, email: bool) -> None:
    name = _lead_name(handoff)
    holder = handoff.rep.get_full_name() or handoff.rep.username if handoff.rep else "the queue"
    text = f"SLA breach: {name} was not {what} in time ({holder}, {handoff.team.name})."
    notify(
        users=[handoff.rep, *_managers(handoff)],
        handoff=handoff,
        kind=f"breach_{what}_{handoff.breaches}",
        text=text,
        now=now,
    )
    record_activities(
        [
            Entry(
                handoff.lead_id,
                BREACHED,
                now,
                None,
                {
                    "handoff": handoff.pk,
                    "what": what,
                    "rep": getattr(handoff.rep, "username", None),
                    "text": text,
                },
            )
        ],
        now=now,
    )


def _accept_breaches(now: datetime, result: Scan, email: bool) -> None:
    rows = _claim(
        """UPDATE handoff_handoff SET accept_breached_at = %s, breaches = breaches + 1
           WHERE id IN (SELECT id FROM handoff_handoff WHERE status = 'pending'
                        AND accept_breached_at IS NULL AND accept_by <= %s
                        FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        [now, now],
    )
    for handoff in rows:
        policy = policy_of(handoff.team_id)
        handoff.escalate_at = deadline(policy, handoff.accept_by, policy.grace_hours)
        handoff.save(update_fields=["escalate_at"])
        _breach(handoff, "accepted", now, email)
        result.accept_breaches += 1


def _contact_breaches(now: datetime, result: Scan, email: bool) -> None:
    rows = _claim(
        """UPDATE handoff_handoff SET contact_breached_at = %s, breaches = breaches + 1
           WHERE id IN (SELECT id FROM handoff_handoff WHERE status = 'accepted'
                        AND contacted_at IS NULL AND contact_breached_at IS NULL
                        AND contact_by <= %s FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        [now, now],
    )
    for handoff in rows:
        _breach(handoff, "contacted", now, email)
        result.contact_breaches += 1


def _escalations(now: datetime, result: Scan, email: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT id FROM handoff_handoff WHERE status = 'pending' AND escalate_at <= %s
               ORDER BY escalate_at, id FOR UPDATE SKIP LOCKED""",
            [now],
        )
        ids = [row[0] for row in cursor.fetchall()]
    for handoff in Handoff.objects.filter(pk__in=ids).select_related("team", "rep", "lead"):
        lapsed = handoff.rep
        handoff.escalations += 1
        routing.reassign(handoff=handoff, now=now, exclude_rep=lapsed)
        text = (
            f"Escalated: {_lead_name(handoff)} went to "
            f"{handoff.rep.username if handoff.rep else 'the team queue'}."
        )
        notify(
            users=[lapsed, handoff.rep, *_managers(handoff)],
            handoff=handoff,
            kind=f"escalated_{handoff.escalations}",
            text=text,
            now=now,
        )
        record_activities(
            [
                Entry(
                    handoff.lead_id,
                    ESCALATED,
                    now,
                    None,
                    {
                        "handoff": handoff.pk,
                        "from": getattr(lapsed, "username", None),
                        "to": getattr(handoff.rep, "username", None),
                        "text": text,
                    },
                )
            ],
            now=now,
        )
        result.escalated += 1
