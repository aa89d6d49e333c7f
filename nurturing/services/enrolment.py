"""Who is in which track: enrolment (by the rules, set-based, or by hand) and exits.

A lead is in at most one track at a time (the partial unique index
`one_active_enrolment_per_lead` decides races). Enrolling moves a `new` lead to
`nurturing` through the stage machine. Eligibility is a state, so the tick can
reconcile any reaction a crash lost: a lead in `new` or `nurturing`, in no handoff, with
no enrolment since it last entered its stage, enters the track the first matching rule
names — or, when it was recycled (back to nurturing from a later stage), the recycle
track first.
"""

# SQL here is assembled from this module's fragments and compiled conditions; every
# value travels as a parameter.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from leads.exceptions import LeadFlowError
from leads.idsets import among, listed
from leads.models import Lead, Stage
from leads.services.stages import Mover, move_stages
from leads.services.timeline import Entry, record_activities
from nurturing.models import Enrolment, EnrolmentRule, Send, Track
from scoring.conditions import DefinitionError, Sql, compile_condition

ENROLLED = "nurture_enrolled"
EXITED = "nurture_exited"
# Stages a recycled lead came back from (to nurturing).
RECYCLED_FROM = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.LOST, Stage.DISQUALIFIED)

_ELIGIBLE = """
    l.merged_into_id IS NULL AND l.erased_at IS NULL AND NOT l.in_handoff
    AND l.stage IN ('new', 'nurturing')
    AND NOT EXISTS (
        SELECT 1 FROM nurturing_enrolment e
        WHERE e.lead_id = l.id AND (e.status = 'active' OR e.enrolled_at >= coalesce(
            (SELECT max(s.changed_at) FROM leads_stagechange s
             WHERE s.lead_id = l.id AND s.to_stage = l.stage), l.created_at)))
"""
_RECYCLED = """
    l.stage = 'nurturing' AND (
        SELECT s.from_stage FROM leads_stagechange s
        WHERE s.lead_id = l.id AND s.to_stage = 'nurturing'
        ORDER BY s.changed_at DESC, s.id DESC LIMIT 1) = ANY(%s)
"""


@dataclass(frozen=True)
class Choice:
    """One way into a track: SQL over the lead row `l`, the track, and the rule (None for
    the recycle track)."""

    sql: Sql
    track_id: int
    rule_id: int | None


def _choices(now: datetime) -> list[Choice]:
    """The ways in, in the order they are tried: the recycle track (for recycled leads),
    then each active rule of an active track."""
    choices = []
    recycle = Track.objects.filter(recycle=True, active=True).first()
    if recycle is not None:
        choices.append(Choice(Sql(_RECYCLED, [[s.value for s in RECYCLED_FROM]]), recycle.pk, None))
    for rule in EnrolmentRule.objects.filter(active=True, track__active=True).order_by(
        "position", "id"
    ):
        parts, params = [], []
        if rule.source:
            parts.append("l.source = %s")
            params.append(rule.source)
        if rule.campaign_id:
            parts.append("(l.campaign_id = %s OR l.latest_campaign_id = %s)")
            params += [rule.campaign_id, rule.campaign_id]
        if rule.condition:
            try:
                condition = compile_condition(rule.condition, now=now, what="The condition")
            except DefinitionError:
                continue  # e.g. its custom field was deleted since: the rule matches none
            parts.append(condition.text)
            params += condition.params
        if rule.consent_required:
            parts.append("l.consent_status = 'granted'")
        if parts:
            choices.append(Choice(Sql(" AND ".join(parts), params), rule.track_id, rule.pk))
    return choices


def enrol_by_rules(*, now: datetime, lead_ids: list[int] | None = None, since=None) -> list[int]:
    """Enrol every eligible lead (of `lead_ids`, or changed since `since`, or all) in the
    track its rules choose, in one statement; the enrolled leads' ids."""
    choices = _choices(now)
    if not choices:
        return []
    track_case = " ".join(f"WHEN {c.sql.text} THEN {int(c.track_id)}" for c in choices)
    rule_case = " ".join(
        f"WHEN {c.sql.text} THEN {int(c.rule_id) if c.rule_id else 'NULL'}" for c in choices
    )
    params = [p for c in choices for p in c.sql.params] * 2
    scope, scope_params = "", []
    if lead_ids is not None:
        scope, scope_params = f"AND {among('l.id')}", [list(lead_ids)]
    elif since is not None:
        scope, scope_params = "AND l.updated_at >= %s", [since]
    sql = f"""
        WITH chosen AS (
            SELECT l.id, CASE {track_case} END AS track_id, CASE {rule_case} END AS rule_id
            FROM leads_lead l WHERE {_ELIGIBLE} {scope}
        )
        INSERT INTO nurturing_enrolment
            (lead_id, track_id, rule_id, status, step_id, due_at, enrolled_at, exit_reason)
        SELECT c.id, c.track_id, c.rule_id, 'active',
               (SELECT s.id FROM nurturing_step s WHERE s.track_id = c.track_id
                ORDER BY s.position LIMIT 1), %s, %s, ''
        FROM chosen c WHERE c.track_id IS NOT NULL
        ORDER BY c.id
        ON CONFLICT (lead_id) WHERE status = 'active' DO NOTHING
        RETURNING lead_id, track_id
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [*params, *scope_params, now, now])
        rows = cursor.fetchall()
        _after_enrolling(rows, by=None, now=now)
    return [lead_id for lead_id, _ in rows]


def _after_enrolling(rows: list[tuple[int, int]], *, by, now: datetime) -> None:
    """New enrolments' consequences: `new` leads move to `nurturing`, and each lead's
    timeline says which track it entered."""
    if not rows:
        return
    names = dict(Track.objects.filter(pk__in={t for _, t in rows}).values_list("pk", "name"))
    ids = [lead_id for lead_id, _ in rows]
    move_stages(
        select=(
            f"SELECT id, NULL::text AS reason FROM leads_lead WHERE {listed('id')} "
            "AND stage = 'new'",
            [ids],
        ),
        to_stage=Stage.NURTURING,
        now=now,
        by=by,
        mover=Mover.PERSON if by is not None else Mover.AUTOMATIC,
    )
    record_activities(
        [
            Entry(
                lead_id,
                ENROLLED,
                now,
                None,
                {"track": track_id, "name": names.get(track_id, "")},
                getattr(by, "pk", None),
            )
            for lead_id, track_id in rows
        ],
        now=now,
    )


def enrol(*, lead_id: int, track_id: int, now: datetime, by=None) -> Enrolment:
    """Put one lead in a track by hand (a LeadFlowError when it is in one already, or
    cannot be nurtured: merged, in a handoff, past MQL)."""
    return _enrol_selected(lead_ids=[lead_id], track_id=track_id, now=now, by=by, one=True)[0]


def enrol_leads(*, leads, track_id: int, now: datetime, by) -> int:
    """Bulk enrolment from the lead list (a selection or every lead matching the filter),
    set-based: leads already in a track, or that cannot be nurtured, are left out."""
    ids = list(leads.values_list("pk", flat=True))
    return len(_enrol_selected(lead_ids=ids, track_id=track_id, now=now, by=by))


def _enrol_selected(*, lead_ids, track_id: int, now: datetime, by, one: bool = False):
    track = Track.objects.filter(pk=track_id).first()
    if track is None:
        raise LeadFlowError("No such track.", field="track")
    if not track.steps.exists():
        raise LeadFlowError("The track has no steps yet.", field="track")
    if one:
        lead = Lead.objects.filter(pk=lead_ids[0]).first()
        if lead is None:
            raise Lead.DoesNotExist("No such lead.")
        active = Enrolment.objects.filter(lead=lead, status="active").select_related("track")
        if active.exists():
            raise LeadFlowError(
                f"The lead is in the track “{active[0].track.name}” already.", field="track"
            )
        if lead.in_handoff or lead.stage not in (Stage.NEW, Stage.NURTURING):
            raise LeadFlowError(
                f"A lead that is {lead.get_stage_display()} is not nurtured.", field="track"
            )
    sql = f"""
        INSERT INTO nurturing_enrolment
            (lead_id, track_id, rule_id, status, step_id, due_at, enrolled_at, exit_reason)
        SELECT l.id, %s, NULL, 'active',
               (SELECT s.id FROM nurturing_step s WHERE s.track_id = %s
                ORDER BY s.position LIMIT 1), %s, %s, ''
        FROM leads_lead l
        WHERE {among("l.id")} AND l.merged_into_id IS NULL AND l.erased_at IS NULL
          AND NOT l.in_handoff
          AND l.stage IN ('new', 'nurturing')
        ORDER BY l.id
        ON CONFLICT (lead_id) WHERE status = 'active' DO NOTHING
        RETURNING id, lead_id, track_id
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [track.pk, track.pk, now, now, list(lead_ids)])
        rows = cursor.fetchall()
        if one and not rows:
            raise LeadFlowError("The lead entered a track meanwhile.", field="track")
        _after_enrolling([(lead, t) for _, lead, t in rows], by=by, now=now)
    return list(Enrolment.objects.filter(pk__in=[r[0] for r in rows]).order_by("pk"))


def exit_tracks(
    *, lead_ids: list[int], reason: str, now: datetime, by=None, cancel_queued: bool = True
) -> int:
    """End the leads' active enrolments (for `reason`, an Enrolment.Exit), cancel their
    queued emails, and say so on each timeline; how many left a track."""
    if reason not in Enrolment.Exit.values:
        raise ValueError(f"unknown exit reason {reason!r}")
    if not lead_ids:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE nurturing_enrolment SET status = %s, exited_at = %s, exit_reason = %s,
                       due_at = NULL
                WHERE {among("lead_id")} AND status = 'active'
                RETURNING id, lead_id, track_id
                """,
                [
                    Enrolment.Status.COMPLETED
                    if reason == Enrolment.Exit.COMPLETED
                    else Enrolment.Status.EXITED,
                    now,
                    reason,
                    list(lead_ids),
                ],
            )
            rows = cursor.fetchall()
        if not rows:
            return 0
        if cancel_queued:
            Send.objects.filter(enrolment_id__in=[r[0] for r in rows], status="queued").update(
                status=Send.Status.SKIPPED, skip_reason="The lead left the track.", lease_until=None
            )
        names = dict(Track.objects.filter(pk__in={r[2] for r in rows}).values_list("pk", "name"))
        label = Enrolment.Exit(reason).label
        record_activities(
            [
                Entry(
                    lead_id,
                    EXITED,
                    now,
                    None,
                    {
                        "track": track_id,
                        "name": names.get(track_id, ""),
                        "reason": reason,
                        "label": label,
                    },
                    getattr(by, "pk", None),
                )
                for _, lead_id, track_id in rows
            ],
            now=now,
        )
    return len(rows)


# Why an active enrolment's lead may no longer be nurtured, in the order checked.
_STALE = [
    ("l.merged_into_id IS NOT NULL", Enrolment.Exit.MERGED),
    ("l.stage = 'mql'", Enrolment.Exit.MQL),
    ("l.in_handoff OR l.stage IN ('sal', 'sql', 'opportunity', 'won')", Enrolment.Exit.HANDOFF),
    ("l.stage IN ('disqualified', 'lost')", Enrolment.Exit.DISQUALIFIED),
    ("l.consent_status IN ('withdrawn', 'denied')", Enrolment.Exit.CONSENT),
]


def exit_stale(*, now: datetime) -> int:
    """End every active enrolment whose lead may no longer be nurtured (an exit reaction a
    crash lost, or a change made with announcements muted); how many ended."""
    cases = " ".join(f"WHEN {test} THEN '{reason.value}'" for test, reason in _STALE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT CASE {cases} END AS reason, array_agg(e.lead_id ORDER BY e.lead_id)
            FROM nurturing_enrolment e JOIN leads_lead l ON l.id = e.lead_id
            WHERE e.status = 'active' AND ({" OR ".join(f"({t})" for t, _ in _STALE)})
            GROUP BY 1
            """
        )
        groups = cursor.fetchall()
    return sum(exit_tracks(lead_ids=ids, reason=reason, now=now) for reason, ids in groups)
