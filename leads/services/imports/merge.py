"""The set-based import: `capture_lead`'s rules (the capture spec,
`leads.services.identity`) applied to a whole file at once.

The outcome is the one capturing the rows one by one in file order gives
(tests/test_capture_equals_import.py checks it on random files):

- Matching (`match_rows`): each row is matched by the spec's `MATCH_ORDER` against
  the leads as the rows before it left them — the leads that exist, the aliases
  merges left, and the identities earlier rows gave new or existing leads. A row
  that matches nothing creates a lead. A conflict (an external id on a lead with
  another email) is a row error and fails the import.
- Filling: a new lead takes, per field, the first non-empty value of its rows in
  file order (the first row creates it, the next ones fill its empty fields); stage
  `new` with a `StageChange` ("" → new), a `captured` activity, `latest_campaign`
  its last campaign, `import_job` set. An existing lead only gets EMPTY fields
  filled (and absent custom keys), never a field in `Lead.human_edited` nor an
  identity it holds as an alias; first-touch `campaign` when empty,
  `latest_campaign` the rows' last campaign. Each filled field is a `FieldChange`
  (channel "import", with the job): that is what undo reverts.

One `captured` activity is written per lead touched, not per row. Everything runs in
the caller's transaction: rows are COPYed into a TEMP staging table in chunks, then
matched and merged with INSERT … SELECT / UPDATE … FROM.
"""

# The SQL is assembled from this module's constants, the capture spec and model
# metadata only; every value from a file or a person travels as a query parameter or
# through COPY.
# ruff: noqa: S608

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from leads.exceptions import LeadFlowError
from leads.models import Lead
from leads.services import identity
from leads.services.identity import CSV_FILLABLE_FIELDS, IDENTITIES, MATCH_ORDER, Step
from leads.services.imports.rows import STAGED, column_of
from leads.services.stages import first_stages_sql

STAGING = "import_rows"
COPY_CHUNK_ROWS = 20_000
# A file whose rows chain through each other this deep (each row's lead decided by
# the one before) is refused rather than matched pass after pass.
MAX_PASSES = 30

# Lead fields an import fills: the capture spec's fillable fields that a CSV can carry.
FILL_FIELDS = CSV_FILLABLE_FIELDS


@dataclass(frozen=True)
class Conflict:
    rows: list[int]
    message: str
    field: str = ""
    lead: int = 0  # the lead it conflicts with (-rn: the one row rn creates)
    value: str = ""


def create_staging(cursor, *, extra: tuple[tuple[str, str], ...] = ()) -> None:
    """The staging table. `target` is the lead a row goes to: a lead's id, -rn for the
    new lead row rn creates, NULL for a conflicting row (`conflict`: the lead it
    conflicts with); every row starts out creating its own lead. An `excluded` row is
    matched like the others but gives its lead nothing (a batch's refused rows).
    `extra` (name, type) columns follow the staged ones (a batch's `stage`)."""
    columns = ", ".join(f"{name} {kind}" for name, kind in (*STAGED, *extra))
    cursor.execute(
        f"CREATE TEMP TABLE {STAGING} (rn integer NOT NULL, {columns}, "
        "target bigint, conflict bigint, conflict_kind text, "
        "excluded boolean NOT NULL DEFAULT false) ON COMMIT DROP"
    )


class StagingWriter:
    """Buffers staged rows as CSV text and COPYs them in chunks of COPY_CHUNK_ROWS."""

    def __init__(self, cursor, *, extra: tuple[str, ...] = ()):
        self.cursor = cursor
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.pending = 0
        columns = ", ".join(["rn", *(name for name, _ in STAGED), *extra, "target"])
        self.sql = f"COPY {STAGING} ({columns}) FROM STDIN WITH (FORMAT csv)"

    def add(self, row: int, values: list) -> None:
        # Empty text is never staged (None → NULL), so csv's unquoted "" reads as NULL.
        self.writer.writerow([row, *values, -row])
        self.pending += 1
        if self.pending >= COPY_CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.buffer.seek(0)
        self.cursor.copy_expert(self.sql, self.buffer)
        self.buffer.seek(0)
        self.buffer.truncate()
        self.pending = 0


# --- matching ------------------------------------------------------------------------
#
# Row k must be matched against the leads as rows 1..k-1 left them. `import_ids` holds
# every identity a row could meet, with the row number from which it is there
# (`at_rn`; 0: before the import): the live identities and aliases of the leads the
# file names ("known"), and the identities rows give their targets (an existing
# lead's empty, not hand-edited field; a new lead's first values). Starting from
# "every row creates its own lead", a pass recomputes every row's target with the
# spec's steps against the identities the current targets give, until no target
# changes. That fixed point is the one-by-one outcome: row 1 meets only the leads as
# they were, so the first pass gets it right, and once rows before k are right, the
# next pass gets row k right. Files settle in two or three passes; a pass costs a few
# hash joins over the staged rows.


def _key_join(step: Step, *, value: str, source: str) -> str:
    """SQL: the identity of a staged row `s` equals `value` (and `source` when the
    identity is per source)."""
    condition = f"{value} = s.{step.identity.field}"
    if step.identity.per_source:
        condition += f" AND {source} = s.source"
    return condition


def _known_leads(cursor, *, probe: bool) -> None:
    """The leads (and their aliases) any staged row names by any identity; `probe`:
    looked up row by row through the indexes (a batch's thousand rows against a big
    table), else joined (a file's rows, however many)."""
    lookups = []
    for step in MATCH_ORDER:
        field = step.identity.field
        if step.alias:
            join = _key_join(step, value="a.value", source="a.source")
            lookups.append(
                f"SELECT a.lead_id FROM leads_leadalias a JOIN {STAGING} s "
                f"ON a.kind = '{field}' AND {join}"
            )
        elif probe:
            join = _key_join(step, value=f"l.{field}", source="l.source")
            # OFFSET 0 keeps the subquery a per-row index lookup (never a hash join).
            lookups.append(
                f"SELECT l.id FROM {STAGING} s CROSS JOIN LATERAL (SELECT l.id FROM "
                f"leads_lead l WHERE {join} OFFSET 0) l WHERE s.{field} IS NOT NULL"
            )
        else:
            join = _key_join(step, value=f"l.{field}", source="l.source")
            lookups.append(f"SELECT l.id FROM leads_lead l JOIN {STAGING} s ON {join}")
    cursor.execute(f"CREATE TEMP TABLE import_known ON COMMIT DROP AS {' UNION '.join(lookups)}")
    cursor.execute(
        "CREATE TEMP TABLE import_ids (target bigint NOT NULL, alias boolean NOT NULL, "
        "kind text NOT NULL, source text NOT NULL, value text NOT NULL, "
        "at_rn integer NOT NULL, ord_at timestamptz NOT NULL, ord_rn integer NOT NULL) "
        "ON COMMIT DROP"
    )
    for ident in IDENTITIES:
        source = "l.source" if ident.per_source else "''"
        cursor.execute(
            f"INSERT INTO import_ids SELECT l.id, false, '{ident.field}', {source}, "
            f"l.{ident.field}, 0, l.created_at, 0 FROM leads_lead l "
            f"JOIN import_known k ON k.id = l.id WHERE l.{ident.field} IS NOT NULL"
        )
    cursor.execute(
        "INSERT INTO import_ids SELECT a.lead_id, true, a.kind, a.source, a.value, 0, "
        "l.created_at, 0 FROM leads_leadalias a JOIN import_known k ON k.id = a.lead_id "
        "JOIN leads_lead l ON l.id = a.lead_id"
    )


def _gains(cursor, *, now: datetime, analyze: bool, probe: bool) -> None:
    """The identities rows give their current targets, each from the first row that
    carries it (what capture_lead's create and fill would do)."""
    cursor.execute("DELETE FROM import_ids WHERE at_rn > 0")
    lead = (
        "LEFT JOIN LATERAL (SELECT * FROM leads_lead l WHERE l.id = s.target OFFSET 0) l ON true"
        if probe
        else "LEFT JOIN leads_lead l ON l.id = s.target"
    )
    for ident in IDENTITIES:
        field = ident.field
        # An external id is keyed by its lead's source: a new lead's is its first row's.
        source, creator = "''", ""
        if ident.per_source:
            source = "CASE WHEN s.target < 0 THEN c.source ELSE l.source END"
            creator = f"LEFT JOIN {STAGING} c ON c.rn = -s.target "
        cursor.execute(
            "INSERT INTO import_ids SELECT DISTINCT ON (s.target) s.target, false, "
            f"'{field}', {source}, s.{field}, s.rn, "
            "coalesce(l.created_at, %s), CASE WHEN s.target < 0 THEN -s.target ELSE 0 END "
            f"FROM {STAGING} s {lead} "
            f"{creator}"
            f"WHERE s.target IS NOT NULL AND NOT s.excluded AND s.{field} IS NOT NULL "
            "AND (s.target < 0 OR ("
            f"l.{field} IS NULL AND NOT ('{field}' = ANY(l.human_edited)) AND NOT EXISTS ("
            "SELECT 1 FROM leads_leadalias a WHERE a.lead_id = l.id "
            f"AND a.kind = '{field}' AND a.value = s.{field}))) "
            "ORDER BY s.target, s.rn",
            [now],
        )
    if analyze:  # the first pass's figures hold for the next ones
        cursor.execute("ANALYZE import_ids")


def _match_step(cursor, step: Step) -> None:
    """Rows no earlier step matched, matched by `step` against the identities before them."""
    ident = step.identity
    field = ident.field
    email_before = (
        "LEFT JOIN import_ids e ON e.target = i.target AND NOT e.alias AND e.kind = 'email' "
        "AND e.at_rn < s.rn "
    )
    needs_email = ident.conflicts_with_other_email or ident.emailless_lead_for_email_rows
    conflict = (
        "s.email IS NOT NULL AND e.value IS NOT NULL AND e.value <> s.email"
        if ident.conflicts_with_other_email
        else "false"
    )
    emailless = (
        "AND (s.email IS NULL OR e.value IS NULL) " if ident.emailless_lead_for_email_rows else ""
    )
    join = _key_join(step, value="i.value", source="i.source")
    cursor.execute(
        "INSERT INTO import_match SELECT DISTINCT ON (s.rn) s.rn, "
        f"CASE WHEN {conflict} THEN NULL ELSE i.target END, "
        f"CASE WHEN {conflict} THEN i.target END, '{field}' "
        f"FROM {STAGING} s JOIN import_ids i ON i.alias = {'true' if step.alias else 'false'} "
        f"AND i.kind = '{field}' AND {join} "
        f"AND i.at_rn < s.rn {email_before if needs_email else ''}"
        f"WHERE s.{field} IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM import_match m WHERE m.rn = s.rn) "
        f"{emailless}ORDER BY s.rn, i.ord_at, i.ord_rn, i.target"
    )


def _pass(cursor) -> int:
    """One matching pass over every row; how many rows changed target."""
    cursor.execute("TRUNCATE import_match")
    for step in MATCH_ORDER:
        _match_step(cursor, step)
    # A row no step matched creates its own lead.
    cursor.execute(
        f"UPDATE {STAGING} s SET target = n.target, conflict = n.conflict, "
        "conflict_kind = n.kind FROM (SELECT s.rn, CASE WHEN m.rn IS NULL THEN -s.rn "
        f"ELSE m.target END AS target, m.conflict, m.kind FROM {STAGING} s "
        "LEFT JOIN import_match m ON m.rn = s.rn) n WHERE s.rn = n.rn "
        "AND (s.target IS DISTINCT FROM n.target OR s.conflict IS DISTINCT FROM n.conflict)"
    )
    return cursor.rowcount


def match_rows(cursor, *, now: datetime, limit: int) -> list[Conflict]:
    """Point each staged row at the lead capturing the rows one by one would give it
    (`target`), and return the conflicting rows (at most `limit`)."""
    start_matching(cursor)
    settle(cursor, now=now)
    return conflicts(cursor, limit=limit)


def start_matching(cursor, *, probe: bool = False) -> None:
    """What matching needs once per staged set: the leads the rows name (`probe`: a few
    rows, looked up by index, see `_known_leads`)."""
    cursor.execute(f"ANALYZE {STAGING}")
    _known_leads(cursor, probe=probe)
    cursor.execute(
        "CREATE TEMP TABLE import_match (rn integer PRIMARY KEY, target bigint, "
        "conflict bigint, kind text) ON COMMIT DROP"
    )


def settle(cursor, *, now: datetime, probe: bool = False) -> None:
    """Matching passes until no row changes target (from wherever the targets are:
    the first row is right after one pass, the k-th after k at most)."""
    for number in range(MAX_PASSES):
        _gains(cursor, now=now, analyze=number == 0, probe=probe)
        if not _pass(cursor):
            return
    raise LeadFlowError(
        f"The rows of this file identify each other in chains over {MAX_PASSES} rows "
        "long (each row's lead decided by the row before); import it in smaller files."
    )


def conflicts(cursor, *, limit: int) -> list[Conflict]:
    """The rows matching a lead they conflict with, in row order (at most `limit`)."""
    cursor.execute(
        "SELECT rn, conflict, conflict_kind, CASE conflict_kind "
        + " ".join(f"WHEN '{i.field}' THEN {i.field}" for i in IDENTITIES)
        + f" END FROM {STAGING} WHERE conflict IS NOT NULL ORDER BY rn LIMIT %s",
        [limit],
    )
    found = []
    for rn, lead, kind, value in cursor.fetchall():
        if lead > 0:
            message = identity.conflict_message(kind, value, lead)
        else:
            message = (
                f"{identity.label(kind)} {value!r} would belong to two leads with different "
                f"email addresses (rows {-lead}, {rn}); give these rows one identity or "
                "remove one."
            )
        found.append(Conflict(rows=[rn], message=message, field=kind, lead=lead, value=value))
    return found


def drop_held_identities(cursor) -> None:
    """A row's identity that its (existing) lead holds as an alias is not filled in."""
    for ident in IDENTITIES:
        cursor.execute(
            f"UPDATE {STAGING} s SET {ident.field} = NULL FROM leads_leadalias a "
            f"WHERE s.target > 0 AND a.lead_id = s.target AND a.kind = '{ident.field}' "
            f"AND a.value = s.{ident.field}"
        )


def _first(column: str) -> str:
    return f"(array_agg({column} ORDER BY rn) FILTER (WHERE {column} IS NOT NULL))[1]"


def _last(column: str) -> str:
    return f"(array_agg({column} ORDER BY rn DESC) FILTER (WHERE {column} IS NOT NULL))[1]"


_FIRST_CUSTOM = (
    "(SELECT jsonb_object_agg(e.key, e.value) FROM (SELECT DISTINCT ON (e.key) e.key, e.value"
    " FROM unnest(array_agg(custom ORDER BY rn)) WITH ORDINALITY AS c(obj, n),"
    " jsonb_each(c.obj) AS e ORDER BY e.key, c.n) AS e)"
)


def _aggregate(
    cursor, *, table: str, key: str, where: str, source: bool, extra: tuple[str, ...] = ()
) -> None:
    """One row per `key` (the target) with each field's first non-empty value in
    file order and the last campaign (and the `extra` columns of its first row). Keys
    with a single row (the usual case) are copied without aggregating."""
    fields = [column_of(name) for name in FILL_FIELDS]
    plain = ", ".join([*fields, *extra])
    firsts = ", ".join(
        [
            *(f"{_first(column)} AS {column}" for column in fields),
            *(f"(array_agg({column} ORDER BY rn))[1] AS {column}" for column in extra),
        ]
    )
    cursor.execute(
        f"CREATE TEMP TABLE {table}_multi ON COMMIT DROP AS "
        f"SELECT {key} FROM {STAGING} WHERE {where} GROUP BY {key} HAVING count(*) > 1"
    )
    cursor.execute(
        f"CREATE TEMP TABLE {table} ON COMMIT DROP AS "
        f"SELECT {key}, rn AS first_rn, {plain}, campaign_id AS latest_campaign_id, custom"
        f"{', source' if source else ''} FROM {STAGING} s WHERE {where} AND NOT EXISTS "
        f"(SELECT 1 FROM {table}_multi m WHERE m.{key} = s.{key}) "
        f"UNION ALL SELECT {key}, min(rn), {firsts}, {_last('campaign_id')}, {_FIRST_CUSTOM}"
        f"{', (array_agg(source ORDER BY rn))[1]' if source else ''} "
        f"FROM {STAGING} WHERE {where} AND {key} IN (SELECT {key} FROM {table}_multi) "
        f"GROUP BY {key}"
    )


def _lead_insert(provided: dict[str, tuple[str, list]]) -> tuple[str, str, list]:
    """Column list, SELECT list and parameters for inserting leads: the `provided`
    (sql, params) per column, every other column from its model default (so a new
    Lead field needs no change here); PostgreSQL computes the generated ones."""
    columns, expressions, params = [], [], []
    for field in Lead._meta.concrete_fields:
        if field.generated:
            continue
        columns.append(field.column)
        if field.column in provided:
            sql, values = provided[field.column]
            expressions.append(sql)
            params.extend(values)
            continue
        default = field.get_default()  # "" for text without a default, like Django
        expressions.append(f"%s::{field.db_type(connection)}")
        params.append(field.get_db_prep_save(default, connection))
    return ", ".join(columns), ", ".join(expressions), params


def insert_new_leads(
    cursor,
    *,
    job_id: int | None,
    by_id: int | None,
    now: datetime,
    channel: str = "import",
    stage: str = "'new'",
) -> int:
    """The leads of the rows that create one (`stage`: its SQL, a staged column or a
    constant), each with its stage change and `captured` entry."""
    extra = ("stage",) if stage == "stage" else ()
    _aggregate(
        cursor, table="import_groups", key="target", where="target < 0", source=True, extra=extra
    )
    # Ids in file order (PostgreSQL evaluates nextval() after the sort).
    cursor.execute(
        "CREATE TEMP TABLE import_new ON COMMIT DROP AS SELECT "
        "nextval(pg_get_serial_sequence('leads_lead', 'id')) AS lead_id, g.* "
        "FROM import_groups g ORDER BY g.first_rn"
    )
    provided: dict[str, tuple[str, list]] = {"id": ("lead_id", [])}
    for name in FILL_FIELDS:
        column = column_of(name)
        field = Lead._meta.get_field(name)
        provided[column] = (column if field.null else f"coalesce({column}, '')", [])
    provided.update(
        source=("source", []),
        latest_campaign_id=("latest_campaign_id", []),
        custom=("coalesce(custom, '{}'::jsonb)", []),
        stage=(stage, []),
        import_job_id=("%s", [job_id]),
        created_at=("%s", [now]),
        updated_at=("%s", [now]),
        last_activity_at=("%s", [now]),
    )
    columns, expressions, params = _lead_insert(provided)
    cursor.execute(
        f"INSERT INTO leads_lead ({columns}) "
        f"SELECT {expressions} FROM import_new ORDER BY first_rn",
        params,
    )
    created = cursor.rowcount
    cursor.execute(
        first_stages_sql("import_new", lead_id="lead_id", stage=stage), [now, by_id, channel]
    )
    cursor.execute(
        "INSERT INTO leads_activity (lead_id, kind, occurred_at, user_id, key, data, created_at) "
        "SELECT lead_id, 'captured', %s, %s, NULL, jsonb_strip_nulls(jsonb_build_object("
        "'channel', %s, 'created', true, 'import_job', %s)), %s FROM import_new",
        [now, by_id, channel, job_id, now],
    )
    return created


def _fill_condition(name: str) -> str:
    column = column_of(name)
    field = Lead._meta.get_field(name)
    empty = f"l.{column} IS NULL" if field.null else f"l.{column} = ''"
    return f"({empty} AND u.{column} IS NOT NULL AND NOT ('{name}' = ANY(l.human_edited)))"


_NEW_CUSTOM_KEYS = (
    "FROM jsonb_each(u.custom) AS e WHERE NOT (l.custom ? e.key) "
    "AND NOT ('custom.' || e.key = ANY(l.human_edited))"
)


def fill_existing_leads(
    cursor, *, job_id: int | None, by_id: int | None, now: datetime, channel: str = "import"
) -> int:
    _aggregate(cursor, table="import_fill", key="target", where="target > 0", source=False)
    cursor.execute("SELECT count(*) FROM import_fill")
    (touched,) = cursor.fetchone()
    if not touched:
        return 0
    # Lock them in a stable order, like capture_lead's SELECT ... FOR UPDATE.
    cursor.execute(
        "SELECT l.id FROM leads_lead l JOIN import_fill u ON u.target = l.id "
        "ORDER BY l.id FOR UPDATE OF l"
    )
    values = ", ".join(
        f"('{name}', to_jsonb(l.{column_of(name)}), to_jsonb(u.{column_of(name)}), "
        f"{_fill_condition(name)})"
        for name in FILL_FIELDS
    )
    cursor.execute(
        "CREATE TEMP TABLE import_changes ON COMMIT DROP AS "
        "SELECT l.id AS lead_id, c.field, c.old_value, c.new_value "
        "FROM leads_lead l JOIN import_fill u ON u.target = l.id "
        f"CROSS JOIN LATERAL (VALUES {values}, ('latest_campaign', "
        "to_jsonb(l.latest_campaign_id), to_jsonb(u.latest_campaign_id), "
        "u.latest_campaign_id IS NOT NULL "
        "AND l.latest_campaign_id IS DISTINCT FROM u.latest_campaign_id)) "
        "AS c(field, old_value, new_value, fill) WHERE c.fill "
        "UNION ALL SELECT l.id, 'custom.' || e.key, NULL::jsonb, e.value "
        "FROM leads_lead l JOIN import_fill u ON u.target = l.id "
        "CROSS JOIN LATERAL jsonb_each(u.custom) AS e "
        "WHERE NOT (l.custom ? e.key) AND NOT ('custom.' || e.key = ANY(l.human_edited))"
    )
    sets = ", ".join(
        f"{column_of(name)} = CASE WHEN {_fill_condition(name)} "
        f"THEN u.{column_of(name)} ELSE l.{column_of(name)} END"
        for name in FILL_FIELDS
    )
    cursor.execute(
        f"UPDATE leads_lead l SET {sets}, "
        "latest_campaign_id = coalesce(u.latest_campaign_id, l.latest_campaign_id), "
        "custom = l.custom || coalesce((SELECT jsonb_object_agg(e.key, e.value) "
        f"{_NEW_CUSTOM_KEYS}), '{{}}'::jsonb), "
        "last_activity_at = GREATEST(l.last_activity_at, %s), updated_at = %s "
        "FROM import_fill u WHERE l.id = u.target",
        [now, now],
    )
    cursor.execute(
        "INSERT INTO leads_fieldchange (lead_id, field, old_value, new_value, changed_at, "
        "changed_by_id, channel, import_job_id) SELECT lead_id, field, old_value, new_value, "
        "%s, %s, %s, %s FROM import_changes",
        [now, by_id, channel, job_id],
    )
    cursor.execute(
        "INSERT INTO leads_activity (lead_id, kind, occurred_at, user_id, key, data, created_at) "
        "SELECT u.target, 'captured', %s, %s, NULL, jsonb_strip_nulls(jsonb_build_object("
        "'channel', %s, 'created', false, 'filled', coalesce(c.fields, '[]'::jsonb), "
        "'import_job', %s)), %s "
        "FROM import_fill u LEFT JOIN (SELECT lead_id, jsonb_agg(field ORDER BY field) AS fields "
        "FROM import_changes GROUP BY lead_id) c ON c.lead_id = u.target",
        [now, by_id, channel, job_id, now],
    )
    return touched


def rows_with(cursor, column: str, values: Iterable[str], *, limit: int) -> list[int]:
    """Row numbers of staged rows whose `column` is one of `values` (for error messages)."""
    cursor.execute(
        f"SELECT rn FROM {STAGING} WHERE {column} = ANY(%s) ORDER BY rn LIMIT %s",
        [list(values), limit],
    )
    return [rn for (rn,) in cursor.fetchall()]
