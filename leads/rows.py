"""Model instances from raw rows, as the ORM would make them, for the hot paths that
write their own SQL (capture reads a lead, its campaign and the custom fields on every
request). `Lead.objects.raw()` and a QuerySet work out the columns and each field's
database converters again for every query — a tenth of a capture's CPU; a `reader`
does it once per process. And `execute_prepared`: such a statement parsed and planned
once per database connection instead of at every call."""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Callable
from functools import cache, lru_cache

from django.db import connection, models


@cache
def reader(model: type[models.Model], alias: str) -> tuple[str, Callable[[list], models.Model]]:
    """The model's columns as SQL (each `alias.column`) and the function making an
    instance of their values (JSON decoded, every converter the ORM would apply)."""
    fields = model._meta.concrete_fields
    names = [f.attname for f in fields]
    converters = []
    for i, field in enumerate(fields):
        col = field.get_col(alias)
        found = [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]
        if found:
            converters.append((i, col, found))

    def make(values: list) -> models.Model:
        values = list(values)
        for i, col, found in converters:
            for converter in found:
                values[i] = converter(values[i], col, connection)
        return model.from_db(connection.alias, names, values)

    columns = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)
    return columns, make


def fetch(model: type[models.Model], sql: str, params: list) -> list[models.Model]:
    """Instances of `model` from `sql`, a statement with `{columns}` where the model's
    columns go (table alias `t`)."""
    columns, make = reader(model, "t")
    with connection.cursor() as cursor:
        cursor.execute(sql.format(columns=columns), params)
        return [make(row) for row in cursor.fetchall()]


def fetch_together(*queries: tuple[type[models.Model], str, list]) -> list[list[models.Model]]:
    """`fetch` for several models in one prepared statement (one round trip, not one a model):
    each query is (model, the rest of its SELECT after `FROM <its table> t`, params),
    the instances of each in a list, in the queries' order. A UNION ALL whose branches
    each fill their own model's columns and leave the others' NULL."""
    widths = [len(model._meta.concrete_fields) for model, _, _ in queries]
    branches, params = [], []
    for n, (model, rest, query_params) in enumerate(queries):
        before, after = sum(widths[:n]), sum(widths[n + 1 :])
        columns = ", ".join(["NULL"] * before + [reader(model, "t")[0]] + ["NULL"] * after)
        # The callers' own SQL and the models' tables; values travel as parameters.
        branches.append(f"(SELECT {n}, {columns} FROM {model._meta.db_table} t {rest})")  # noqa: S608
        params.extend(query_params)
    found: list[list[models.Model]] = [[] for _ in queries]
    with connection.cursor() as cursor:
        execute_prepared(cursor, " UNION ALL ".join(branches), params)
        for n, *values in cursor.fetchall():
            start = sum(widths[:n])
            found[n].append(reader(queries[n][0], "t")[1](values[start : start + widths[n]]))
    return found


# The statements each database connection (psycopg2's) has prepared, by name.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PLACEHOLDER = re.compile(r"%%|%s")


@lru_cache(maxsize=256)
def _preparation(sql: str) -> tuple[str, str]:
    """The prepared statement's name (from the SQL, so each shape has its own) and its
    PREPARE, the `%s` placeholders numbered."""
    name = "lf_" + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:20]
    numbers = iter(range(1, sql.count("%s") + 1))
    body = _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)
    return name, f"PREPARE {name} AS {body}"


def execute_prepared(cursor, sql: str, params: list) -> None:
    """`cursor.execute(sql, params)` as a prepared statement of the cursor's connection:
    prepared (PREPARE, on the driver's own cursor: not one of the request's queries)
    the first time the connection runs it, then only EXECUTEd. For the statements of
    every capture: parsing and planning them cost PostgreSQL several times what running
    them does (find_lead's match: 1.5 ms of the server's CPU as text, 0.2 ms prepared).
    The parameters' types are those PostgreSQL infers from where they stand (a column
    compared or written); cast one where it cannot tell. Prepared statements live as
    long as the connection (not its transactions), so this needs a connection of its
    own, not one a pooler in transaction mode shares."""
    name, prepare = _preparation(sql)
    raw = cursor.db.connection
    done = _prepared.get(raw)
    if done is None:
        done = _prepared[raw] = set()
    if name not in done:
        with raw.cursor() as driver:
            driver.execute(prepare)
        done.add(name)
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    cursor.execute(f"EXECUTE {name}{arguments}", params)
