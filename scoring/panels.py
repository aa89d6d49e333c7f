"""Scoring's panel on a lead's page: the score explanation and its history chart.

The lead page renders a placeholder that fetches the panel (`scoring:lead-panel`) with
htmx once the page has loaded, so the explanation's queries never slow the page down.
"""

from __future__ import annotations

from leads import panels


def score_panel(lead, request, now) -> dict:
    return {}  # the placeholder needs only the lead, which every panel gets


def register() -> None:
    """Called from ScoringConfig.ready()."""
    panels.register(
        "score", template="scoring/lead_panel_loader.html", context=score_panel, order=10
    )
