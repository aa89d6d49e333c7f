"""Funnel stage moves."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from leads.exceptions import InvalidTransition, LeadFlowError
from leads.models import Lead, Stage, StageChange
from leads.services.bulk import execute_on_targets


def move_stage(*, lead_id: int, to_stage: str, by=None, reason: str = "", now: datetime) -> Lead:
    """Move a lead to another funnel stage and record the transition."""
    if to_stage not in Stage.values:
        raise LeadFlowError(f"{to_stage!r} is not a stage.", field="stage")
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead_id)
        if lead.stage == to_stage:
            raise InvalidTransition(f"The lead is already in stage {to_stage!r}.", field="stage")
        StageChange.objects.create(
            lead=lead,
            from_stage=lead.stage,
            to_stage=to_stage,
            changed_at=now,
            changed_by=by,
            reason=reason,
        )
        lead.stage = to_stage
        lead.save(update_fields=["stage", "updated_at"])
    return lead


def bulk_move_stage(*, leads, to_stage: str, by, reason: str, now: datetime) -> int:
    """Move every lead of the queryset to `to_stage` (those already there are left alone),
    recording each transition; returns how many moved. One statement per table."""
    if to_stage not in Stage.values:
        raise LeadFlowError(f"{to_stage!r} is not a stage.", field="stage")
    return execute_on_targets(
        leads,
        Q(stage=to_stage),
        """
            WITH locked AS (
                SELECT id, stage FROM leads_lead WHERE id IN ({target}) FOR UPDATE
            ), history AS (
                INSERT INTO leads_stagechange
                    (lead_id, from_stage, to_stage, changed_at, changed_by_id, reason)
                SELECT id, stage, %s, %s, %s, %s FROM locked
            )
            UPDATE leads_lead SET stage = %s, updated_at = %s
            WHERE id IN (SELECT id FROM locked)
        """,
        [],
        [to_stage, now, getattr(by, "pk", None), reason[:500], to_stage, now],
    )
