"""Handoff's transitions, one module per subject:

- `calendars`: a team's working calendar and SLA policy, and deadlines on it
- `routing`: MQL → team (rules, fallback) → rep (smooth weighted round robin)
- `actions`: accept (or claim), reject with a reason, log contact, outcome, reassign
- `sla`: warnings, breaches (flagged once), escalations — the tick's scan
"""
