"""The stage machine: the one owner of funnel moves (DESIGN.md "Stages").

`MOVES` is the table of allowed moves between the contract's stages; `check_move`
says whether one move is allowed for who is making it (a person, an automatic rule,
or handoff's services) and why not; `move_stage` moves one lead and `move_stages`
many, set-based. Every writer — the lead page, `PATCH /api/v1/leads/{id}/`, bulk
actions, scoring's MQL and disqualification rules, the demo data — goes through them,
so a move the table refuses cannot happen anywhere; a new lead's first stage is written
through `first_stages_sql` (capture, import). Each move writes a `StageChange`
(from, to, when, who, why) and announces `stage_changed`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from leads import hooks, roles
from leads.exceptions import InvalidTransition, LeadFlowError
from leads.idsets import listed
from leads.models import Lead, Stage, StageChange
from leads.services.bulk import target_ids

S = Stage

# Allowed moves (forward along the funnel; back to nurturing as a recycle; to
# disqualified before a deal; out of disqualified only by a person).
MOVES: dict[str, tuple[str, ...]] = {
    S.NEW: (S.NURTURING, S.MQL, S.DISQUALIFIED),
    S.NURTURING: (S.MQL, S.DISQUALIFIED),
    S.MQL: (S.SAL, S.NURTURING, S.DISQUALIFIED),
    S.SAL: (S.SQL, S.NURTURING, S.LOST, S.DISQUALIFIED),
    S.SQL: (S.OPPORTUNITY, S.NURTURING, S.LOST),
    S.OPPORTUNITY: (S.WON, S.LOST),
    S.WON: (),
    S.LOST: (S.NURTURING,),
    S.DISQUALIFIED: (S.NEW, S.NURTURING),
}
# What a new lead may be created as (capture with a `stage`).
INITIAL = (S.NEW, S.NURTURING)
# From `sal` on, leads belong to sales: moves into or out of these come from handoff's
# services (accept, outcome); a manager or marketer may still move by hand, with a reason.
RESERVED = frozenset({S.SAL, S.SQL, S.OPPORTUNITY, S.WON, S.LOST})
# The only moves an automatic rule (scoring) makes, and only for a lead in no handoff.
AUTOMATIC = frozenset(
    {
        (S.NEW, S.NURTURING),
        (S.NEW, S.MQL),
        (S.NURTURING, S.MQL),
        (S.MQL, S.NURTURING),
        (S.NEW, S.DISQUALIFIED),
        (S.NURTURING, S.DISQUALIFIED),
        (S.MQL, S.DISQUALIFIED),
    }
)
# A lead in these stages has a rep accountable for it.
NEEDS_OWNER = frozenset({S.SAL, S.SQL, S.OPPORTUNITY, S.WON})
# Moves that always say why: dropping out, recycling back, and reversing a disqualification.
_BACKWARD = frozenset(
    {(S.MQL, S.NURTURING), (S.SAL, S.NURTURING), (S.SQL, S.NURTURING), (S.LOST, S.NURTURING)}
)


class Mover(enum.Enum):
    """Who makes a move: a person by hand, an automatic rule, or handoff's services."""

    PERSON = "person"
    AUTOMATIC = "automatic"
    HANDOFF = "handoff"


def _label(stage: str) -> str:
    return Stage(stage).label if stage in Stage.values else repr(stage)


def check_initial(stage: str) -> None:
    """A new lead starts as New or Nurturing; any later stage is reached by moves."""
    if stage not in INITIAL:
        raise InvalidTransition(
            f"A new lead starts as New or Nurturing, not {_label(stage)}.", field="stage"
        )


def first_stages_sql(source: str, *, lead_id: str = "id", stage: str = "%s") -> str:
    """The statement that records new leads' first stage ("" → `stage`, an SQL
    expression: a placeholder, a constant or a column of `source`) for every row of
    `source` (a table or a CTE): capture and import insert leads set-based and write
    their first stage beside them, through this — the stage machine stays the one writer
    of stage history. Its parameters, after `stage`'s if that is a placeholder:
    changed_at, changed_by_id, reason. Check the stage with `check_initial`."""
    # `source`, `lead_id` and `stage` are SQL of the callers' own statements, never input.
    return (
        "INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, "  # noqa: S608
        f"changed_by_id, reason) SELECT {lead_id}, '', {stage}, %s, %s, %s FROM {source}"
    )


def needs_reason(from_stage: str, to_stage: str, mover: Mover) -> bool:
    if to_stage in (S.DISQUALIFIED, S.LOST) or from_stage == S.DISQUALIFIED:
        return True
    if (from_stage, to_stage) in _BACKWARD:
        return True
    reserved = from_stage in RESERVED or to_stage in RESERVED
    return mover is Mover.PERSON and reserved


def refusal(
    from_stage: str,
    to_stage: str,
    *,
    mover: Mover,
    by=None,
    has_owner: bool = True,
    in_handoff: bool = False,
) -> str | None:
    """Why this move is refused, in words; None when the table allows it for `mover`.
    (A missing reason is not a refusal: see `needs_reason`.)"""
    if from_stage == to_stage:
        return f"The lead is already {_label(to_stage)}."
    if to_stage not in MOVES.get(from_stage, ()):
        return f"A lead cannot move from {_label(from_stage)} to {_label(to_stage)}."
    if mover is Mover.AUTOMATIC:
        if (from_stage, to_stage) not in AUTOMATIC:
            return f"Only a person may move a lead from {_label(from_stage)}."
        if in_handoff:
            return "The lead is in a handoff: only the handoff or a person may move it."
    if mover is Mover.PERSON:
        reserved = from_stage in RESERVED or to_stage in RESERVED
        if reserved and not roles.can_move_sales_stages(by):
            return (
                f"Moves from SAL on come from the handoff (accept, contact, outcome); "
                f"only a manager or marketer may move {_label(from_stage)} → "
                f"{_label(to_stage)} by hand."
            )
    if to_stage in NEEDS_OWNER and not has_owner:
        return f"A lead needs an owner to be {_label(to_stage)}."
    return None


def _who(by, mover: Mover | None) -> Mover:
    """A person when `by` is given, else an automatic rule, unless `mover` says."""
    return mover or (Mover.PERSON if by is not None else Mover.AUTOMATIC)


def _lead_refusal(lead: Lead, to_stage: str, mover: Mover, by) -> str | None:
    has_owner, in_handoff = lead.owner_id is not None, lead.in_handoff
    return refusal(lead.stage, to_stage, mover=mover, by=by, has_owner=has_owner,
                   in_handoff=in_handoff)  # fmt: skip


def allowed_moves(lead: Lead, *, by=None, mover: Mover | None = None) -> list[str]:
    """The stages `lead` may move to now, for `by` (a person) or `mover`."""
    mover = _who(by, mover)
    return [to for to in MOVES.get(lead.stage, ()) if _lead_refusal(lead, to, mover, by) is None]


def _refused(lead: Lead, to_stage: str, message: str, allowed: list[str]) -> InvalidTransition:
    names = ", ".join(allowed) if allowed else "none"
    return InvalidTransition(
        f"{message} Allowed moves from {lead.stage}: {names}.", field="stage", allowed=allowed
    )


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if "\x00" in text:
        raise LeadFlowError("The reason cannot contain NUL characters.", field="stage_reason")
    return text[:500]


def move_stage(
    *,
    lead_id: int,
    to_stage: str,
    by=None,
    reason: str = "",
    now: datetime,
    mover: Mover | None = None,
) -> Lead:
    """Move one lead to `to_stage` if the stage machine allows it for who moves it
    (`mover`: a person when `by` is given, else an automatic rule); records the
    transition and announces `stage_changed`. A refused move raises InvalidTransition
    (409) naming the allowed moves; a move that needs a reason and has none, a 400."""
    if to_stage not in Stage.values:
        raise LeadFlowError(f"{to_stage!r} is not a stage.", field="stage")
    mover = _who(by, mover)
    reason = _reason(reason)
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.erased_at is not None:
            raise InvalidTransition("This person was erased: their lead moves no more.")
        message = _lead_refusal(lead, to_stage, mover, by)
        if message:
            raise _refused(lead, to_stage, message, allowed_moves(lead, by=by, mover=mover))
        if not reason and needs_reason(lead.stage, to_stage, mover):
            raise LeadFlowError(
                f"Say why the lead moves from {_label(lead.stage)} to {_label(to_stage)}.",
                field="stage_reason",
            )
        from_stage = lead.stage
        StageChange.objects.create(
            lead=lead,
            from_stage=from_stage,
            to_stage=to_stage,
            changed_at=now,
            changed_by=by,
            reason=reason,
        )
        lead.stage = to_stage
        lead.save(update_fields=["stage", "updated_at"])
        hooks.announce(
            "stage_changed", lead_ids=[lead.pk], from_stage=from_stage, to_stage=to_stage, now=now
        )
    return lead


@dataclass
class Moved:
    """What a set-based move did: how many leads moved from each stage, and how many of
    those asked for could not move (already there, or the machine refused)."""

    from_stages: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    ids: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.from_stages.values())


def movable_from(to_stage: str, mover: Mover, by=None, reason: str = "why") -> list[str]:
    """The stages from which `mover` may move leads to `to_stage` (with a reason, unless
    `reason` is empty): what set-based moves and scoring's rules select on."""
    return [
        stage
        for stage in Stage.values
        if refusal(stage, to_stage, mover=mover, by=by) is None
        and (reason or not needs_reason(stage, to_stage, mover))
    ]


def always_needs_reason(to_stage: str, mover: Mover, by=None) -> bool:
    """Whether every move `mover` may make to `to_stage` must say why (e.g. disqualifying)."""
    froms = movable_from(to_stage, mover, by)
    return bool(froms) and all(needs_reason(stage, to_stage, mover) for stage in froms)


def move_stages(
    *,
    to_stage: str,
    now: datetime,
    leads=None,
    select: tuple[str, list] | None = None,
    by=None,
    reason: str | None = "",
    mover: Mover | None = None,
) -> Moved:
    """Move many leads to `to_stage`, set-based, each only where `move_stage` would
    allow it (the rest are counted as refused). The leads are a queryset (`leads`: a
    selection or a whole filter) or SQL (`select`: text and parameters returning `id`
    and, when `reason` is None, a per-lead `reason`). The leads are read, then locked by
    id and their stage re-checked under the lock, so a move that raced another is
    skipped, never doubled; every move is a StageChange and one `stage_changed` is
    announced per from-stage.

    Each statement names the leads by id (`leads.idsets.listed`) and reads `leads_lead`
    once, so no plan depends on what the table's statistics say (leads.services.bulk)."""
    if to_stage not in Stage.values:
        raise LeadFlowError(f"{to_stage!r} is not a stage.", field="stage")
    mover = _who(by, mover)
    per_lead_reason = reason is None
    reason = "" if per_lead_reason else _reason(reason)
    if (leads is None) == (select is None):
        raise ValueError("move_stages takes either `leads` or `select`")
    if leads is not None:
        reasons: dict[int, str | None] = dict.fromkeys(target_ids(leads))
        if not reasons:
            return Moved()
    if not per_lead_reason and not reason and always_needs_reason(to_stage, mover, by):
        raise LeadFlowError(
            f"Say why the leads move to {_label(to_stage)}; nothing was changed.",
            field="stage_reason",
        )
    given = reason or ("per lead" if per_lead_reason else "")
    from_stages = movable_from(to_stage, mover, by, given)
    conditions = ["stage = ANY(%s)"]
    if to_stage in NEEDS_OWNER:
        conditions.append("owner_id IS NOT NULL")
    if mover is Mover.AUTOMATIC:
        conditions.append("NOT in_handoff")
    result = Moved()
    with transaction.atomic(), connection.cursor() as cursor:
        if select is not None:
            # `select` is SQL a service assembled, never user text.
            cursor.execute(*select)
            reasons = {}
            for lead_id, why in cursor.fetchall():
                reasons.setdefault(lead_id, why)
        cursor.execute(
            f"""
                SELECT id, stage FROM leads_lead
                WHERE {listed("id")} AND merged_into_id IS NULL AND erased_at IS NULL
                ORDER BY id FOR UPDATE
            """,  # noqa: S608 - listed() is SQL of leads.idsets; values are parameters
            [list(reasons)],
        )
        was = dict(cursor.fetchall())
        moved = _move_locked(cursor, list(was), to_stage, now, conditions, from_stages)
        history = [(lead_id, was[lead_id], reasons[lead_id]) for lead_id in moved]
        if history:
            columns = [list(column) for column in zip(*history, strict=True)]
            cursor.execute(
                """
                    INSERT INTO leads_stagechange
                        (lead_id, from_stage, to_stage, changed_at, changed_by_id, reason)
                    SELECT id, from_stage, %s, %s, %s, left(coalesce(%s, reason, ''), 500)
                    FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS m(id, from_stage, reason)
                """,
                [to_stage, now, getattr(by, "pk", None), None if per_lead_reason else reason,
                 *columns],
            )  # fmt: skip
        for from_stage in sorted({stage for _, stage, _ in history}):
            ids = [lead_id for lead_id, stage, _ in history if stage == from_stage]
            result.from_stages[from_stage] = len(ids)
            result.ids += ids
            hooks.announce(
                "stage_changed", lead_ids=ids, from_stage=from_stage, to_stage=to_stage, now=now
            )
        result.refused = len(was) - result.count
    return result


def _move_locked(cursor, ids, to_stage, now, conditions, from_stages) -> list[int]:
    """Move the locked leads `ids` that meet `conditions`; the ids moved, in order."""
    if not ids:
        return []
    cursor.execute(
        f"""
            UPDATE leads_lead SET stage = %s, updated_at = %s
            WHERE {listed("id")} AND {" AND ".join(conditions)} RETURNING id
        """,  # noqa: S608 - conditions are this module's SQL; values are parameters
        [to_stage, now, ids, from_stages],
    )
    return sorted(row[0] for row in cursor.fetchall())


def bulk_move_stage(*, leads, to_stage: str, by, reason: str, now: datetime) -> int:
    """A person's bulk action: move the leads of the queryset (those the machine
    allows); returns how many moved."""
    return move_stages(leads=leads, to_stage=to_stage, by=by, reason=reason, now=now).count


def set_in_handoff(*, lead_ids: list[int], in_handoff: bool) -> int:
    """Mark leads as being in a handoff (or no longer): written by `handoff` only, read
    by the stage machine so automatic rules leave those leads alone."""
    return (
        Lead.objects.filter(pk__in=lead_ids)
        .exclude(in_handoff=in_handoff)
        .update(in_handoff=in_handoff)
    )
