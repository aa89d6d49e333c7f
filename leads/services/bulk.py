"""Bulk changes: set-based SQL over any queryset of leads (a selection or a whole filter)."""

from __future__ import annotations

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Q

from leads.models import Lead


def target_sql(leads, exclude: Q | None = None) -> tuple[str, tuple] | None:
    """SQL selecting the ids of `leads` (minus `exclude`), for use inside IN (...);
    None when the queryset can match nothing (e.g. a user who sees no lead)."""
    ids = Lead.objects.filter(pk__in=leads.order_by().values("pk"))
    if exclude is not None:
        ids = ids.exclude(exclude)
    try:
        return ids.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:
        return None


def execute_on_targets(leads, exclude: Q | None, sql: str, before: list, after: list) -> int:
    """Run `sql` in a transaction with `{target}` replaced by the ids of `leads` minus
    `exclude` (SQL the ORM compiled, never user text); `before` / `after` are the
    parameters around the target's own."""
    compiled = target_sql(leads, exclude)
    if compiled is None:
        return 0
    target, params = compiled
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.format(target=target), [*before, *params, *after])
        return cursor.rowcount
