"""Which leads have a known outcome, for the predictive model: a registry that higher
apps fill in their AppConfig.ready() ("outcome sources"), so scoring never imports them.

Scoring itself knows the lead's own: stage `won` or `converted` true is a conversion;
`lost`, `disqualified` or `converted` false is not. Handoff adds sales rejections (a
rejected handoff with a reason that says the lead is not a buyer) as non-conversions:

    outcomes.register_negative("sales rejections", "EXISTS (SELECT 1 FROM ... = l.id ...)")

A source is an SQL condition over the lead row `l` with no parameters, true for a lead
that did not convert. A conversion always wins over a non-conversion (a lead rejected
once and won later converted).
"""

from __future__ import annotations

from leads.models import Stage

_negatives: dict[str, str] = {}

CONVERTED = f"(l.stage = '{Stage.WON.value}' OR COALESCE(l.converted, false))"
_OWN_NEGATIVE = (
    f"(l.stage IN ('{Stage.LOST.value}', '{Stage.DISQUALIFIED.value}') "
    "OR NOT COALESCE(l.converted, true))"
)
# Stages whose leads are closed: they get no predictive score.
CLOSED = (Stage.WON.value, Stage.LOST.value, Stage.DISQUALIFIED.value)


def register_negative(name: str, condition: str) -> None:
    """Count leads for which `condition` (SQL over `l`) holds as not converted."""
    _negatives[name] = f"({condition})"


def sources() -> list[str]:
    """What counts as an outcome, in words (the page lists it)."""
    return ["won", "converted (imported)", "lost", "disqualified", *_negatives]


def label_sql() -> str:
    """1 for a conversion, 0 for a non-conversion, NULL for a lead with no known outcome."""
    negative = " OR ".join([_OWN_NEGATIVE, *_negatives.values()])
    return f"(CASE WHEN {CONVERTED} THEN 1 WHEN {negative} THEN 0 END)"
