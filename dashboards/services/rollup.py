"""The rollup job: keeps the dashboards' facts and daily rollups exact, incrementally.

Each run reads, from a watermark, the rows written since the last run in the tables
where a lead's funnel facts can change — stage history, the timeline (handoffs, SLA
breaches, contacts and outcomes all write one), field changes (source, campaign),
merges and handoffs — and collects their leads ("dirty" leads). For those leads it
deletes their `Visit` rows, computes them again from the stage history, and adds the
difference (new minus old) to `StageDay`, `CohortDay`, `CohortEver` and `TimeDay`
(durations in buckets); likewise each handoff of those leads (`HandoffFact` and its
rollups). A lead recomputed twice adds
nothing the second time, so each change is counted exactly once however often a run
repeats, and a late row (written now with an earlier date) is counted on its own day.

Rows of transactions still open when a run reads are not visible yet: the ids below
the watermark that are missing are kept (as ranges) and looked for again by later
runs, until they have been missing for MISSING_FOR (a rolled-back insert's ids never
come). The first run has no watermark and recomputes every lead.

No trigger runs on the hot path; `tick` (every scheduler pass) hands the run to a worker
(`dashboards.tasks.rollup`), and runs never overlap (an advisory lock).
"""

# The SQL is built from this module's own table and column names; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from dashboards import buckets
from dashboards.models import NURTURE_COUNTS

logger = logging.getLogger(__name__)

LOCK = (0x71C, 0xDA5B)  # pg_try_advisory_xact_lock(namespace, key)
MISSING_FOR = timedelta(minutes=10)
FIRST_LOOKBACK = 10_000  # the first run looks for missing ids among each table's last ids
SPAN = 50_000  # leads recomputed per statement in a full rebuild

# Where a lead's facts can change: table → the columns naming the lead.
SOURCES: dict[str, tuple[str, ...]] = {
    "leads_stagechange": ("lead_id",),
    "leads_activity": ("lead_id",),
    "leads_fieldchange": ("lead_id",),
    "leads_leadmerge": ("survivor_id", "merged_id"),
    "handoff_handoff": ("lead_id",),
    "nurturing_send": ("lead_id",),
    "nurturing_enrolment": ("lead_id",),
}

# The dashboards' tables the rollup writes (a rebuild empties them all first).
TABLES = ("dashboards_visit", "dashboards_aginglead", "dashboards_stageday", "dashboards_cohortday",
          "dashboards_cohortever", "dashboards_timeday",
          "dashboards_handofffact", "dashboards_handoffday", "dashboards_handofftimeday",
          "dashboards_blameday", "dashboards_rejectionday", "dashboards_nurturefact",
          "dashboards_nurtureday")  # fmt: skip

FUNNEL_ORDER = "ARRAY['new','nurturing','mql','sal','sql','opportunity','won']::text[]"


@dataclass
class Result:
    leads: int = 0
    full: bool = False
    skipped: bool = False

    def summary(self) -> dict:
        if self.skipped:
            return {"skipped": "running elsewhere"}
        return {"leads": self.leads, **({"full": True} if self.full else {})}


def tick(now: datetime, *, inline: bool = False) -> dict:
    """The scheduler job: a run now (inline) or by a worker, on commit."""
    if inline:
        return run(now=now).summary()
    from dashboards.tasks import rollup

    transaction.on_commit(lambda: rollup.delay(at=now.isoformat()))
    return {"queued": True}


def run(*, now: datetime) -> Result:
    """Bring the rollups up to date with every row committed before this run began."""
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", LOCK)
        if not c.fetchone()[0]:
            return Result(skipped=True)
        c.execute(
            "INSERT INTO dashboards_rollupstate (name, watermarks, missing, leads) "
            "VALUES ('funnel', '{}', '{}', 0) ON CONFLICT (name) DO NOTHING"
        )
        c.execute(
            "SELECT watermarks, missing FROM dashboards_rollupstate WHERE name = 'funnel' "
            "FOR UPDATE"
        )
        watermarks, missing = (json.loads(v) if isinstance(v, str) else v for v in c.fetchone())
        c.execute("CREATE TEMP TABLE IF NOT EXISTS dash_dirty (lead_id bigint PRIMARY KEY) "
                  "ON COMMIT DELETE ROWS")  # fmt: skip
        c.execute("TRUNCATE dash_dirty")
        full = not watermarks
        new_marks, new_missing = {}, {}
        for table, columns in SOURCES.items():
            mark, gaps = _read(c, table, columns, watermarks.get(table), missing.get(table, []),
                               now=now, collect=not full)  # fmt: skip
            new_marks[table], new_missing[table] = mark, gaps
        if full:
            leads = rebuild(c)
        else:
            _capped_since(c)
            c.execute("SELECT count(*) FROM dash_dirty")
            leads = c.fetchone()[0]
            if leads:
                c.execute("ANALYZE dash_dirty")  # a temporary table has no statistics
                _recompute(c)
        c.execute(
            "UPDATE dashboards_rollupstate SET watermarks = %s, missing = %s, as_of = %s, "
            "ran_at = %s, leads = %s WHERE name = 'funnel'",
            [json.dumps(new_marks), json.dumps(new_missing), now, now, leads],
        )
    return Result(leads=leads, full=full)


def _capped_since(c) -> None:
    """Collect the leads whose emails the frequency cap held back since their facts were
    made: a deferral changes its outbox row (`capped`) and writes no row a watermark
    sees. Reconciled by state over the queued rows (the outbox's live part, indexed)."""
    c.execute(
        """
        INSERT INTO dash_dirty (lead_id)
        SELECT q.lead_id FROM (SELECT DISTINCT lead_id FROM nurturing_send
                               WHERE status = 'queued' AND capped) q
        WHERE (SELECT count(*) FROM nurturing_send s WHERE s.lead_id = q.lead_id AND s.capped)
            <> (SELECT coalesce(sum(f.capped), 0) FROM dashboards_nurturefact f
                WHERE f.lead_id = q.lead_id)
        ON CONFLICT DO NOTHING
        """
    )


def _read(c, table: str, columns: tuple[str, ...], mark: int | None, gaps: list,
          *, now: datetime, collect: bool) -> tuple[int, list]:  # fmt: skip
    """Collect the leads of `table`'s rows above `mark` and of the missing ids that came;
    return the new watermark and the ids still missing ([low, high, first seen])."""
    c.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
    top = c.fetchone()[0]
    low = mark if mark is not None else max(0, top - FIRST_LOOKBACK)
    ranges = [(lo, hi) for lo, hi, _ in gaps]
    if collect:
        where = ["id > %s AND id <= %s"] + ["id BETWEEN %s AND %s"] * len(ranges)
        params = [low, top] + [v for r in ranges for v in r]
        picks = " UNION ".join(
            f"SELECT {col} FROM {table} WHERE ({' OR '.join(where)}) AND {col} IS NOT NULL"
            for col in columns
        )
        c.execute(
            f"INSERT INTO dash_dirty (lead_id) {picks} ON CONFLICT DO NOTHING",
            params * len(columns),
        )
    # Ids still missing: the old ranges' ids that did not come, and the new range's gaps.
    still = []
    for lo, hi, seen in gaps:
        if now - datetime.fromisoformat(seen) >= MISSING_FOR:
            continue
        still += [(a, b, seen) for a, b in _gaps(c, table, lo, hi)]
    if top > low:
        c.execute(f"SELECT count(*) FROM {table} WHERE id > %s AND id <= %s", [low, top])
        if c.fetchone()[0] != top - low:
            still += [(a, b, now.isoformat()) for a, b in _gaps(c, table, low + 1, top)]
    return max(top, mark or 0), [list(g) for g in still]


def _gaps(c, table: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """The ranges of ids in [lo, hi] that `table` does not hold."""
    c.execute(
        f"""
        SELECT min(g), max(g) FROM (
          SELECT g, g - row_number() OVER (ORDER BY g) AS grp
          FROM generate_series(%s::bigint, %s::bigint) g
          WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = g)
        ) x GROUP BY grp ORDER BY 1
        """,
        [lo, hi],
    )
    return [(a, b) for a, b in c.fetchall()]


def rebuild(c) -> int:
    """Recompute every lead (the first run): in spans of lead ids."""
    c.execute(f"TRUNCATE {', '.join(TABLES)}")
    c.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0), count(*) FROM leads_lead")
    low, high, total = c.fetchone()
    for start in range(low, high + 1, SPAN):
        c.execute("DELETE FROM dash_dirty")
        c.execute("INSERT INTO dash_dirty SELECT id FROM leads_lead WHERE id >= %s AND id < %s",
                  [start, start + SPAN])  # fmt: skip
        c.execute("ANALYZE dash_dirty")
        _recompute(c, span=(start, start + SPAN), roll=False)
    # The rollups in one pass over all the facts (each row written once, not once a span).
    _roll_visits(c, "(SELECT *, 1 AS sign FROM dashboards_visit) v")
    _roll_handoffs(c, "(SELECT *, 1 AS sign FROM dashboards_handofffact) v")
    _roll_nurture(c, "(SELECT *, 1 AS sign FROM dashboards_nurturefact) v")
    c.execute(f"ANALYZE {', '.join(TABLES)}")
    return total


# A visit's columns, in the order the statements below write them.
_VISIT = ("id, lead_id, stage, from_stage, entered_at, left_at, seconds, entered_day, created_day, "
          "reentry, backward, forward, onward, source, campaign_id, team_id, amount, "
          "reached_later")  # fmt: skip


# StageDay's counts and what moves them (summed over new visits +1, old ones −1).
_COUNTS = ("entries", "reentries", "backward", "forward", "waiting")
_SIGNED = ("sign", "sign * reentry::int", "sign * backward::int", "sign * forward::int",
           "sign * (left_at IS NULL)::int")  # fmt: skip


def _recompute(c, *, span: tuple[int, int] | None = None, roll: bool = True) -> None:
    """Replace the facts of the leads in dash_dirty and (`roll`) move the rollups by new
    minus old."""
    tz = settings.TIME_ZONE

    def within(column: str) -> str:
        # A rebuild's span of lead ids, said outright: an index range, not a hash of all.
        return (
            "" if span is None else f"AND {column} >= {int(span[0])} AND {column} < {int(span[1])}"
        )

    c.execute(
        "CREATE TEMP TABLE IF NOT EXISTS dash_gone (LIKE dashboards_visit) ON COMMIT DROP;"
        "CREATE TEMP TABLE IF NOT EXISTS dash_new (LIKE dashboards_visit) ON COMMIT DROP;"
        "TRUNCATE dash_gone, dash_new;"
        "WITH gone AS (DELETE FROM dashboards_visit v USING dash_dirty d "
        "  WHERE v.lead_id = d.lead_id RETURNING v.*) "
        "INSERT INTO dash_gone SELECT * FROM gone;"
    )
    c.execute(
        f"""
        WITH dims AS (
          SELECT l.id AS lead_id, l.source, coalesce(l.campaign_id, 0) AS campaign_id,
                 (l.created_at AT TIME ZONE %(tz)s)::date AS created_day,
                 coalesce((SELECT h.team_id FROM handoff_handoff h WHERE h.lead_id = l.id
                           ORDER BY h.created_at DESC, h.id DESC LIMIT 1), 0) AS team_id,
                 (SELECT h.amount FROM handoff_handoff h WHERE h.lead_id = l.id
                    AND h.amount IS NOT NULL ORDER BY h.created_at DESC, h.id DESC LIMIT 1)
                   AS amount
          FROM leads_lead l JOIN dash_dirty d ON d.lead_id = l.id {within("l.id")}
        ), history AS (
          SELECT sc.id, sc.lead_id, sc.to_stage AS stage, sc.from_stage,
                 sc.changed_at AS entered_at,
                 lead(sc.changed_at) OVER w AS left_at,
                 row_number() OVER (PARTITION BY sc.lead_id, sc.to_stage
                                    ORDER BY sc.changed_at, sc.id) > 1 AS reentry,
                 (sc.from_stage <> '' AND array_position({FUNNEL_ORDER}, sc.to_stage::text)
                    IS NOT NULL AND (sc.from_stage IN ('lost', 'disqualified')
                      OR array_position({FUNNEL_ORDER}, sc.to_stage::text)
                         < array_position({FUNNEL_ORDER}, sc.from_stage::text))) AS backward,
                 coalesce(array_position({FUNNEL_ORDER}, (lead(sc.to_stage) OVER w)::text)
                   > array_position({FUNNEL_ORDER}, sc.to_stage::text), false) AS forward,
                 coalesce(max(array_position({FUNNEL_ORDER}, sc.to_stage::text)) OVER (
                     PARTITION BY sc.lead_id ORDER BY sc.changed_at, sc.id
                     ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
                   > array_position({FUNNEL_ORDER}, sc.to_stage::text), false) AS onward,
                 max(array_position({FUNNEL_ORDER}, sc.to_stage::text)) OVER (
                     PARTITION BY sc.lead_id ORDER BY sc.changed_at
                     RANGE BETWEEN '1 microsecond'::interval FOLLOWING
                       AND UNBOUNDED FOLLOWING) AS reached_later
          FROM leads_stagechange sc JOIN dash_dirty d ON d.lead_id = sc.lead_id
            {within("sc.lead_id")}
          WINDOW w AS (PARTITION BY sc.lead_id ORDER BY sc.changed_at, sc.id)
        ), made AS (
          INSERT INTO dashboards_visit ({_VISIT})
          SELECT h.id, h.lead_id, h.stage, h.from_stage, h.entered_at, h.left_at,
                 extract(epoch FROM h.left_at - h.entered_at)::bigint,
                 (h.entered_at AT TIME ZONE %(tz)s)::date, dims.created_day, h.reentry,
                 h.backward, h.forward, h.onward, dims.source, dims.campaign_id, dims.team_id,
                 CASE WHEN h.stage = 'won' THEN dims.amount END, h.reached_later
          FROM history h JOIN dims USING (lead_id)
          RETURNING *
        )
        INSERT INTO dash_new SELECT * FROM made
        """,
        {"tz": tz},
    )
    if roll:
        _roll_visits(c, "(SELECT *, 1 AS sign FROM dash_new UNION ALL "
                        "SELECT *, -1 FROM dash_gone) v")  # fmt: skip
    _recompute_aging(c)
    c.execute("TRUNCATE dash_gone, dash_new")
    _recompute_handoffs(c, within, roll)
    _recompute_nurture(c, within, roll)


def _roll_visits(c, both: str) -> None:
    """Move StageDay, CohortDay, CohortEver and TimeDay by the signed visits `both`."""
    keys = "day, stage, source, campaign_id, team_id"
    _add(c, "dashboards_stageday", keys, dict(zip(_COUNTS, _SIGNED, strict=True)),
         source=f"(SELECT entered_day AS day, * FROM {both}) x")  # fmt: skip
    # A cohort counts each lead once per stage reached (its first visit), and once as
    # created: a lead's own row of stage `created` comes from its first visit of all.
    cohort = (
        f"(SELECT created_day AS day, stage, source, campaign_id, team_id, sign, "
        f"coalesce(amount, 0) AS amount, onward FROM {both} WHERE NOT reentry "
        f"UNION ALL SELECT DISTINCT ON (lead_id, sign) created_day, 'created', source, "
        f"campaign_id, team_id, sign, 0, false FROM {both}) x"
    )
    _add(c, "dashboards_cohortday", keys, {"leads": "sign", "onward": "sign * onward::int",
         "amount": "sign * amount"}, source=cohort)  # fmt: skip
    # The same over all time, unfiltered (what a campaign's or channel's cost divides by).
    _add(c, "dashboards_cohortever", "stage, source, campaign_id",
         {"leads": "sign", "amount": "sign * amount"}, source=cohort, grains=False)  # fmt: skip
    # Each ended visit's duration bucket, counted by its entry day and by its cohort day.
    _add(c, "dashboards_timeday", f"counted_by, {keys}, bucket", {"visits": "sign"},
         source=f"(SELECT k.counted_by, k.day, stage, source, campaign_id, team_id, sign, "
         f"width_bucket(seconds, {buckets.SQL_EDGES}) AS bucket FROM {both} "
         "CROSS JOIN LATERAL (VALUES ('entered', v.entered_day), ('created', v.created_day)) "
         "AS k(counted_by, day) WHERE v.seconds IS NOT NULL) x")  # fmt: skip


def _recompute_nurture(c, within, roll: bool) -> None:
    """Replace the nurture facts of the leads in dash_dirty (their emails, their
    enrolments left as MQL) and move NurtureDay by new minus old."""
    counts = ", ".join(NURTURE_COUNTS)
    c.execute(
        "CREATE TEMP TABLE IF NOT EXISTS dash_ngone (LIKE dashboards_nurturefact) ON COMMIT DROP;"
        "CREATE TEMP TABLE IF NOT EXISTS dash_nnew (LIKE dashboards_nurturefact) ON COMMIT DROP;"
        "TRUNCATE dash_ngone, dash_nnew;"
        "WITH gone AS (DELETE FROM dashboards_nurturefact v USING dash_dirty d "
        "  WHERE v.lead_id = d.lead_id RETURNING v.*) "
        "INSERT INTO dash_ngone SELECT * FROM gone;"
    )
    c.execute(
        f"""
        WITH dims AS (
          SELECT l.id AS lead_id, l.source, coalesce(l.campaign_id, 0) AS campaign_id,
                 coalesce((SELECT h.team_id FROM handoff_handoff h WHERE h.lead_id = l.id
                           ORDER BY h.created_at DESC, h.id DESC LIMIT 1), 0) AS team_id
          FROM leads_lead l JOIN dash_dirty d ON d.lead_id = l.id {within("l.id")}
        ), made AS (
          INSERT INTO dashboards_nurturefact (lead_id, day, track_id, step_id, source,
              campaign_id, team_id, {counts})
          SELECT s.lead_id, (s.created_at AT TIME ZONE %(tz)s)::date, s.track_id,
                 coalesce(s.step_id, 0), dims.source, dims.campaign_id, dims.team_id, 1,
                 (s.status = 'sent')::int, (s.opened_at IS NOT NULL)::int,
                 (s.clicked_at IS NOT NULL)::int, (s.unsubscribed_at IS NOT NULL)::int,
                 (s.bounced_at IS NOT NULL)::int, s.capped::int, 0
          FROM nurturing_send s JOIN dims ON dims.lead_id = s.lead_id
          UNION ALL
          SELECT e.lead_id, (e.exited_at AT TIME ZONE %(tz)s)::date, e.track_id,
                 coalesce((SELECT ls.step_id FROM nurturing_send ls
                           WHERE ls.enrolment_id = e.id
                           ORDER BY ls.created_at DESC, ls.id DESC LIMIT 1), -1),
                 dims.source, dims.campaign_id, dims.team_id, 0, 0, 0, 0, 0, 0, 0, 1
          FROM nurturing_enrolment e JOIN dims ON dims.lead_id = e.lead_id
          WHERE e.exit_reason = 'mql' AND e.exited_at IS NOT NULL
          RETURNING *
        )
        INSERT INTO dash_nnew SELECT * FROM made
        """,
        {"tz": settings.TIME_ZONE},
    )
    if roll:
        _roll_nurture(c, "(SELECT *, 1 AS sign FROM dash_nnew UNION ALL "
                         "SELECT *, -1 FROM dash_ngone) v")  # fmt: skip
    c.execute("TRUNCATE dash_ngone, dash_nnew")


def _roll_nurture(c, both: str) -> None:
    _add(c, "dashboards_nurtureday", "day, source, campaign_id, team_id, track_id, step_id",
         {n: f"sign * {n}" for n in NURTURE_COUNTS}, source=both)  # fmt: skip


def _recompute_aging(c) -> None:
    """Replace the AgingLead rows of the leads in dash_dirty from their new visits."""
    c.execute("DELETE FROM dashboards_aginglead a USING dash_dirty d WHERE a.lead_id = d.lead_id")
    c.execute(
        """
        INSERT INTO dashboards_aginglead (lead_id, stage, entered_at, entered_day, source,
            campaign_id, team_id, batch_kind, batch_key, owner_id)
        SELECT v.lead_id, v.stage, v.entered_at, v.entered_day, v.source, v.campaign_id,
               v.team_id,
               CASE WHEN l.import_job_id IS NOT NULL THEN 'import'
                    WHEN l.campaign_id IS NOT NULL THEN 'campaign'
                    WHEN form.slug IS NOT NULL THEN 'form' ELSE 'source' END,
               coalesce(l.import_job_id::text, l.campaign_id::text, form.slug, l.source),
               l.owner_id
        FROM dash_new v JOIN leads_lead l ON l.id = v.lead_id
        LEFT JOIN LATERAL (
          SELECT a.data->>'form' AS slug FROM leads_activity a
          WHERE a.lead_id = l.id AND a.kind = 'form_submit' ORDER BY a.occurred_at, a.id LIMIT 1
        ) form ON TRUE
        WHERE v.left_at IS NULL AND v.stage IN ('mql', 'sal') AND l.stage = v.stage
          AND (l.last_sales_touch_at IS NULL OR l.last_sales_touch_at < v.entered_at)
          AND l.merged_into_id IS NULL
        """
    )


# A handoff fact's columns, in the order the statement below writes them.
_HANDOFF = ("id, lead_id, day, closed_day, source, campaign_id, team_id, rep_id, rejected, "
            "reason, accepted, accepted_in_sla, contacted, contacted_in_sla, accept_seconds, "
            "contact_seconds, breaches, escalations, blame")  # fmt: skip


def _recompute_handoffs(c, within, roll: bool) -> None:
    """Replace the handoff facts of the leads in dash_dirty and move the handoff rollups
    (HandoffDay, HandoffTimeDay, BlameDay, RejectionDay) by new minus old."""
    from handoff.services.sla import BREACHED, ESCALATED

    c.execute(
        "CREATE TEMP TABLE IF NOT EXISTS dash_hgone (LIKE dashboards_handofffact) ON COMMIT DROP;"
        "CREATE TEMP TABLE IF NOT EXISTS dash_hnew (LIKE dashboards_handofffact) ON COMMIT DROP;"
        "TRUNCATE dash_hgone, dash_hnew;"
        "WITH gone AS (DELETE FROM dashboards_handofffact v USING dash_dirty d "
        "  WHERE v.lead_id = d.lead_id RETURNING v.*) "
        "INSERT INTO dash_hgone SELECT * FROM gone;"
    )
    c.execute(
        f"""
        WITH made AS (
          INSERT INTO dashboards_handofffact ({_HANDOFF})
          SELECT h.id, h.lead_id, (h.created_at AT TIME ZONE %(tz)s)::date,
                 (h.closed_at AT TIME ZONE %(tz)s)::date, l.source,
                 coalesce(l.campaign_id, 0), h.team_id, coalesce(h.rep_id, 0),
                 h.status = 'rejected', h.reject_reason,
                 h.accepted_at IS NOT NULL,
                 h.accepted_at IS NOT NULL AND h.accept_breached_at IS NULL
                   AND h.escalations = 0,
                 h.contacted_at IS NOT NULL,
                 h.contacted_at IS NOT NULL AND h.contact_breached_at IS NULL,
                 h.accept_business_seconds, h.contact_business_seconds, h.breaches,
                 h.escalations,
                 coalesce((
                   SELECT jsonb_object_agg(who, jsonb_build_array(b, e)) FROM (
                     SELECT coalesce(CASE WHEN a.kind = %(breached)s THEN a.data->>'rep'
                                          ELSE a.data->>'from' END, '') AS who,
                            count(*) FILTER (WHERE a.kind = %(breached)s) AS b,
                            count(*) FILTER (WHERE a.kind = %(escalated)s) AS e
                     FROM leads_activity a
                     -- a merge moves the timeline to the surviving lead, not the handoff
                     WHERE a.lead_id IN (h.lead_id, coalesce(l.merged_into_id, h.lead_id))
                       AND a.kind IN (%(breached)s, %(escalated)s)
                       AND a.data->>'handoff' = h.id::text
                     GROUP BY 1) x), '{{}}'::jsonb)
          FROM handoff_handoff h JOIN dash_dirty d ON d.lead_id = h.lead_id
          JOIN leads_lead l ON l.id = h.lead_id {within("h.lead_id")}
          RETURNING *
        )
        INSERT INTO dash_hnew SELECT * FROM made
        """,
        {"tz": settings.TIME_ZONE, "breached": BREACHED, "escalated": ESCALATED},
    )
    if roll:
        _roll_handoffs(c, "(SELECT *, 1 AS sign FROM dash_hnew UNION ALL "
                          "SELECT *, -1 FROM dash_hgone) v")  # fmt: skip
    c.execute("TRUNCATE dash_hgone, dash_hnew")


def _roll_handoffs(c, both: str) -> None:
    """Move HandoffDay, HandoffTimeDay, BlameDay and RejectionDay by the signed facts."""
    dims = "source, campaign_id, team_id"
    _add(c, "dashboards_handoffday", f"day, {dims}, rep_id",
         {"handoffs": "sign", "accepted": "sign * accepted::int",
          "accepted_in_sla": "sign * accepted_in_sla::int", "contacted": "sign * contacted::int",
          "contacted_in_sla": "sign * contacted_in_sla::int", "breaches": "sign * breaches",
          "escalations": "sign * escalations"},
         source=both)  # fmt: skip
    _add(c, "dashboards_handofftimeday", f"day, {dims}, rep_id, what, bucket",
         {"handoffs": "sign"}, source=f"{both} CROSS JOIN LATERAL (VALUES "
         f"('accept', width_bucket(accept_seconds, {buckets.SQL_EDGES})), "
         f"('contact', width_bucket(contact_seconds, {buckets.SQL_EDGES}))) AS t(what, bucket)",
         where="t.bucket IS NOT NULL")  # fmt: skip
    _add(c, "dashboards_blameday", f"day, {dims}, username",
         {"breaches": "sign * (b.value->>0)::int", "escalations": "sign * (b.value->>1)::int"},
         source=f"{both} CROSS JOIN LATERAL jsonb_each(v.blame) AS b(username, value)")  # fmt: skip
    _add(c, "dashboards_rejectionday", f"day, {dims}, reason", {"handoffs": "sign"},
         source=f"(SELECT closed_day AS day, {dims}, reason, sign FROM {both} "
         "WHERE rejected AND closed_day IS NOT NULL) v")  # fmt: skip


def _add(c, table: str, keys: str, sums: dict[str, str], *, source: str,
         where: str = "TRUE", grains: bool = True) -> None:  # fmt: skip
    """Add to `table`'s counts, per `keys`, the signed sums over `source` (new facts +1,
    the ones they replace -1): "+= new - old", nothing written where it comes to 0.
    With `grains`, `source` has a `day` and each sum goes to its day's row (grain "d")
    and to its month's (grain "m", day: the 1st)."""
    names = ", ".join(sums)
    columns, picked, by = keys, keys, keys
    if grains:
        picked = ", ".join("g.gday" if k == "day" else k for k in keys.split(", "))
        columns, picked, by = f"grain, {keys}", f"g.grain, {picked}", f"g.grain, {picked}"
        source += (" CROSS JOIN LATERAL (VALUES ('d', day), "
                   "('m', date_trunc('month', day)::date)) AS g(grain, gday)")  # fmt: skip
    c.execute(
        f"""
        INSERT INTO {table} ({columns}, {names})
        SELECT {picked}, {", ".join(f"sum({e})" for e in sums.values())}
        FROM {source} WHERE {where}
        GROUP BY {by}
        HAVING {" OR ".join(f"sum({e}) <> 0" for e in sums.values())}
        ON CONFLICT ({columns}) DO UPDATE SET
          {", ".join(f"{n} = {table}.{n} + EXCLUDED.{n}" for n in sums)}
        """
    )
