"""What reps and managers do with a handoff, one function per transition: accept (or
claim from the team queue), reject with a reason code, log the first contact, record
the outcome, reassign. Each checks the handoff's state under its row lock, moves the
lead through the stage machine (as handoff) and writes the timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q

from handoff.models import Handoff
from handoff.services import routing
from handoff.services.calendars import business_seconds, deadline, policy_of, warning_at
from leads import roles
from leads.exceptions import InvalidTransition, LeadFlowError
from leads.models import Lead, Stage
from leads.services.merges import report_duplicate
from leads.services.ownership import bulk_assign_owner
from leads.services.stages import Mover, move_stage, set_in_handoff
from leads.services.timeline import log_touch, record_activity

ACCEPTED, REJECTED, OUTCOME = "handoff_accepted", "handoff_rejected", "handoff_outcome"
# Where a rejected lead goes, and the reason the stage history records.
REJECT_TO = {
    Handoff.Reason.BAD_FIT: Stage.DISQUALIFIED,
    Handoff.Reason.NOT_READY: Stage.NURTURING,
    Handoff.Reason.CANT_REACH: Stage.NURTURING,
    Handoff.Reason.DUPLICATE: Stage.DISQUALIFIED,
    Handoff.Reason.WRONG_TERRITORY: None,  # re-routed to another team
}
# Rejections saying the lead is no buyer: outcomes the predictive model learns from (a
# condition over the lead row `l`, registered with scoring.outcomes in apps.py).
NOT_A_BUYER_SQL = (
    "EXISTS (SELECT 1 FROM handoff_handoff h WHERE h.lead_id = l.id AND h.status = 'rejected' "
    "AND h.reject_reason IN ('bad_fit', 'not_ready', 'cant_reach'))"
)
OUTCOMES = (Stage.SQL, Stage.OPPORTUNITY, Stage.WON, Stage.LOST)
CONTACT_KINDS = ("call", "email", "meeting")


def visible_handoffs(user):
    """The handoffs `user` may see and act on: a rep their own and their teams' queue, a
    manager their teams', marketing and admins all."""
    qs = Handoff.objects.all()
    if roles.sees_all_leads(user):
        return qs
    groups = roles.group_names(user)
    scope = Q(rep=user) | Q(rep__isnull=True, team__members=user)
    if roles.MANAGER in groups:
        scope |= Q(team__managers=user)
    return qs.filter(scope).distinct() if groups & {roles.SALES, roles.MANAGER} else qs.none()


def _locked(handoff_id: int, by) -> Handoff:
    if not visible_handoffs(by).filter(pk=handoff_id).exists():
        raise Handoff.DoesNotExist("No such handoff.")
    return (
        Handoff.objects.select_for_update(of=("self",))
        .select_related("team", "rep")
        .get(pk=handoff_id)
    )


def _holder(handoff: Handoff) -> str:
    rep = handoff.rep
    return (rep.get_full_name() or rep.username) if rep else "the team queue"


def _may_act(handoff: Handoff, by) -> None:
    """A rep acts on their own handoff (or claims one from their team's queue); a manager
    on their teams'; marketing and admins on any."""
    if handoff.rep_id == by.pk or roles.sees_all_leads(by):
        return
    if handoff.rep_id is None and handoff.team.members.filter(pk=by.pk).exists():
        return
    if handoff.team.managers.filter(pk=by.pk).exists():
        return
    raise InvalidTransition(
        f"This handoff is {_holder(handoff)}'s.",
        field="status",
        holder=getattr(handoff.rep, "username", None),
    )


def accept_handoff(*, handoff_id: int, by, now: datetime) -> Handoff:
    """Accept a pending handoff (claiming it when it waits in the team queue): the lead
    moves to SAL and the first-contact deadline starts. A second accept is a 409 saying
    who has it."""
    with transaction.atomic():
        handoff = _locked(handoff_id, by)
        if handoff.status != Handoff.Status.PENDING:
            raise InvalidTransition(
                f"This handoff is {handoff.get_status_display().lower()} already "
                f"({_holder(handoff)}).",
                field="status",
                holder=getattr(handoff.rep, "username", None),
            )
        _may_act(handoff, by)
        if handoff.rep_id is None:  # claimed from the team queue
            handoff.rep = by
            bulk_assign_owner(
                leads=Lead.objects.filter(pk=handoff.lead_id), owner=by, by=None, now=now
            )
        policy = policy_of(handoff.team_id)
        handoff.status, handoff.accepted_at = Handoff.Status.ACCEPTED, now
        handoff.accept_business_seconds = business_seconds(policy, handoff.created_at, now)
        handoff.contact_by = deadline(policy, now, policy.contact_hours)
        handoff.warn_at, handoff.warnings = warning_at(policy, now, handoff.contact_by, 0), 0
        handoff.escalate_at = None
        handoff.save()
        move_stage(
            lead_id=handoff.lead_id,
            to_stage=Stage.SAL,
            by=by,
            now=now,
            mover=Mover.HANDOFF,
            reason="Accepted the handoff",
        )
        record_activity(
            lead_id=handoff.lead_id,
            kind=ACCEPTED,
            occurred_at=now,
            now=now,
            by=by,
            data={"handoff": handoff.pk},
        )
    return handoff


def reject_handoff(*, handoff_id: int, reason: str, by, now: datetime, note: str = "") -> Handoff:
    """Reject with a reason code (required): bad fit → disqualified; not ready or can't
    reach → back to nurturing (re-enrolled); duplicate → closed, the lead disqualified as
    a duplicate and shown on the duplicates page beside its likeliest match; wrong
    territory → routed to another team (refused when no other team takes the lead)."""
    if reason not in Handoff.Reason.values:
        raise LeadFlowError(f"Choose a reason: {', '.join(Handoff.Reason.values)}.", field="reason")
    note = (note or "").strip()[:2000]
    if "\x00" in note:
        raise LeadFlowError("The note cannot contain NUL characters.", field="note")
    label = Handoff.Reason(reason).label
    with transaction.atomic():
        handoff = _locked(handoff_id, by)
        if handoff.status not in (Handoff.Status.PENDING, Handoff.Status.ACCEPTED):
            raise InvalidTransition(
                f"This handoff is {handoff.get_status_display().lower()}.", field="status"
            )
        _may_act(handoff, by)
        if (
            reason == Handoff.Reason.WRONG_TERRITORY
            and routing.team_for(lead_id=handoff.lead_id, now=now, exclude_teams=(handoff.team_id,))
            is None
        ):
            # Re-routing would find no team, and the tick would give it back to this one.
            raise LeadFlowError(
                "No other team takes this lead: ask your manager to reassign it, or choose "
                "another reason.",
                field="reason",
            )
        handoff.status, handoff.closed_at = Handoff.Status.REJECTED, now
        handoff.reject_reason, handoff.note = reason, note
        handoff.warn_at = handoff.escalate_at = None
        handoff.save()
        set_in_handoff(lead_ids=[handoff.lead_id], in_handoff=False)
        record_activity(
            lead_id=handoff.lead_id,
            kind=REJECTED,
            occurred_at=now,
            now=now,
            by=by,
            data={"handoff": handoff.pk, "reason": reason, "label": label, "note": note},
        )
        why = f"Rejected by sales: {label}" + (f" ({note})" if note else "")
        to = REJECT_TO[reason]
        if to is not None:
            move_stage(
                lead_id=handoff.lead_id,
                to_stage=to,
                by=by,
                reason=why,
                now=now,
                mover=Mover.HANDOFF,
            )
            if reason == Handoff.Reason.DUPLICATE:  # shown beside its match on duplicates
                report_duplicate(lead_id=handoff.lead_id, by=by, now=now, note=note)
        else:
            routing.route(now=now, lead_ids=[handoff.lead_id], exclude_teams=(handoff.team_id,))
    return handoff


def log_contact(*, handoff_id: int, kind: str, by, now: datetime, note: str = "") -> Handoff:
    """Log a call, email or meeting with the lead (the first one meets the contact SLA)."""
    if kind not in CONTACT_KINDS:
        raise LeadFlowError("Log a call, an email or a meeting.", field="kind")
    with transaction.atomic():
        handoff = _locked(handoff_id, by)
        if handoff.status != Handoff.Status.ACCEPTED:
            raise InvalidTransition("Accept the handoff before logging contact.", field="status")
        _may_act(handoff, by)
        log_touch(
            lead_id=handoff.lead_id,
            kind=kind,
            body=note or f"{kind.title()} logged",
            by=by,
            now=now,
        )
        if handoff.contacted_at is None:
            handoff.contacted_at, handoff.warn_at = now, None
            handoff.contact_business_seconds = business_seconds(
                policy_of(handoff.team_id), handoff.accepted_at, now
            )
            handoff.save(update_fields=["contacted_at", "warn_at", "contact_business_seconds"])
    return handoff


def record_outcome(
    *,
    handoff_id: int,
    stage: str,
    by,
    now: datetime,
    amount=None,
    reason: str = "",
    expected_close=None,
) -> Handoff:
    """Progress the lead: SQL → opportunity (amount, expected close) → won (amount) or
    lost (reason). Won or lost closes the handoff."""
    if stage not in OUTCOMES:
        raise LeadFlowError("The outcome is sql, opportunity, won or lost.", field="stage")
    value = None
    if amount not in (None, ""):
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise LeadFlowError("Enter the amount as a number.", field="amount") from None
        if not value.is_finite() or value < 0 or value >= Decimal("1e12"):
            raise LeadFlowError("Enter an amount from 0 to 999,999,999,999.", field="amount")
        value = value.quantize(Decimal("0.01"))
    if stage == Stage.LOST and not (reason or "").strip():
        raise LeadFlowError("Say why the deal was lost.", field="reason")
    with transaction.atomic():
        handoff = _locked(handoff_id, by)
        if handoff.status != Handoff.Status.ACCEPTED:
            raise InvalidTransition("Only an accepted handoff has an outcome.", field="status")
        _may_act(handoff, by)
        move_stage(
            lead_id=handoff.lead_id,
            to_stage=stage,
            by=by,
            now=now,
            mover=Mover.HANDOFF,
            reason=(reason or "").strip()[:500],
        )
        if value is not None:
            handoff.amount = value
        if expected_close is not None:
            handoff.expected_close = expected_close
        if stage == Stage.LOST:
            handoff.lost_reason = reason.strip()[:200]
        if stage in (Stage.WON, Stage.LOST):
            handoff.status, handoff.closed_at, handoff.warn_at = Handoff.Status.CLOSED, now, None
            set_in_handoff(lead_ids=[handoff.lead_id], in_handoff=False)
        handoff.save()
        record_activity(
            lead_id=handoff.lead_id,
            kind=OUTCOME,
            occurred_at=now,
            now=now,
            by=by,
            data={
                "handoff": handoff.pk,
                "stage": stage,
                "amount": str(value) if value is not None else None,
            },
        )
    return handoff


def reassign_handoff(*, handoff_id: int, by, now: datetime, to=None) -> Handoff:
    """A manager gives a pending handoff to another rep of the team (`to`, or the next
    by routing)."""
    with transaction.atomic():
        handoff = _locked(handoff_id, by)
        if not (roles.sees_all_leads(by) or handoff.team.managers.filter(pk=by.pk).exists()):
            raise PermissionDenied("Only the team's manager reassigns handoffs.")
        if handoff.status != Handoff.Status.PENDING:
            raise InvalidTransition("Only a pending handoff can be reassigned.", field="status")
        if to is not None and not handoff.team.members.filter(pk=to.pk).exists():
            raise LeadFlowError(f"{to.username} is not in {handoff.team.name}.", field="rep")
        return routing.reassign(handoff=handoff, now=now, exclude_rep=handoff.rep, to=to)


def mark_notifications_read(*, user, now: datetime) -> int:
    """Mark every unread notice of `user` read; how many."""
    from handoff.models import Notification

    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=now)
