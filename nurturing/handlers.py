"""Nurturing's reactions to the leads app's announcements (registered in apps.py).

Exits are immediate: a lead that became MQL, moved on to sales, was disqualified, lost
its consent or was merged away leaves its track in the same breath (and its queued
emails are cancelled; the send-time check would stop them anyway). A recycled lead
(back to nurturing or new) re-enters by the rules. Captured and imported leads enter at
the next scheduler pass (nurturing.services.ticks.enrol): no capture waits for it.
"""

from __future__ import annotations

from datetime import datetime

from leads.models import ConsentStatus, Stage
from nurturing.models import Enrolment
from nurturing.services import enrolment

INLINE_LEADS = 50
_EXITS = {
    Stage.MQL: Enrolment.Exit.MQL,
    Stage.SAL: Enrolment.Exit.HANDOFF,
    Stage.SQL: Enrolment.Exit.HANDOFF,
    Stage.OPPORTUNITY: Enrolment.Exit.HANDOFF,
    Stage.WON: Enrolment.Exit.HANDOFF,
    Stage.LOST: Enrolment.Exit.DISQUALIFIED,
    Stage.DISQUALIFIED: Enrolment.Exit.DISQUALIFIED,
}


def _enrol(lead_ids: list[int], now: datetime) -> None:
    if len(lead_ids) > INLINE_LEADS:
        from nurturing.tasks import enrol

        enrol.delay_on_commit(lead_ids)
        return
    enrolment.enrol_by_rules(now=now, lead_ids=lead_ids)


def stage_changed(*, lead_ids: list[int], from_stage: str, to_stage: str, now: datetime) -> None:
    if to_stage in _EXITS:
        enrolment.exit_tracks(lead_ids=lead_ids, reason=_EXITS[to_stage], now=now)
    elif to_stage in (Stage.NEW, Stage.NURTURING) and from_stage != Stage.NEW:
        _enrol(lead_ids, now)  # recycled (new → nurturing is enrolment's own move)


def consent_changed(*, lead_ids: list[int], status: str, now: datetime) -> None:
    if status == ConsentStatus.GRANTED:
        _enrol(lead_ids, now)
    else:
        enrolment.exit_tracks(lead_ids=lead_ids, reason=Enrolment.Exit.CONSENT, now=now)


def leads_merged(*, survivor_id: int, merged_id: int, lead_ids: list[int], now: datetime) -> None:
    enrolment.exit_tracks(lead_ids=[merged_id], reason=Enrolment.Exit.MERGED, now=now)
