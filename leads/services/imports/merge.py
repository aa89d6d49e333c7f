"""The set-based import: the bulk form of `leads.services.capture_lead`'s rules.

KEEP IN SYNC with `capture_lead` (tests/test_imports.py checks that an import and
capture_lead give the same leads for the same rows). The rules, row by row there
and set by set here:

- Identity: a row matches an existing lead by its normalised email, else by
  (source, external id), else by phone (the earliest lead with that phone, and
  for a row with an email only a lead without one). An external id that belongs
  to a lead with another email is a conflict (a row error here).
- Rows of the file that match no lead are grouped by the same identity order:
  one new lead per email; a row without email joins the group with its
  (source, external id), and a row with only a phone the first group with that
  phone. A row that shares an identity with a row that matched an existing lead
  joins that lead.
- A new lead takes, per field, the first non-empty value of its rows in file
  order (what capturing them one by one gives: the first creates it, the next
  ones fill its empty fields); stage `new` with a `StageChange` ("" → new), a
  `captured` Activity, `latest_campaign` = its last campaign, `import_job` set.
- An existing lead only gets EMPTY fields filled (and absent custom keys), never
  a field listed in `Lead.human_edited`; first-touch `campaign` is filled when
  empty, `latest_campaign` set to the rows' last campaign. Each filled field is a
  `FieldChange` (channel "import", with the job): that is what undo reverts.

Matching is against the leads as they were when the import started. In rare
chains (a row that would only match, by phone, a lead that an earlier row of the
same file gave its email) the outcome can differ from capturing the rows one by
one; when that would give two leads one email or external id, the import fails
with a row error instead. One `captured` activity is written per lead touched,
not per row.

Everything runs in the caller's transaction: rows are COPYed into a TEMP staging
table in chunks, then merged with INSERT … SELECT / UPDATE … FROM.
"""

# The SQL is assembled from this module's constants and model metadata only; every
# value from a file or a person travels as a query parameter or through COPY.
# ruff: noqa: S608

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from leads.models import Lead
from leads.services.identity import CSV_FILLABLE_FIELDS
from leads.services.imports.rows import STAGED, column_of

STAGING = "import_rows"
COPY_CHUNK_ROWS = 20_000

# Lead fields an import fills: the capture spec's fillable fields that a CSV can carry.
FILL_FIELDS = CSV_FILLABLE_FIELDS


@dataclass(frozen=True)
class MergeResult:
    created: int
    updated: int


@dataclass(frozen=True)
class Conflict:
    rows: list[int]
    message: str


def create_staging(cursor) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in STAGED)
    cursor.execute(
        f"CREATE TEMP TABLE {STAGING} (rn integer NOT NULL, {columns}, "
        "lead_id bigint, grp text) ON COMMIT DROP"
    )


class StagingWriter:
    """Buffers staged rows as CSV text and COPYs them in chunks of COPY_CHUNK_ROWS."""

    def __init__(self, cursor):
        self.cursor = cursor
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")
        self.pending = 0
        columns = ", ".join(["rn", *(name for name, _ in STAGED)])
        self.sql = f"COPY {STAGING} ({columns}) FROM STDIN WITH (FORMAT csv)"

    def add(self, row: int, values: list) -> None:
        # Empty text is never staged (None → NULL), so csv's unquoted "" reads as NULL.
        self.writer.writerow([row, *values])
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


def _first(column: str) -> str:
    return f"(array_agg({column} ORDER BY rn) FILTER (WHERE {column} IS NOT NULL))[1]"


def _last(column: str) -> str:
    return f"(array_agg({column} ORDER BY rn DESC) FILTER (WHERE {column} IS NOT NULL))[1]"


_FIRST_CUSTOM = (
    "(SELECT jsonb_object_agg(e.key, e.value) FROM (SELECT DISTINCT ON (e.key) e.key, e.value"
    " FROM unnest(array_agg(custom ORDER BY rn)) WITH ORDINALITY AS c(obj, n),"
    " jsonb_each(c.obj) AS e ORDER BY e.key, c.n) AS e)"
)


def _aggregate(cursor, *, table: str, key: str, where: str, source: bool) -> None:
    """One row per `key` (grp or lead_id) with each field's first non-empty value in
    file order and the last campaign. Keys with a single row (the usual case) are
    copied without aggregating."""
    fields = [column_of(name) for name in FILL_FIELDS]
    plain = ", ".join(fields)
    firsts = ", ".join(f"{_first(column)} AS {column}" for column in fields)
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


def match_existing(cursor, *, limit: int) -> list[Conflict]:
    """Point each staged row at the lead capture_lead would find (lead_id), and return
    the rows whose external id belongs to a lead with another email."""
    cursor.execute(f"ANALYZE {STAGING}")
    cursor.execute(
        f"UPDATE {STAGING} s SET lead_id = l.id FROM leads_lead l "
        "WHERE s.email IS NOT NULL AND l.email = s.email"
    )
    cursor.execute(
        f"SELECT s.rn, s.external_id, l.id FROM {STAGING} s JOIN leads_lead l "
        "ON l.source = s.source AND l.external_id = s.external_id "
        "WHERE s.lead_id IS NULL AND s.email IS NOT NULL AND l.email IS NOT NULL "
        "AND l.email <> s.email ORDER BY s.rn LIMIT %s",
        [limit],
    )
    conflicts = [
        Conflict(
            rows=[rn],
            message=f"External id {external_id!r} already belongs to lead {lead_id} "
            "with another email address.",
        )
        for rn, external_id, lead_id in cursor.fetchall()
    ]
    cursor.execute(
        f"UPDATE {STAGING} s SET lead_id = l.id FROM leads_lead l "
        "WHERE s.lead_id IS NULL AND s.external_id IS NOT NULL "
        "AND l.source = s.source AND l.external_id = s.external_id "
        "AND (s.email IS NULL OR l.email IS NULL)"
    )
    for with_email in (False, True):
        # The earliest lead with the phone; a row with an email only takes one without.
        cursor.execute(
            f"UPDATE {STAGING} s SET lead_id = p.id FROM ("
            "SELECT DISTINCT ON (l.phone) l.phone, l.id FROM leads_lead l "
            f"WHERE l.phone IN (SELECT phone FROM {STAGING} WHERE lead_id IS NULL "
            f"AND phone IS NOT NULL AND email IS {'NOT ' if with_email else ''}NULL) "
            f"{'AND l.email IS NULL ' if with_email else ''}"
            "ORDER BY l.phone, l.created_at, l.id) p "
            f"WHERE s.lead_id IS NULL AND s.phone = p.phone "
            f"AND s.email IS {'NOT ' if with_email else ''}NULL"
        )
    return conflicts


def group_new(cursor) -> None:
    """Join rows to the lead another row of theirs matched, and group the rest (grp)."""
    joins = (
        ("email IS NOT NULL", "email", "s.email = m.email", "email"),
        ("external_id IS NOT NULL", "source, external_id",
         "s.email IS NULL AND s.source = m.source AND s.external_id = m.external_id",
         "source, external_id"),
        ("phone IS NOT NULL", "phone",
         "s.email IS NULL AND s.external_id IS NULL AND s.phone = m.phone", "phone"),
    )  # fmt: skip
    for has, distinct, condition, columns in joins:
        cursor.execute(
            f"UPDATE {STAGING} s SET lead_id = m.lead_id FROM ("
            f"SELECT DISTINCT ON ({distinct}) {columns}, lead_id FROM {STAGING} "
            f"WHERE lead_id IS NOT NULL AND {has} ORDER BY {distinct}, rn) m "
            f"WHERE s.lead_id IS NULL AND {condition}"
        )
    cursor.execute(
        f"UPDATE {STAGING} SET grp = 'e:' || email WHERE lead_id IS NULL AND email IS NOT NULL"
    )
    cursor.execute(
        f"UPDATE {STAGING} s SET grp = m.grp FROM ("
        f"SELECT DISTINCT ON (source, external_id) source, external_id, grp FROM {STAGING} "
        "WHERE grp IS NOT NULL AND external_id IS NOT NULL ORDER BY source, external_id, rn) m "
        "WHERE s.lead_id IS NULL AND s.grp IS NULL AND s.source = m.source "
        "AND s.external_id = m.external_id"
    )
    cursor.execute(
        f"UPDATE {STAGING} SET grp = 'x:' || source || ':' || external_id "
        "WHERE lead_id IS NULL AND grp IS NULL AND external_id IS NOT NULL"
    )
    cursor.execute(
        f"UPDATE {STAGING} s SET grp = m.grp FROM ("
        f"SELECT DISTINCT ON (phone) phone, grp FROM {STAGING} "
        "WHERE grp IS NOT NULL AND phone IS NOT NULL ORDER BY phone, rn) m "
        "WHERE s.lead_id IS NULL AND s.grp IS NULL AND s.phone = m.phone"
    )
    cursor.execute(
        f"UPDATE {STAGING} SET grp = 'p:' || phone WHERE lead_id IS NULL AND grp IS NULL"
    )


def _lead_insert(provided: dict[str, tuple[str, list]]) -> tuple[str, str, list]:
    """Column list, SELECT list and parameters for inserting leads: the `provided`
    (sql, params) per column, every other column from its model default (so a new
    Lead field needs no change here)."""
    columns, expressions, params = [], [], []
    for field in Lead._meta.concrete_fields:
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


def insert_new_leads(cursor, *, job_id: int, by_id: int | None, now: datetime) -> int:
    _aggregate(cursor, table="import_groups", key="grp", where="lead_id IS NULL", source=True)
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
        stage=("'new'", []),
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
        "INSERT INTO leads_stagechange (lead_id, from_stage, to_stage, changed_at, "
        "changed_by_id, reason) SELECT lead_id, '', 'new', %s, %s, 'import' FROM import_new",
        [now, by_id],
    )
    cursor.execute(
        "INSERT INTO leads_activity (lead_id, kind, occurred_at, user_id, key, data, created_at) "
        "SELECT lead_id, 'captured', %s, %s, NULL, jsonb_build_object('channel', 'import', "
        "'created', true, 'import_job', %s), %s FROM import_new",
        [now, by_id, job_id, now],
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


def fill_existing_leads(cursor, *, job_id: int, by_id: int | None, now: datetime) -> int:
    _aggregate(
        cursor, table="import_fill", key="lead_id", where="lead_id IS NOT NULL", source=False
    )
    cursor.execute("SELECT count(*) FROM import_fill")
    (touched,) = cursor.fetchone()
    if not touched:
        return 0
    # Lock them in a stable order, like capture_lead's SELECT ... FOR UPDATE.
    cursor.execute(
        "SELECT l.id FROM leads_lead l JOIN import_fill u ON u.lead_id = l.id "
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
        "FROM leads_lead l JOIN import_fill u ON u.lead_id = l.id "
        f"CROSS JOIN LATERAL (VALUES {values}, ('latest_campaign', "
        "to_jsonb(l.latest_campaign_id), to_jsonb(u.latest_campaign_id), "
        "u.latest_campaign_id IS NOT NULL "
        "AND l.latest_campaign_id IS DISTINCT FROM u.latest_campaign_id)) "
        "AS c(field, old_value, new_value, fill) WHERE c.fill "
        "UNION ALL SELECT l.id, 'custom.' || e.key, NULL::jsonb, e.value "
        "FROM leads_lead l JOIN import_fill u ON u.lead_id = l.id "
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
        "last_activity_at = %s, updated_at = %s FROM import_fill u WHERE l.id = u.lead_id",
        [now, now],
    )
    cursor.execute(
        "INSERT INTO leads_fieldchange (lead_id, field, old_value, new_value, changed_at, "
        "changed_by_id, channel, import_job_id) SELECT lead_id, field, old_value, new_value, "
        "%s, %s, 'import', %s FROM import_changes",
        [now, by_id, job_id],
    )
    cursor.execute(
        "INSERT INTO leads_activity (lead_id, kind, occurred_at, user_id, key, data, created_at) "
        "SELECT u.lead_id, 'captured', %s, %s, NULL, jsonb_build_object('channel', 'import', "
        "'created', false, 'filled', coalesce(c.fields, '[]'::jsonb), 'import_job', %s), %s "
        "FROM import_fill u LEFT JOIN (SELECT lead_id, jsonb_agg(field ORDER BY field) AS fields "
        "FROM import_changes GROUP BY lead_id) c ON c.lead_id = u.lead_id",
        [now, by_id, job_id, now],
    )
    return touched


def rows_with(cursor, column: str, values: Iterable[str], *, limit: int) -> list[int]:
    """Row numbers of staged rows whose `column` is one of `values` (for error messages)."""
    cursor.execute(
        f"SELECT rn FROM {STAGING} WHERE {column} = ANY(%s) ORDER BY rn LIMIT %s",
        [list(values), limit],
    )
    return [rn for (rn,) in cursor.fetchall()]
