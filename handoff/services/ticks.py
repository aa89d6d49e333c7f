"""Handoff's scheduler jobs (registered in apps.py), each a plain function of `now`.

- `handoff.route`: every MQL in no open handoff is routed (the safety net for a lost
  reaction: routing normally runs on commit of the move to MQL).
- `handoff.sla`: warnings, breaches and escalations (handoff.services.sla).
"""

from __future__ import annotations

from datetime import datetime

from handoff.services import routing
from handoff.services import sla as scanning


def route(now: datetime) -> dict:
    done = routing.route(now=now)
    return {"handoffs": len(done.handoffs), "queued": done.queued}


def sla(now: datetime) -> dict:
    return scanning.scan(now=now).summary()
