"""Ranked events: each behavioural event's 30-day bucket and rank among its lead's
events of the same type in that bucket (scoring.models.ScoredEvent), kept as events
arrive, and the points a model gives them.
"""

# SQL here is assembled from this app's own fragments and compiled rules; every value
# from a person travels as a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from django.db import connection, transaction

from leads.idsets import among
from leads.models import EVENT_TYPES
from scoring.rules import Compiled, Sql

BUCKET_SQL = "floor(date_part('epoch', {at}) / 86400 / 30)::int"


def _ranks_select(where: Sql) -> Sql:
    """SELECT of every behavioural event `a` matching `where` with its bucket and its
    rank within its lead, type and bucket, in (occurred_at, id) order."""
    bucket = BUCKET_SQL.format(at="a.occurred_at")
    text = f"""
        SELECT a.id, a.lead_id, a.kind, {bucket}, a.occurred_at,
               row_number() OVER (PARTITION BY a.lead_id, a.kind, {bucket}
                                  ORDER BY a.occurred_at, a.id)
        FROM leads_activity a
        WHERE a.kind = ANY(%s) AND {where.text}
    """
    return Sql(text, [[str(kind) for kind in EVENT_TYPES], *where.params])


_INSERT_RANKS = (
    "INSERT INTO scoring_scoredevent (activity_id, lead_id, event_type, bucket, occurred_at, rank) "
)


def rank_events(*, lead_ids: list[int] | None = None) -> None:
    """Rebuild the ranked events of the given leads (or of all): after a bulk load, a
    merge moving events between leads, or to sweep up after a crash."""
    with transaction.atomic(), connection.cursor() as cursor:
        if lead_ids is None:
            cursor.execute("TRUNCATE scoring_scoredevent")
            select = _ranks_select(Sql("true", []))
        else:
            # Rows ranked under another lead (events a merge moved) go too.
            cursor.execute(
                f"DELETE FROM scoring_scoredevent WHERE {among('lead_id')} OR activity_id IN "
                f"(SELECT id FROM leads_activity WHERE {among('lead_id')})",
                [lead_ids, lead_ids],
            )
            select = _ranks_select(Sql(among("a.lead_id"), [lead_ids]))
        cursor.execute(_INSERT_RANKS + select.text, select.params)


def rank_event(*, lead_id: int, activity_id: int) -> None:
    """Incremental: re-rank only the events of this event's lead, type and bucket."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, {BUCKET_SQL.format(at='occurred_at')} FROM leads_activity "
            "WHERE id = %s AND lead_id = %s",
            [activity_id, lead_id],
        )
        row = cursor.fetchone()
        if row is None or row[0] not in EVENT_TYPES:
            return
        kind, bucket = row
        cursor.execute(
            "DELETE FROM scoring_scoredevent WHERE lead_id = %s AND event_type = %s "
            "AND bucket = %s",
            [lead_id, kind, bucket],
        )
        select = _ranks_select(
            Sql(
                f"a.lead_id = %s AND a.kind = %s AND {BUCKET_SQL.format(at='a.occurred_at')} = %s",
                [lead_id, kind, bucket],
            )
        )
        cursor.execute(_INSERT_RANKS + select.text, select.params)


def points_sql(compiled: Compiled) -> Sql:
    """SELECT lead_id, event_type, occurred_at, points of every ranked event the model
    gives points: its type's points, or under a cap what is left of the cap by its rank
    (10 points capped at 25: 10, 10, 5, 0, ...)."""
    if not compiled.engagement:
        nothing = (
            "SELECT NULL::bigint AS lead_id, NULL AS event_type, "
            "NULL::timestamptz AS occurred_at, NULL::float AS points WHERE false"
        )
        return Sql(nothing, [])
    values = ", ".join("(%s, %s::float, %s::float)" for _ in compiled.engagement)
    params = [
        p for event, (points, cap) in compiled.engagement.items() for p in (event, points, cap)
    ]
    text = f"""
        SELECT e.lead_id, e.event_type, e.occurred_at,
               CASE WHEN r.cap IS NULL THEN r.pts
                    ELSE LEAST(r.pts, GREATEST(0, r.cap - (e.rank - 1) * r.pts)) END AS points
        FROM scoring_scoredevent e JOIN (VALUES {values}) AS r(kind, pts, cap)
             ON r.kind = e.event_type
    """
    return Sql(text, params)


# The tick's sweep between hourly passes: the newest activities only.
RECENT_ACTIVITIES = 100_000


def sweep_ranks(*, recent_only: bool = False) -> list[int]:
    """Re-rank the events a crash left unranked, ranked under another lead, or ranked
    though deleted; the leads concerned. `recent_only` looks at the newest
    RECENT_ACTIVITIES activities only (by primary key: cheap every minute), where an
    event whose reaction was lost in a crash is found at the next tick."""
    low, deleted = 0, "NOT EXISTS (SELECT 1 FROM leads_activity a WHERE a.id = e.activity_id)"
    with transaction.atomic(), connection.cursor() as cursor:
        if recent_only:  # both sides by primary-key range
            cursor.execute("SELECT coalesce(max(id), 0) FROM leads_activity")
            low = cursor.fetchone()[0] - RECENT_ACTIVITIES
            deleted = "false"  # rank rows of deleted events: the full sweep
        cursor.execute(
            f"""
            WITH wrong AS (
                SELECT a.lead_id, e.lead_id AS ranked_under
                FROM leads_activity a LEFT JOIN scoring_scoredevent e
                     ON e.activity_id = a.id AND e.activity_id > %s
                WHERE a.kind = ANY(%s) AND a.id > %s
                  AND (e.activity_id IS NULL OR e.lead_id <> a.lead_id)
                UNION ALL
                SELECT NULL, e.lead_id FROM scoring_scoredevent e WHERE {deleted}
            )
            SELECT DISTINCT v.id FROM wrong, LATERAL (VALUES (lead_id), (ranked_under)) v(id)
            WHERE v.id IS NOT NULL
            """,
            [low, [str(kind) for kind in EVENT_TYPES], low],
        )
        lead_ids = [row[0] for row in cursor.fetchall()]
        if lead_ids:
            rank_events(lead_ids=lead_ids)
    return lead_ids
