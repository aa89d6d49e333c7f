"""The lead list at scale: the list page's queries over N leads (default 1,000,000).

For each query the list page runs (a keyset page under a filter or a search, a deep
page, the count) this times the product's code path (LeadFilter + the keyset
paginator of leads.api, evaluated to rows) and, in the same run, the same query as
hand-written SQL, and prints both with their ratio.

    make bench BENCH_ARGS="list_leads --rows 1000000"
"""

from __future__ import annotations

import statistics
import time

from django.contrib.auth.models import Group, User
from django.db import connection
from django.http import QueryDict
from django.test import RequestFactory
from rest_framework.request import Request

from leads.api.leads import LeadCursorPagination
from leads.filters import LeadFilter
from leads.selectors import lead_list

REPEAT = 5


def _rows(options: list[str]) -> int:
    if "--rows" in options:
        return int(options[options.index("--rows") + 1].replace("_", ""))
    return 1_000_000


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
        cursor.execute("ANALYZE leads_lead")


def _time(fn) -> float:
    """Median wall time of REPEAT runs, after one warm-up run."""
    fn()
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _product(user, query: str, cursor_of_page: int = 0):
    """What the list page does for `query`: filter, keyset page, rows with their joins."""
    factory = RequestFactory()

    def run():
        params = QueryDict(query)
        filterset = LeadFilter(params, queryset=lead_list(user))
        if not filterset.is_valid():
            raise SystemExit(f"bad benchmark query {query!r}: {filterset.errors}")
        paginator = LeadCursorPagination()
        request = Request(factory.get("/leads/", params, HTTP_HOST="localhost"))
        rows = paginator.paginate_queryset(filterset.qs, request)
        return [(r.pk, r.campaign and r.campaign.code, r.owner_id) for r in rows]

    return run


def _raw(sql: str, params: list):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return run


SELECT = "SELECT l.*, c.code FROM leads_lead l LEFT JOIN leads_campaign c ON c.id = l.campaign_id "
CASES = [
    # name, list-page query string, the same query by hand
    ("newest first, no filter", "", SELECT + "WHERE l.merged_into_id IS NULL "
     "ORDER BY l.created_at DESC, l.id DESC LIMIT 51", []),
    ("stage = mql", "stage=mql", SELECT + "WHERE l.merged_into_id IS NULL AND l.stage = 'mql' "
     "ORDER BY l.created_at DESC, l.id DESC LIMIT 51", []),
    ("stage + source + score >= 50", "stage=mql&source=webinar&score_min=50", SELECT +
     "WHERE l.merged_into_id IS NULL AND l.stage = 'mql' AND l.source = 'webinar' "
     "AND l.score >= 50 ORDER BY l.created_at DESC, l.id DESC LIMIT 51", []),
    ("sorted by score", "sort=score", SELECT + "WHERE l.merged_into_id IS NULL "
     "ORDER BY l.score DESC, l.id DESC LIMIT 51", []),
    ("search 'surname1234'", "search=surname1234", SELECT +
     "WHERE l.merged_into_id IS NULL AND ((l.first_name || ' ' || l.last_name) ILIKE %s "
     "OR l.email ILIKE %s OR l.company ILIKE %s OR l.phone ILIKE %s OR l.external_id ILIKE %s) "
     "ORDER BY l.created_at DESC, l.id DESC LIMIT 51", ["%surname1234%"] * 5),
]  # fmt: skip


def main(options: list[str]) -> None:
    n = _rows(options)
    started = time.perf_counter()
    _populate(n)
    print(f"populated {n:,} leads in {time.perf_counter() - started:.1f} s")
    marketer = User.objects.create_user("bench_marketer")
    marketer.groups.add(Group.objects.get_or_create(name="marketing")[0])
    print(f"{'query':<32} {'LeadFlow':>10} {'raw SQL':>10} {'ratio':>7}")
    for name, query, sql, params in CASES:
        ours = _time(_product(marketer, query))
        raw = _time(_raw(sql, params))
        print(f"{name:<32} {ours * 1000:>8.1f}ms {raw * 1000:>8.1f}ms {ours / raw:>6.2f}x")
    for name, query, where in [
        ("count, no filter", "", ""),
        ("count, stage = mql", "stage=mql", " AND stage = 'mql'"),
    ]:
        ours = _time(
            lambda q=query: LeadFilter(QueryDict(q), queryset=lead_list(marketer)).qs.count()
        )
        sql = f"SELECT count(*) FROM leads_lead WHERE merged_into_id IS NULL{where}"  # noqa: S608
        raw = _time(_raw(sql, []))
        print(f"{name:<32} {ours * 1000:>8.1f}ms {raw * 1000:>8.1f}ms {ours / raw:>6.2f}x")
