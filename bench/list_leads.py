"""The lead list at scale: the list page's queries over N leads (default 1,000,000).

For each list the page shows (a filter, a sort, a search, a later page) this times the
product's code path — LeadFilter, the keyset paginator of leads.api, the rows with their
joins, and the count the page shows with them (leads.selectors.list_count: exact up to
10,000, else an estimate, the planner's or a sample's) — and, alternately in the same
run, the same work the same way as hand-written SQL. One row each: p95 over `--repeat`
runs (default 20).

    make bench BENCH_ARGS="list_leads --rows 1000000"
"""

# The hand-written SQL is assembled from this module's own constants.
# ruff: noqa: S608

from __future__ import annotations

import math
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.http import QueryDict
from django.test import RequestFactory
from rest_framework.request import Request

from bench._results import Row, explained, judged, option, side_by_side
from leads.api.leads import LeadCursorPagination
from leads.filters import LeadFilter
from leads.selectors import EXACT_UP_TO, lead_list, list_count
from leads.selectors.counts import ESTIMATE_TRUSTED_ABOVE, SAMPLE_FROM, SAMPLE_ROWS

REPEAT = 20
TARGET_SECONDS = 0.1
TARGET = "p95 < 100 ms"


def _rows(options: list[str]) -> int:
    return option(options, "--rows", 1_000_000)


def _populate(n: int) -> None:
    """N leads in one set-based INSERT (not timed): realistic spread of stages, sources,
    campaigns, owners, scores and creation dates over two years."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_campaign (code, name, channel, cost, created_at) "
            "SELECT 'c' || g, 'Campaign ' || g, 'webinar', 1000, now() "
            "FROM generate_series(1, 20) g"
        )
        cursor.execute(
            """
            INSERT INTO leads_lead (
                email, phone, external_id, first_name, last_name, title, company, company_domain,
                website, company_size, industry, country, time_zone, source, campaign_id,
                latest_campaign_id, owner_id, stage, need, timeline, consent_status,
                consent_method, fit, engagement, score, grade, converted, custom, human_edited,
                created_at, updated_at, in_handoff
            )
            SELECT
                'person' || g || '@company' || (g %% 5000) || '.com',
                CASE WHEN g %% 3 = 0 THEN '+1415555' || lpad((g %% 10000)::text, 4, '0') END,
                NULL,
                (ARRAY['Ada','Bo','Cy','Di','Ed','Flo','Gus','Hal'])[1 + g %% 8],
                'Surname' || (g %% 20000),
                (ARRAY['CTO','VP Marketing','Analyst','Student','Founder'])[1 + g %% 5],
                'Company ' || (g %% 5000), 'company' || (g %% 5000) || '.com', '',
                10 + g %% 5000, 'Software', 'US', '',
                (ARRAY['web_form', 'trade_show', 'webinar', 'organic', 'paid_search',
                       'referral'])[1 + g %% 6],
                (SELECT min(id) FROM leads_campaign) + g %% 20,
                (SELECT min(id) FROM leads_campaign) + g %% 20,
                NULL,
                (ARRAY['new','nurturing','mql','sal','sql','opportunity','won','lost',
                       'disqualified'])[1 + (g * 7) %% 9],
                '', '', 'unknown', '', g %% 100, (g %% 100)::float, g %% 100,
                (ARRAY['A','B','C','D'])[1 + g %% 4], NULL, '{}'::jsonb, '{}',
                now() - (g %% 730) * interval '1 day' - (g %% 86400) * interval '1 second',
                now(), false
            FROM generate_series(1, %s) g
            """,
            [n],
        )
        cursor.execute("VACUUM ANALYZE leads_lead")


NEWEST = "l.created_at DESC, l.id DESC"
SCORE = "l.score DESC, l.id DESC"
# The text sorts' keys (blanks last either way), written as the indexes on them are
# (leads.models.leads TEXT_SORT_KEYS, compiled by Django: the planner matches the tree).
_NAME_KEY = (
    "CASE WHEN (l.first_name = '' AND l.last_name = '') THEN '{blank}' ELSE "
    "(COALESCE('{mark}', '') || COALESCE((COALESCE(LOWER(l.last_name), '') || "
    "COALESCE((COALESCE(' ', '') || COALESCE(LOWER(l.first_name), '')), '')), '')) END"
)
_COMPANY_KEY = (
    "CASE WHEN l.company = '' THEN '{blank}' ELSE "
    "(COALESCE('{mark}', '') || COALESCE(LOWER(l.company), '')) END"
)
BY_NAME = f"{_NAME_KEY.format(blank='1', mark='0')}, l.id"
BY_NAME_DESC = f"{_NAME_KEY.format(blank='0', mark='1')} DESC, l.id DESC"
BY_COMPANY = f"{_COMPANY_KEY.format(blank='1', mark='0')}, l.id"
# The leads a list shows (leads.selectors.visibility): neither merged nor erased.
LIVE = "l.merged_into_id IS NULL AND l.erased_at IS NULL"


@dataclass
class Case:
    """One list the page shows: its query string, and the same list by hand (WHERE
    beyond LIVE, its parameters, ORDER BY; for a search, its whole text-search query and
    what the GIN index is asked, as leads.selectors.search makes them)."""

    key: str
    work: str
    query: str
    where: str = ""
    params: tuple = ()
    order: str = NEWEST
    later_page: bool = False  # the page after the first (its position is counted too)
    keyset: tuple[str, str] = ("created_at", "id")  # `order`'s columns, for a later page
    search: str = ""
    indexed: str = ""


def _search(key: str, work: str, query: str, whole: str, indexed: str = "") -> Case:
    return Case(key, work, query, search=whole, indexed=indexed or whole)


CASES = [
    Case("newest", "newest first, no filter", ""),
    Case("stage", "stage = mql", "stage=mql", "AND l.stage = 'mql'"),
    Case("filters", "stage = mql, source = webinar, score ≥ 50",
         "stage=mql&source=webinar&score_min=50",
         "AND l.stage = 'mql' AND l.source = 'webinar' AND l.score >= 50"),
    Case("newest-page-2", "newest first, the second page (its position counted)", "",
         later_page=True),
    Case("sort-score", "sorted by score", "sort=score", order=SCORE),
    Case("sort-score-page-2", "sorted by score, the second page (its position counted)",
         "sort=score", order=SCORE, later_page=True, keyset=("score", "id")),
    Case("sort-score-stage", "stage = mql, sorted by score", "stage=mql&sort=score",
         "AND l.stage = 'mql'", order=SCORE),
    Case("sort-score-low", "sorted by lowest score", "sort=-score", order="l.score, l.id"),
    Case("sort-name", "sorted by name", "sort=name", order=BY_NAME),
    Case("sort-name-desc", "sorted by name, Z to A", "sort=-name", order=BY_NAME_DESC),
    Case("sort-company", "sorted by company", "sort=company", order=BY_COMPANY),
    _search("search-surname", "search 'surname1234' (a last-name prefix)",
            "search=surname1234", "surname1234:*"),
    _search("search-name", "search 'ada' (a first name)", "search=ada", "ada:*"),
    _search("search-email", "search 'person123456@company3456.com' (an email)",
            "search=person123456%40company3456.com",
            "person123456 <-> company3456 <-> com:*", "person123456 & company3456"),
    _search("search-phone", "search '+1415555' (a phone's start)", "search=%2B1415555",
            "1415555:*"),
    _search("search-words", "search 'company 42' (two words)", "search=company+42",
            "company:* & 42:*"),
    Case("search-name-by-name", "search 'ada' (a first name), sorted by name",
         "search=ada&sort=name", order=BY_NAME, search="ada:*", indexed="ada:*"),
]  # fmt: skip


def _page_request(query: str):
    return Request(RequestFactory().get("/leads/", QueryDict(query), HTTP_HOST="localhost"))


def _product(user, query: str):
    """What the list page does for `query`: filter, keyset page, rows with their joins,
    the count and the page's position."""

    def run():
        params = QueryDict(query)
        filterset = LeadFilter(params, queryset=lead_list(user))
        if not filterset.is_valid():
            raise SystemExit(f"bad benchmark query {query!r}: {filterset.errors}")
        paginator = LeadCursorPagination()
        rows = paginator.paginate_queryset(filterset.qs, _page_request(query))
        shown = [(r.pk, r.campaign and r.campaign.code, r.owner_id) for r in rows]
        count = list_count(filterset.qs, known=filterset.matches, page=rows,
                           ordering=paginator.ordering,
                           first_page=paginator.cursor is None)  # fmt: skip
        return shown, count, paginator

    return run


def _second_page(user, query: str) -> tuple[str, object]:
    """The query string of the list's second page, and the first page's last row (the
    second page starts after it)."""
    _, _, paginator = _product(user, query)()
    return paginator.get_next_link().split("?", 1)[1], paginator.page[-1]


def _by_hand(case: Case, after=None):
    """The same by hand, the same way: the page's rows with their joins; the count
    (the planner's estimate past ESTIMATE_TRUSTED_ABOVE, else a sample's when surely
    past EXACT_UP_TO, else counted, stopping past it); for a later page the rows before
    it; a search tested lead by lead in the list's order when a sample finds it common,
    else its ids read from the GIN index first."""
    keyset, keyset_params = "", []
    columns = ", ".join(f"l.{column}" for column in case.keyset)
    if after is not None:  # descending: the rows after the first page's last one
        keyset = f"AND ({columns}) < (%s, %s)"
        keyset_params = [getattr(after, column) for column in case.keyset]
    matches = "AND ts_match_vq(l.search_words, %s::tsquery)" if case.search else ""
    where = f"{LIVE} {case.where} {matches}"
    params = [*case.params, *([case.search] if case.search else [])]

    def page(cursor, where: str, params: list) -> list:
        cursor.execute(  # with what a row shows, as the page selects it
            "SELECT l.*, c.*, latest.*, u.* FROM leads_lead l "
            "LEFT JOIN leads_campaign c ON c.id = l.campaign_id "
            "LEFT JOIN leads_campaign latest ON latest.id = l.latest_campaign_id "
            "LEFT JOIN auth_user u ON u.id = l.owner_id "
            f"WHERE {where} {keyset} ORDER BY {case.order} LIMIT 51",
            [*params, *keyset_params],
        )
        return cursor.fetchall()

    def table_rows(cursor) -> float:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'leads_lead'")
        return cursor.fetchone()[0]

    def sampled(cursor, where: str, params: list) -> tuple[int | None, float]:
        rows = table_rows(cursor)
        if rows < SAMPLE_FROM:
            return None, 0.0
        percent = min(100.0, 100.0 * SAMPLE_ROWS / rows)
        cursor.execute(
            f"SELECT count(*) FROM leads_lead l TABLESAMPLE SYSTEM ({percent:.6f}) "
            f"REPEATABLE (0) WHERE {where}",
            params,
        )
        hits, scale = cursor.fetchone()[0], 100.0 / percent
        return round(hits * scale), max(0.0, hits - 4 * math.sqrt(hits)) * scale

    def planned(cursor, where: str, params: list) -> int:
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT l.id FROM leads_lead l WHERE {where}",
                       params)  # fmt: skip
        return cursor.fetchone()[0][0]["Plan"]["Plan Rows"]  # psycopg2 reads the JSON

    def count(cursor, where: str, params: list) -> int:
        estimate = None
        if table_rows(cursor) >= SAMPLE_FROM:
            estimate = planned(cursor, where, params)
            if estimate > ESTIMATE_TRUSTED_ABOVE:
                return estimate
            estimate, lower = sampled(cursor, where, params)
            if lower > EXACT_UP_TO:
                return estimate
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM leads_lead l WHERE {where} LIMIT %s) s",
            [*params, EXACT_UP_TO + 1],
        )
        found = cursor.fetchone()[0]
        if found <= EXACT_UP_TO:
            return found
        return max(estimate or planned(cursor, where, params), EXACT_UP_TO + 1)

    def searched(cursor) -> tuple[list, int]:
        estimate, lower = sampled(cursor, where, params)
        if lower <= EXACT_UP_TO:
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(
                f"SELECT l.id FROM leads_lead l WHERE {where} "
                "AND l.search_words @@ %s::tsquery LIMIT %s",
                [*params, case.indexed, EXACT_UP_TO + 1],
            )
            ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("RESET work_mem")
            if len(ids) <= EXACT_UP_TO:
                return page(cursor, f"{LIVE} AND l.id = ANY(%s)", [ids]), len(ids)
        estimate = estimate or planned(cursor, where, params)
        return page(cursor, where, params), max(estimate, EXACT_UP_TO + 1)

    def run():
        with transaction.atomic(), connection.cursor() as cursor:
            if case.search:
                return searched(cursor)
            rows, total = page(cursor, where, params), count(cursor, where, params)
            if after is not None:
                count(cursor, f"{where} AND ({columns}) >= (%s, %s)", [*params, *keyset_params])
            return rows, total

    return run


def _match_count(case: Case) -> int:
    matches = "AND l.search_words @@ %s::tsquery" if case.search else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM leads_lead l WHERE {LIVE} {case.where} {matches}",
            [*case.params, *([case.search] if case.search else [])],
        )
        return cursor.fetchone()[0]


def main(options: list[str]) -> list[Row]:
    n, repeat = _rows(options), option(options, "--repeat", REPEAT)
    _populate(n)
    print(f"populated {n:,} leads", flush=True)
    marketer = User.objects.create_user("bench_marketer")
    marketer.groups.add(Group.objects.get_or_create(name="marketing")[0])
    rows = []
    for case in CASES:
        query, after = (_second_page(marketer, case.query) if case.later_page
                        else (case.query, None))  # fmt: skip
        ours, theirs = side_by_side(_product(marketer, query), _by_hand(case, after),
                                    repeat=repeat)  # fmt: skip
        matches = _match_count(case)
        work = f"list of {n:,} leads, {case.work}: page + count ({matches:,} in the list)"
        print(f"{work}: LeadFlow {ours * 1000:.1f} ms, by hand {theirs * 1000:.1f} ms",
              flush=True)  # fmt: skip
        rows.append(
            Row(
                key=case.key,
                work=work,
                leadflow=ours,
                baseline=theirs,
                runs=repeat,
                target=TARGET,
                met=judged(ours < TARGET_SECONDS, n),
                explain=explained(work, _product(marketer, query)),
            )
        )
    return rows
