"""The lead list at scale: the list page's queries over N leads (default 1,000,000).

For each list the page shows (a filter, a sort, a search, a later page) this times the
product's code path — LeadFilter, the keyset paginator of leads.api, the rows with their
joins, and the count the page shows with them (leads.selectors.list_count: exact up to
10,000, then the planner's estimate) — and, alternately in the same run, the same work
as hand-written SQL. One row each: p95 over `--repeat` runs (default 20).

    make bench BENCH_ARGS="list_leads --rows 1000000"
"""

# The hand-written SQL is assembled from this module's own constants.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import connection
from django.http import QueryDict
from django.test import RequestFactory
from rest_framework.request import Request

from bench._results import Row, explained, judged, option, side_by_side
from leads.api.leads import LeadCursorPagination
from leads.filters import LeadFilter
from leads.selectors import EXACT_UP_TO, lead_list, list_count

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


# The document the list searches, by hand: the expression of the index lead_search_idx.
DOCUMENT = (
    "to_tsvector('simple', regexp_replace((l.first_name || ' ' || l.last_name || ' ' || "
    "COALESCE(l.email, '') || ' ' || l.company || ' ' || COALESCE(l.phone, '') || ' ' || "
    "COALESCE(l.external_id, '')), '[[:punct:][:space:][:cntrl:]]+', ' ', 'g'))"
)
NEWEST = "l.created_at DESC, l.id DESC"
SCORE = "l.score DESC, l.id DESC"


@dataclass
class Case:
    """One list the page shows: its query string, and the same list by hand (WHERE
    beyond `merged_into_id IS NULL`, its parameters, ORDER BY)."""

    key: str
    work: str
    query: str
    where: str = ""
    params: tuple = ()
    order: str = NEWEST
    later_page: bool = False  # the page after the first (its position is counted too)
    keyset: tuple[str, str] = ("created_at", "id")  # `order`'s columns, for a later page


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
    Case("search-surname", "search 'surname1234' (a last-name prefix)", "search=surname1234",
         f"AND {DOCUMENT} @@ to_tsquery('simple', 'surname1234:*')"),
    Case("search-name", "search 'ada' (a first name)", "search=ada",
         f"AND {DOCUMENT} @@ to_tsquery('simple', 'ada:*')"),
    Case("search-email", "search 'person123456@company3456.com' (an email)",
         "search=person123456%40company3456.com",
         f"AND {DOCUMENT} @@ to_tsquery('simple', 'person123456 <-> company3456 <-> com:*')"),
    Case("search-phone", "search '+1415555' (a phone's start)", "search=%2B1415555",
         f"AND {DOCUMENT} @@ to_tsquery('simple', '1415555:*')"),
    Case("search-words", "search 'company 42' (two words)", "search=company+42",
         f"AND {DOCUMENT} @@ to_tsquery('simple', 'company:* & 42:*')"),
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
    """The same by hand: the page's rows with their joins, the count (stopping past
    EXACT_UP_TO, then the planner's estimate), and for a later page the rows before it."""
    base = f"FROM leads_lead l WHERE l.merged_into_id IS NULL {case.where}"
    keyset, keyset_params = "", []
    columns = ", ".join(f"l.{column}" for column in case.keyset)
    if after is not None:  # descending: the rows after the first page's last one
        keyset = f"AND ({columns}) < (%s, %s)"
        keyset_params = [getattr(after, column) for column in case.keyset]
    page = (  # with what a row shows, as the page selects it: both campaigns, the owner
        "SELECT l.*, c.*, latest.*, u.* FROM leads_lead l "
        "LEFT JOIN leads_campaign c ON c.id = l.campaign_id "
        "LEFT JOIN leads_campaign latest ON latest.id = l.latest_campaign_id "
        "LEFT JOIN auth_user u ON u.id = l.owner_id "
        f"WHERE l.merged_into_id IS NULL {case.where} {keyset} ORDER BY {case.order} LIMIT 51"
    )

    def count(where: str, params: list) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 {base} {where} LIMIT %s) s",
                [*case.params, *params, EXACT_UP_TO + 1],
            )
            found = cursor.fetchone()[0]
            if found <= EXACT_UP_TO:
                return found
            cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT l.id {base} {where}",
                           [*case.params, *params])  # fmt: skip
            (plan,) = cursor.fetchone()  # psycopg2 reads the JSON
            return plan[0]["Plan"]["Plan Rows"]

    def run():
        with connection.cursor() as cursor:
            cursor.execute(page, [*case.params, *keyset_params])
            rows = cursor.fetchall()
        total = count("", [])
        if after is not None:
            count(f"AND ({columns}) >= (%s, %s)", keyset_params)
        return rows, total

    return run


def _match_count(case: Case) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM leads_lead l WHERE l.merged_into_id IS NULL {case.where}",
            list(case.params),
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
