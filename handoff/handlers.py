"""Handoff's reactions to the leads app's announcements (registered in apps.py).

A lead entering `mql` by any path (scoring, a manual move, an import) is routed on
commit — inline for a few leads, by a task for a burst (a model change can make
thousands at once). The tick's `handoff.route` job routes any MQL a lost reaction left.
"""

from __future__ import annotations

from datetime import datetime

from handoff.services import routing
from leads.models import Stage

INLINE_LEADS = 20


def stage_changed(*, lead_ids: list[int], from_stage: str, to_stage: str, now: datetime) -> None:
    if to_stage != Stage.MQL:
        return
    if len(lead_ids) > INLINE_LEADS:
        from handoff.tasks import route

        route.delay_on_commit(lead_ids)
        return
    routing.route(now=now, lead_ids=lead_ids)
