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
from django.db import connection, transaction
from psycopg2.extras import execute_values

from handoff.models import Handoff, TeamPolicy
from handoff.services import routing
from handoff.services.calendars import deadline, warning_at
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


class Notices:
    """The notices and timeline entries of one scan step, written in one statement each
    when flushed: a notice once per user, handoff and kind (a scan run twice adds none),
    with an email on commit for each new one when `email`."""

    def __init__(self, *, now: datetime, email: bool):
        self.now, self.email = now, email
        self.notices: dict[tuple[int, int, str], tuple[object, str]] = {}
        self.entries: list[Entry] = []
        self._managers: dict[int, list] = {}

    def managers(self, handoff: Handoff) -> list:
        if handoff.team_id not in self._managers:
            self._managers[handoff.team_id] = list(handoff.team.managers.all())
        return self._managers[handoff.team_id]

    def add(self, *, users, handoff: Handoff, kind: str, text: str) -> None:
        for user in users:
            if user is not None:
                self.notices.setdefault((user.pk, handoff.pk, kind), (user, text[:500]))

    def entry(self, handoff: Handoff, kind: str, data: dict) -> None:
        self.entries.append(Entry(handoff.lead_id, kind, self.now, None, data))

    def flush(self) -> int:
        made = 0
        if self.notices:
            rows = [(u, h, k, text, self.now) for (u, h, k), (_user, text) in self.notices.items()]
            with connection.cursor() as cursor:
                new = execute_values(
                    cursor,
                    """INSERT INTO handoff_notification (user_id, handoff_id, kind, text,
                       created_at) VALUES %s ON CONFLICT (user_id, handoff_id, kind) DO NOTHING
                       RETURNING user_id, handoff_id, kind""",
                    rows,
                    fetch=True,
                )
            made = len(new)
            for key in new if self.email else ():
                user, text = self.notices[tuple(key)]
                if user.email:
                    transaction.on_commit(
                        lambda u=user, t=text: send_mail(
                            f"LeadFlow: {t[:120]}",
                            t,
                            settings.DEFAULT_FROM_EMAIL,
                            [u.email],
                            fail_silently=True,
                        )
                    )
        if self.entries:
            record_activities(self.entries, now=self.now)
        self.notices, self.entries = {}, []
        return made


def _set(column_values: dict[int, dict]) -> None:
    """Write per-handoff values (id → {column: value}) in one UPDATE per column set."""
    by_columns: dict[tuple[str, ...], list] = {}
    for handoff_id, values in column_values.items():
        by_columns.setdefault(tuple(sorted(values)), []).append(
            (handoff_id, *(values[c] for c in sorted(values)))
        )
    for columns, rows in by_columns.items():
        assignments = ", ".join(f"{c} = v.{c}" for c in columns)
        names = ", ".join(("id", *columns))
        with connection.cursor() as cursor:
            execute_values(  # the columns are this module's constants (_TYPES)
                cursor,
                f"UPDATE handoff_handoff h SET {assignments} FROM (VALUES %s) AS v({names}) "  # noqa: S608
                "WHERE h.id = v.id",
                rows,
                template="(" + ", ".join(["%s"] + [f"%s::{_TYPES[c]}" for c in columns]) + ")",
            )


_TYPES = {"warn_at": "timestamptz", "warnings": "smallint", "escalate_at": "timestamptz"}


def _lead_name(handoff: Handoff) -> str:
    return handoff.lead.display_name


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
        notices = Notices(now=now, email=email)
        _warnings(now, result, notices)
        _accept_breaches(now, result, notices)
        _contact_breaches(now, result, notices)
        notices.flush()
    with transaction.atomic():
        notices = Notices(now=now, email=email)
        _escalations(now, result, notices)
        notices.flush()
    return result


def _policies(handoffs) -> dict:
    found = {
        p.team_id: p for p in TeamPolicy.objects.filter(team_id__in={h.team_id for h in handoffs})
    }
    return {h.team_id: found.get(h.team_id) or TeamPolicy(team_id=h.team_id) for h in handoffs}


def _warnings(now: datetime, result: Scan, notices: Notices) -> None:
    rows = _claim(
        """UPDATE handoff_handoff SET warn_at = NULL WHERE id IN (
               SELECT id FROM handoff_handoff WHERE warn_at <= %s
               AND status IN ('pending', 'accepted') FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        [now],
    )
    policies, updates = _policies(rows), {}
    for handoff in rows:
        pending = handoff.status == Handoff.Status.PENDING
        start = (handoff.assigned_at or handoff.created_at) if pending else handoff.accepted_at
        due = handoff.accept_by if pending else handoff.contact_by
        if due is None or due <= now or (not pending and handoff.contacted_at is not None):
            continue
        share = ("50 %", "80 %")[min(handoff.warnings, 1)]
        what = "accept" if pending else "contact"
        notices.add(
            users=[handoff.rep],
            handoff=handoff,
            kind=f"warn_{what}_{handoff.warnings}_{handoff.escalations}",
            text=f"{share} of the time to {what} {_lead_name(handoff)} has passed.",
        )
        given = handoff.warnings + 1
        updates[handoff.pk] = {
            "warnings": given,
            "warn_at": warning_at(policies[handoff.team_id], start, due, given),
        }
        result.warned += 1
    _set(updates)


def _breach(handoff: Handoff, what: str, notices: Notices) -> None:
    name = _lead_name(handoff)
    holder = (handoff.rep.get_full_name() or handoff.rep.username) if handoff.rep else "the queue"
    text = f"SLA breach: {name} was not {what} in time ({holder}, {handoff.team.name})."
    notices.add(
        users=[handoff.rep, *notices.managers(handoff)],
        handoff=handoff,
        kind=f"breach_{what}_{handoff.breaches}",
        text=text,
    )
    notices.entry(
        handoff,
        BREACHED,
        {
            "handoff": handoff.pk,
            "what": what,
            "text": text,
            "rep": getattr(handoff.rep, "username", None),
        },
    )


def _accept_breaches(now: datetime, result: Scan, notices: Notices) -> None:
    rows = _claim(
        """UPDATE handoff_handoff SET accept_breached_at = %s, breaches = breaches + 1
           WHERE id IN (SELECT id FROM handoff_handoff WHERE status = 'pending'
                        AND accept_breached_at IS NULL AND accept_by <= %s
                        FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        [now, now],
    )
    policies, updates = _policies(rows), {}
    for handoff in rows:
        policy = policies[handoff.team_id]
        updates[handoff.pk] = {
            "escalate_at": deadline(policy, handoff.accept_by, policy.grace_hours)
        }
        _breach(handoff, "accepted", notices)
        result.accept_breaches += 1
    _set(updates)


def _contact_breaches(now: datetime, result: Scan, notices: Notices) -> None:
    rows = _claim(
        """UPDATE handoff_handoff SET contact_breached_at = %s, breaches = breaches + 1
           WHERE id IN (SELECT id FROM handoff_handoff WHERE status = 'accepted'
                        AND contacted_at IS NULL AND contact_breached_at IS NULL
                        AND contact_by <= %s FOR UPDATE SKIP LOCKED)
           RETURNING id""",
        [now, now],
    )
    for handoff in rows:
        _breach(handoff, "contacted", notices)
        result.contact_breaches += 1


def _escalations(now: datetime, result: Scan, notices: Notices) -> None:
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
        to = handoff.rep.username if handoff.rep else "the team queue"
        text = f"Escalated: {_lead_name(handoff)} went to {to}."
        notices.add(
            users=[lapsed, handoff.rep, *notices.managers(handoff)],
            handoff=handoff,
            kind=f"escalated_{handoff.escalations}",
            text=text,
        )
        notices.entry(
            handoff,
            ESCALATED,
            {
                "handoff": handoff.pk,
                "text": text,
                "from": getattr(lapsed, "username", None),
                "to": getattr(handoff.rep, "username", None),
            },
        )
        result.escalated += 1
