"""The dispatcher: moves due enrolments through their steps, in batches.

The database is the schedule. A pass claims active enrolments whose `due_at` has come
(indexed, `FOR UPDATE SKIP LOCKED`, so two passes at once never take the same ones),
and in the same transaction runs each one's step set-based, grouped by step:

- **wait**: the next step becomes due after the wait (in business days when the step
  says, in the lead's calendar);
- **email**: one outbox row (`Send`) per (enrolment, step) under a unique constraint,
  and the enrolment moves on to the next step; the rows' ids are handed to the send
  task on commit (Celery is only the doorbell: the tick's sweep finds any row a lost
  message left behind);
- **branch**: the test (opened or clicked the previous email within N days, engagement
  or grade at least, an event since enrolling) picks the then- or the else-step;
- **exit**, or the end of the track: the enrolment ends.

An enrolment can go through several steps in one pass (a branch, then an email), at
most MAX_HOPS; a track whose branches loop without a wait is parked for an hour.
"""

# SQL here is assembled from this module's own fragments; values travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from leadflow import business_time
from leads.idsets import among
from leads.models import Lead
from leads.services.timeline import Entry, record_activities
from nurturing.models import Enrolment, Step
from nurturing.services.enrolment import exit_tracks

BATCH = 500
MAX_HOPS = 20  # steps one enrolment may take in one pass
PARKED = timedelta(hours=1)
STEP = "nurture_step"
GRADE_ORDER = "ABCD"


@dataclass
class Dispatched:
    claimed: int = 0
    queued: list[int] = field(default_factory=list)  # new outbox rows
    exited: int = 0
    completed: int = 0
    parked: int = 0

    def summary(self) -> dict:
        return {
            "claimed": self.claimed,
            "queued": len(self.queued),
            "exited": self.exited,
            "completed": self.completed,
            "parked": self.parked,
        }


def claim_due(*, now: datetime, limit: int = BATCH) -> list[int]:
    """Lock up to `limit` due enrolments, oldest first, skipping those another pass
    holds; call inside a transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM nurturing_enrolment
            WHERE status = 'active' AND due_at <= %s
            ORDER BY due_at, id LIMIT %s FOR UPDATE SKIP LOCKED
            """,
            [now, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def dispatch(*, now: datetime, batches: int | None = None, on_queued=None) -> Dispatched:
    """Run every due step as of `now`, batch after batch (each its own transaction), until
    nothing is due or `batches` ran. `on_queued(send_ids)` is called on each batch's
    commit with its new outbox rows (the send task's doorbell)."""
    result = Dispatched()
    hops: dict[int, int] = defaultdict(int)
    done = 0
    while batches is None or done < batches:
        with transaction.atomic():
            ids = claim_due(now=now)
            if not ids:
                break
            result.claimed += len(ids)
            looping = [i for i in ids if hops[i] >= MAX_HOPS]
            if looping:
                Enrolment.objects.filter(pk__in=looping).update(due_at=now + PARKED)
                result.parked += len(looping)
            work = [i for i in ids if hops[i] < MAX_HOPS]
            for i in work:
                hops[i] += 1
            queued = _run_steps(work, now=now, result=result)
            result.queued += queued
            if queued and on_queued is not None:
                transaction.on_commit(lambda q=queued: on_queued(q))
        done += 1
    return result


def _run_steps(ids: list[int], *, now: datetime, result: Dispatched) -> list[int]:
    enrolments = list(
        Enrolment.objects.filter(pk__in=ids).select_related("step", "lead").order_by("pk")
    )
    by_step: dict[int | None, list[Enrolment]] = defaultdict(list)
    for enrolment in enrolments:
        by_step[enrolment.step_id].append(enrolment)
    steps = {s.pk: s for s in (e.step for e in enrolments) if s is not None}
    following = _following(steps.values())
    queued: list[int] = []
    entries: list[Entry] = []
    finished: list[int] = []
    for step_id, group in by_step.items():
        step = steps.get(step_id)
        if step is None:  # the track ended (or its last step was removed)
            finished += [e.lead_id for e in group]
            continue
        after = following.get(step.pk)
        if step.kind == Step.Kind.WAIT:
            _wait(step, group, after, now=now)
            entries += [_entry(e, step, now, {"until": "later"}) for e in group]
        elif step.kind == Step.Kind.EMAIL:
            queued += _queue_email(step, group, now=now)
            _advance(group, after, now)
            entries += [_entry(e, step, now, {"template": step.template_id}) for e in group]
        elif step.kind == Step.Kind.BRANCH:
            passed = _branch_passes(step, group, now=now)
            yes = [e for e in group if e.pk in passed]
            no = [e for e in group if e.pk not in passed]
            _advance(yes, step.then_step or after, now)
            _advance(no, step.else_step or after, now)
            entries += [_entry(e, step, now, {"outcome": e.pk in passed}) for e in group]
        else:  # exit
            result.exited += exit_tracks(
                lead_ids=[e.lead_id for e in group],
                reason=Enrolment.Exit.EXIT_STEP,
                now=now,
                cancel_queued=False,
            )
    if finished:
        result.completed += exit_tracks(
            lead_ids=finished, reason=Enrolment.Exit.COMPLETED, now=now, cancel_queued=False
        )
    if entries:
        record_activities(entries, now=now)
    return queued


def _entry(enrolment: Enrolment, step: Step, now: datetime, data: dict) -> Entry:
    return Entry(
        enrolment.lead_id,
        STEP,
        now,
        None,
        {"track": enrolment.track_id, "step": step.pk, "kind": step.kind, **data},
    )


def _following(steps) -> dict[int, Step | None]:
    """Each step's next step in its track's order (None: the track ends there)."""
    tracks = {s.track_id for s in steps}
    ordered: dict[int, list[Step]] = defaultdict(list)
    for s in Step.objects.filter(track_id__in=tracks).order_by("track_id", "position"):
        ordered[s.track_id].append(s)
    nxt: dict[int, Step | None] = {}
    for items in ordered.values():
        for a, b in zip(items, [*items[1:], None], strict=True):
            nxt[a.pk] = b
    return nxt


def _advance(group: list[Enrolment], to: Step | None, due: datetime) -> None:
    if group:
        Enrolment.objects.filter(pk__in=[e.pk for e in group]).update(step=to, due_at=due)


def calendar_of(lead: Lead) -> business_time.Calendar:
    """The lead's business calendar: its time zone, else its country's, else the
    default; weekdays in NURTURE_HOURS, its country's public holidays off."""
    return business_time.for_place(
        time_zone=lead.time_zone,
        country=lead.country,
        default_time_zone=settings.NURTURE_DEFAULT_TIME_ZONE,
    )


def _wait(step: Step, group: list[Enrolment], after: Step | None, *, now: datetime) -> None:
    if step.unit == Step.Unit.HOURS:
        _advance(group, after, now + timedelta(hours=step.amount))
        return
    if not step.business_days:
        _advance(group, after, now + timedelta(days=step.amount))
        return
    by_due: dict[datetime, list[Enrolment]] = defaultdict(list)
    calendars: dict[tuple[str, str], datetime] = {}
    for enrolment in group:
        place = (enrolment.lead.time_zone, enrolment.lead.country)
        if place not in calendars:
            calendar = calendar_of(enrolment.lead)
            calendars[place] = business_time.add_days(calendar, now, step.amount)
        by_due[calendars[place]].append(enrolment)
    for due, members in by_due.items():
        _advance(members, after, due)


def _queue_email(step: Step, group: list[Enrolment], *, now: datetime) -> list[int]:
    """One outbox row per enrolment for this step (none when it exists already: a pass
    that ran before); the new rows' ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO nurturing_send
                (enrolment_id, step_id, step_key, lead_id, track_id, template_id, message_id,
                 status, not_before, deferred, deferrals, capped, tries, last_error,
                 skip_reason, to_email, subject, created_at)
            SELECT e.id, %s, %s, e.lead_id, e.track_id, %s,
                   '<' || md5(random()::text || clock_timestamp()::text || e.id::text)
                       || '.' || e.id || '@leadflow>',
                   'queued', %s, '', 0, false, 0, '', '', '', '', %s
            FROM nurturing_enrolment e WHERE {among("e.id")}
            ORDER BY e.id
            ON CONFLICT (enrolment_id, step_key) DO NOTHING
            RETURNING id
            """,
            [step.pk, step.pk, step.template_id, now, now, [e.pk for e in group]],
        )
        return [row[0] for row in cursor.fetchall()]


def _branch_passes(step: Step, group: list[Enrolment], *, now: datetime) -> set[int]:
    """The enrolments of `group` for which the branch's test holds as of `now`."""
    ids = [e.pk for e in group]
    test = step.test
    if test in (Step.Test.OPENED, Step.Test.CLICKED):
        column = "opened_at" if test == Step.Test.OPENED else "clicked_at"
        sql = f"""
            SELECT e.id FROM nurturing_enrolment e
            JOIN LATERAL (SELECT s.sent_at, s.{column} AS at FROM nurturing_send s
                          WHERE s.enrolment_id = e.id AND s.status = 'sent'
                          ORDER BY s.sent_at DESC, s.id DESC LIMIT 1) last ON true
            WHERE {among("e.id")} AND last.at IS NOT NULL
              AND last.at <= last.sent_at + make_interval(days => %s) AND last.at <= %s
        """
        params = [ids, step.within_days, now]
    elif test == Step.Test.ENGAGEMENT:
        sql = f"""SELECT e.id FROM nurturing_enrolment e JOIN leads_lead l ON l.id = e.lead_id
                 WHERE {among("e.id")} AND l.engagement >= %s"""
        params = [ids, step.min_engagement]
    elif test == Step.Test.GRADE:
        grades = list(GRADE_ORDER[: GRADE_ORDER.index(step.min_grade) + 1])
        sql = f"""SELECT e.id FROM nurturing_enrolment e JOIN leads_lead l ON l.id = e.lead_id
                 WHERE {among("e.id")} AND l.grade = ANY(%s)"""
        params = [ids, grades]
    else:
        sql = f"""SELECT e.id FROM nurturing_enrolment e WHERE {among("e.id")} AND EXISTS (
                     SELECT 1 FROM leads_activity a WHERE a.lead_id = e.lead_id
                     AND a.kind = %s AND a.occurred_at >= e.enrolled_at AND a.occurred_at <= %s)"""
        params = [ids, step.event_type, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}
