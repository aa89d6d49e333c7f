"""The list page's count and position: exact up to EXACT_UP_TO, past that the planner's
estimate ("about 1.2M"), so a page of a million leads never counts them all."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Lead
from leads.selectors import counts
from leads.selectors.counts import ListCount, about
from tests.helpers import make_lead


def _count_line(html: str) -> str:
    return re.search(r'<p class="count">(.*?)</p>', html, re.S).group(1)


def _next(html: str) -> str:
    return re.search(r'<a href="([^"]+)"[^>]*>Older', html).group(1).replace("&amp;", "&")


def test_counts_read_as_people_say_them():
    assert about(12_268, exact=True) == "12,268"
    assert about(12_268, exact=False) == "about 12,300"
    assert about(1_234_567, exact=False) == "about 1.2M"
    assert about(987_654, exact=False) == "about 988,000"
    assert ListCount(5, True, 1, 5).position == ""  # the page is the whole list
    assert ListCount(5, True, 3, 4).position == "3–4"
    assert ListCount(250_000, False, 120_000, 120_049, False).position == "about 120,000–120,049"


@pytest.mark.django_db
def test_the_page_says_which_leads_it_shows_of_how_many(client, marketer):
    for i in range(5):
        make_lead(email=f"p{i}@example.com")
    client.force_login(marketer)
    html = client.get("/leads/", {"page_size": 2}).content.decode()
    # (the page reads any parameter, page_size too, as a filter)
    assert _count_line(html) == "1–2 of 5 leads match the filter"
    html = client.get(_next(html)).content.decode()
    assert _count_line(html) == "3–4 of 5 leads match the filter"
    html = client.get(_next(html)).content.decode()
    assert _count_line(html) == "5–5 of 5 leads match the filter"
    assert _count_line(client.get("/leads/").content.decode()) == "5 leads"
    filtered = client.get("/leads/", {"search": "p1"}).content.decode()
    assert _count_line(filtered) == "1 lead matches the filter"


@pytest.mark.django_db
def test_past_the_exact_limit_the_count_and_position_are_estimates(client, marketer, monkeypatch):
    monkeypatch.setattr(counts, "EXACT_UP_TO", 3)
    for i in range(8):
        make_lead(email=f"p{i}@example.com")
    client.force_login(marketer)
    html = client.get("/leads/", {"page_size": 2}).content.decode()
    line = _count_line(html)
    assert re.fullmatch(r"1–2 of about [\d,]+ leads match the filter", line), line
    assert "to all about" in html  # the bulk action's scope says it too
    html = client.get(_next(html)).content.decode()
    assert re.match(r"3–4 of about [\d,]+ leads", _count_line(html))  # 2 before: exact
    html = client.get(_next(html)).content.decode()  # 4 before it: estimated too
    assert re.match(r"about \d+–\d+ of about [\d,]+ leads", _count_line(html))


@pytest.mark.django_db
def test_counting_stops_past_the_limit_and_asks_the_planner(marketer, monkeypatch):
    monkeypatch.setattr(counts, "EXACT_UP_TO", 3)
    for _ in range(6):
        make_lead()
    total, exact = counts.count_leads(Lead.objects.all())
    assert not exact and total >= 4
    total, exact = counts.count_leads(Lead.objects.filter(email__startswith="nobody"))
    assert (total, exact) == (0, True)


@pytest.mark.django_db
def test_an_estimate_that_is_surely_past_the_limit_is_not_counted(monkeypatch):
    """The planner's estimate when it is large; else a sample's when even its lower bound
    is past the limit; counted only when neither is sure."""
    for i in range(30):
        make_lead(source="webinar" if i < 28 else "referral")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    monkeypatch.setattr(counts, "EXACT_UP_TO", 3)
    monkeypatch.setattr(counts, "SAMPLE_FROM", 0)  # these few pages are the whole sample
    monkeypatch.setattr(counts, "ESTIMATE_TRUSTED_ABOVE", 25)
    with CaptureQueriesContext(connection) as queries:
        assert counts.count_leads(Lead.objects.all()) == (30, False)  # the planner's
    assert [q["sql"].split()[0] for q in queries] == ["SELECT", "EXPLAIN"]  # not counted
    monkeypatch.setattr(counts, "ESTIMATE_TRUSTED_ABOVE", 1000)
    with CaptureQueriesContext(connection) as queries:
        assert counts.count_leads(Lead.objects.filter(source="webinar")) == (28, False)
    assert not any("LIMIT" in query["sql"] for query in queries)  # not counted
    # 2 found: the sample is not sure they are past 3, so they are counted.
    assert counts.count_leads(Lead.objects.filter(source="referral")) == (2, True)
