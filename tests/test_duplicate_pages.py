"""Likely duplicates page by page (next and previous within the window checked) with
the window's total."""

import pytest

from leads.models import NotDuplicate
from leads.selectors.duplicate_pages import duplicate_page
from tests.helpers import make_lead


@pytest.fixture
def five_pairs(db, monkeypatch):
    """Five leads sharing one phone with the first: five pairs; pages of two."""
    monkeypatch.setattr("leads.selectors.duplicate_pages.PAGE_SIZE", 2)
    first = make_lead(phone="+14155550101")
    others = [make_lead(phone="+14155550101") for _ in range(5)]
    make_lead(phone="+14155550199")
    return first, others


@pytest.mark.django_db
def test_every_pair_of_the_window_is_on_exactly_one_page_with_the_total(marketer, five_pairs):
    pages = [duplicate_page(marketer, page=n) for n in (1, 2, 3)]
    assert [p.total for p in pages] == [15, 15, 15]  # 6 leads with one phone: 15 pairs
    assert [p.pages for p in pages] == [8, 8, 8]
    seen = [
        (q.lead.pk, q.other.pk) for n in range(1, 9) for q in duplicate_page(marketer, page=n).pairs
    ]
    assert len(seen) == len(set(seen)) == 15
    assert (pages[0].previous_page, pages[0].next_page) == (None, 2)
    assert duplicate_page(marketer, page=99).page == 8  # past the end: the last page
    assert duplicate_page(marketer).window_leads == 7


@pytest.mark.django_db
def test_the_page_says_how_many_and_pages_back_and_forth(client, marketer, five_pairs):
    client.force_login(marketer)
    html = client.get("/leads/duplicates/").content.decode()
    assert "15 likely duplicates among your 7 leads · 1–2, page 1 of 8" in html
    assert '<a href="/leads/duplicates/?page=2">Next →</a>' in html and "Previous" not in html
    html = client.get("/leads/duplicates/?page=2").content.decode()
    assert "3–4, page 2 of 8" in html
    assert '<a href="/leads/duplicates/">← Previous</a>' in html
    assert '<a href="/leads/duplicates/?page=3">Next →</a>' in html
    assert client.get("/leads/duplicates/?page=lots").status_code == 200


@pytest.mark.django_db
def test_dismissing_a_pair_comes_back_to_the_same_page(client, marketer, five_pairs):
    first, others = five_pairs
    client.force_login(marketer)
    response = client.post(
        "/leads/duplicates/dismiss/", {"lead": first.pk, "other": others[0].pk, "page": "3"}
    )
    assert response["Location"] == "/leads/duplicates/?page=3"
    assert NotDuplicate.objects.count() == 1
    assert duplicate_page(marketer).total == 14


@pytest.mark.django_db
def test_the_window_total_names_the_newest_leads_when_older_ones_remain(
    client, marketer, monkeypatch
):
    monkeypatch.setattr("leads.selectors.duplicates.DUPLICATE_WINDOW", 3)
    for _ in range(5):
        make_lead(phone="+14155550101")
    client.force_login(marketer)
    html = client.get("/leads/duplicates/").content.decode()
    assert "9 likely duplicates among the newest 3 leads" in html  # each against 4, 3, 2 older
