"""Scoring: every change of scores, set-based (`events`, `scores`, `passes`).

One SQL statement computes fit, engagement, grade and score for a set of leads (all,
a range of ids, or one lead) from the active model's compiled rules and the ranked
events (ranks depend on no model, so a model change only reruns that statement); the
same statement serves a full rescoring, the decay pass of the tick, the incremental
update after one event and the what-if of a draft, so they cannot disagree. Stage
moves that follow (disqualification rules, crossing the MQL rule either way) are
conditional UPDATEs re-checked under the row lock, so a lead moves exactly once
however many events race.
"""

from scoring.services.events import (
    BUCKET_SQL,
    RECENT_ACTIVITIES,
    points_sql,
    rank_event,
    rank_events,
    sweep_ranks,
)
from scoring.services.passes import (
    BATCH,
    DECAY_EVERY_SECONDS,
    create_version,
    over_spans,
    rescore_all,
    run_rescore,
    score_changed,
    tick,
)
from scoring.services.scores import (
    MEANINGFUL,
    ScoreCounts,
    active_model,
    automatic_from,
    compiled_model,
    events_moved,
    record_event_points,
    score_lead,
    score_leads,
    scores_sql,
)

__all__ = [
    "BATCH",
    "BUCKET_SQL",
    "DECAY_EVERY_SECONDS",
    "MEANINGFUL",
    "RECENT_ACTIVITIES",
    "ScoreCounts",
    "active_model",
    "automatic_from",
    "compiled_model",
    "create_version",
    "events_moved",
    "over_spans",
    "points_sql",
    "rank_event",
    "rank_events",
    "record_event_points",
    "rescore_all",
    "run_rescore",
    "score_changed",
    "score_lead",
    "score_leads",
    "scores_sql",
    "sweep_ranks",
    "tick",
]
