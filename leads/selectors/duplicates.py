"""Likely duplicates among the leads a user sees."""

from __future__ import annotations

from dataclasses import dataclass

from leads.models import Lead
from leads.selectors.visibility import leads_visible_to


@dataclass(frozen=True)
class DuplicatePair:
    lead: Lead
    other: Lead
    reasons: str


@dataclass(frozen=True)
class Duplicates:
    pairs: list[DuplicatePair]
    checked_from: int | None  # the oldest lead id checked, when older leads remain to check


# Local parts of email addresses that say nothing about the person.
_ROLE_ADDRESSES = ("info", "sales", "contact", "admin", "hello", "office", "support", "team")


# How many of the newest leads one look at the duplicates compares with all older ones.
DUPLICATE_WINDOW = 100_000


def _matches(pair: str) -> str:
    """The page's three tests of "the same person" between lead `b` and the leads `a`
    where `pair` holds (`a.id < b.id` for pairs, `a.id <> b.id` for one lead's matches),
    as rows (a_id, reason); its parameter: the role addresses."""
    return f"""
        SELECT a.id AS a_id, 'same phone' AS reason FROM leads_lead a
        WHERE a.phone = b.phone AND {pair}
        UNION ALL
        SELECT a.id, 'same name and company' FROM leads_lead a
        WHERE lower(a.first_name) = lower(b.first_name)
          AND lower(a.last_name) = lower(b.last_name)
          AND a.company_domain = b.company_domain AND {pair}
          AND b.first_name <> '' AND b.last_name <> '' AND b.company_domain <> ''
        UNION ALL
        SELECT a.id, 'similar email' FROM leads_lead a
        WHERE split_part(a.email, '@', 1) = split_part(b.email, '@', 1)
          AND lower(a.last_name) = lower(b.last_name) AND {pair}
          AND length(split_part(b.email, '@', 1)) >= 4 AND b.last_name <> ''
          AND NOT (split_part(b.email, '@', 1) = ANY(%s))"""  # noqa: S608 - our own SQL


def duplicate_suggestions(
    user, *, limit: int = 50, before: int | None = None, window: int | None = None
) -> Duplicates:
    """Likely duplicates among the leads `user` sees: same phone, same name at the same
    company domain, or the same email name with the same last name, minus pairs a person
    said are different. Each of the newest `window` leads (below id `before`) is looked
    up against every older lead through indexes, newest first, stopping at `limit`
    pairs: the cost follows the window, never the square of the table."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    try:
        visible, params = leads_visible_to(user).values("pk").query.sql_with_params()
    except EmptyResultSet:
        return Duplicates([], None)
    below = before if before is not None else 2**63 - 1
    window = window or DUPLICATE_WINDOW
    # `visible` is SQL compiled by the ORM; values travel as parameters.
    low_sql = (
        f"SELECT min(id) FROM (SELECT id FROM ({visible}) v(id) WHERE id < %s "  # noqa: S608
        "ORDER BY id DESC LIMIT %s) w"
    )
    older_sql = f"SELECT EXISTS (SELECT 1 FROM ({visible}) v(id) WHERE id < %s)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(low_sql, [*params, below, window])
        (low,) = cursor.fetchone()
        if low is None:
            return Duplicates([], None)
        cursor.execute(older_sql, [*params, low])
        (older,) = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT p.a_id, b.id, p.reasons
            FROM leads_lead b
            CROSS JOIN LATERAL (
                SELECT m.a_id, string_agg(DISTINCT m.reason, ', ' ORDER BY m.reason) AS reasons
                FROM (
                    {_matches("a.id < b.id")}
                ) m
                WHERE m.a_id IN ({visible})
                  AND NOT EXISTS (SELECT 1 FROM leads_notduplicate n
                                  WHERE n.lead_a_id = m.a_id AND n.lead_b_id = b.id)
                GROUP BY m.a_id
            ) p
            WHERE b.id >= %s AND b.id < %s AND b.id IN ({visible})
            ORDER BY b.id DESC, p.a_id DESC
            LIMIT %s
            """,  # noqa: S608 - `visible` is SQL compiled by the ORM; values are parameters
            [list(_ROLE_ADDRESSES), *params, low, below, *params, limit],
        )
        rows = cursor.fetchall()
    ids = {i for a, b, _ in rows for i in (a, b)}
    leads = Lead.objects.select_related("campaign", "owner").in_bulk(ids)
    pairs = [DuplicatePair(leads[a], leads[b], reasons) for a, b, reasons in rows]
    return Duplicates(pairs, low if older else None)


def likely_duplicate_of(lead_id: int) -> tuple[int, str] | None:
    """The likeliest other lead that is the same person as `lead_id` (by the page's
    tests: same phone, same name at the same company domain, the same email name with
    the same last name), with why; None when there is none. Merged-away leads and pairs
    a person said are different are left out."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT m.a_id, string_agg(DISTINCT m.reason, ', ' ORDER BY m.reason), count(*)
            FROM leads_lead b
            CROSS JOIN LATERAL (
                {_matches("a.id <> b.id")}
            ) m
            JOIN leads_lead o ON o.id = m.a_id AND o.merged_into_id IS NULL
            WHERE b.id = %s AND NOT EXISTS (
                SELECT 1 FROM leads_notduplicate n
                WHERE n.lead_a_id = least(b.id, m.a_id) AND n.lead_b_id = greatest(b.id, m.a_id))
            GROUP BY m.a_id ORDER BY count(*) DESC, m.a_id LIMIT 1
            """,  # noqa: S608 - _matches is our own SQL; values are parameters
            [list(_ROLE_ADDRESSES), lead_id],
        )
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


def reported_duplicates(user) -> list:
    """Open reports of duplicates among the leads `user` sees, newest first, with their
    leads (both must be visible; a match the user may not see is not named)."""
    from leads.models import DuplicateReport

    visible = leads_visible_to(user).values("pk")
    reports = list(
        DuplicateReport.objects.filter(resolved_at__isnull=True, lead__in=visible)
        .select_related("lead", "other", "reported_by")
        .order_by("-reported_at", "-pk")[:200]
    )
    seen = set(leads_visible_to(user).filter(pk__in=[r.other_id for r in reports if r.other_id])
               .values_list("pk", flat=True))  # fmt: skip
    for report in reports:
        if report.other_id not in seen:
            report.other = None
    return reports
