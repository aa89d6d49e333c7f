"""Sorting with keyset pages, and saved views per user."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied

from leads.exceptions import LeadFlowError
from leads.models import Lead, SavedView
from leads.services.saved_views import delete_view, save_view
from tests.helpers import make_lead


@pytest.mark.django_db
def test_the_list_sorts_by_name_across_keyset_pages(marketer, api_as, now):
    for i, last in enumerate(["Young", "Adams", "Meyer", "Baker", "Zhou"]):
        make_lead(last_name=last, now=now + timedelta(minutes=i))
    client = api_as(marketer)
    page1 = client.get("/api/v1/leads/", {"sort": "name", "page_size": 2}).json()
    page2 = client.get(page1["next"]).json()
    page3 = client.get(page2["next"]).json()
    names = [r["last_name"] for r in page1["results"] + page2["results"] + page3["results"]]
    assert names == ["Adams", "Baker", "Meyer", "Young", "Zhou"]
    assert client.get("/api/v1/leads/", {"sort": "shoe-size"}).status_code == 400


@pytest.mark.django_db
def test_the_list_page_sorts_by_score_and_oldest(client, marketer, now):
    make_lead(email="old@x.io", now=now - timedelta(days=3))
    make_lead(email="new@x.io", now=now)
    client.force_login(marketer)
    html = client.get("/leads/", {"sort": "oldest"}).content.decode()
    assert html.index("old@x.io") < html.index("new@x.io")
    html = client.get("/leads/").content.decode()
    assert html.index("new@x.io") < html.index("old@x.io")


def _all_pages(client, sort, page_size=2):
    page = client.get("/api/v1/leads/", {"sort": sort, "page_size": page_size}).json()
    rows = page["results"]
    while page["next"]:
        page = client.get(page["next"]).json()
        rows += page["results"]
    return rows


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sort", "field", "expected"),
    [
        ("name", "last_name", ["Adams", "Baker", "Zhou", "", ""]),
        ("-name", "last_name", ["Zhou", "Baker", "Adams", "", ""]),
        ("company", "company", ["Acme", "beta", "Zeta", "", ""]),
        ("-company", "company", ["Zeta", "beta", "Acme", "", ""]),
    ],
)
def test_text_sorts_put_blanks_last_in_both_directions_across_keyset_pages(
    marketer, api_as, now, sort, field, expected
):
    rows = [("Baker", "Zeta"), ("", ""), ("Zhou", "Acme"), ("Adams", ""), ("", "beta")]
    for i, (last, company) in enumerate(rows):
        make_lead(first_name="", last_name=last, company=company, now=now + timedelta(minutes=i))
    values = [r[field] for r in _all_pages(api_as(marketer), sort)]
    assert values == expected


@pytest.mark.django_db
def test_lowest_score_first_is_the_reverse_of_highest(marketer, api_as, now):
    for i in range(5):
        lead = make_lead(now=now + timedelta(minutes=i))
        Lead.objects.filter(pk=lead.pk).update(score=[30, 10, 50, 10, 20][i])
    client = api_as(marketer)
    assert [r["score"] for r in _all_pages(client, "-score")] == [10, 10, 20, 30, 50]
    assert [r["score"] for r in _all_pages(client, "score")] == [50, 30, 20, 10, 10]


@pytest.mark.django_db
def test_column_headers_sort_and_a_second_click_reverses(client, marketer):
    make_lead(company="x")
    client.force_login(marketer)
    html = client.get("/leads/", {"search": "x"}).content.decode()
    assert 'href="/leads/?search=x&amp;sort=name"' in html
    assert 'aria-sort="descending"><a class="sort" href="/leads/?search=x&amp;sort=oldest"' in html
    html = client.get("/leads/", {"search": "x", "sort": "name"}).content.decode()
    assert 'aria-sort="ascending"><a class="sort" href="/leads/?search=x&amp;sort=-name"' in html
    html = client.get("/leads/", {"sort": "-name"}).content.decode()
    assert 'aria-sort="descending"><a class="sort" href="/leads/?sort=name"' in html
    html = client.get("/leads/", {"sort": "score"}).content.decode()
    assert (
        '<th class="num" aria-sort="descending"><a class="sort" href="/leads/?sort=-score"' in html
    )
    assert '<a class="sort" href="/leads/" hx-get="/leads/"' in html  # Created: the default


@pytest.mark.django_db
def test_an_htmx_refresh_brings_the_clear_link_and_the_sort_along(client, marketer):
    client.force_login(marketer)
    html = client.get("/leads/").content.decode()
    assert '<a href="/leads/" id="clear-filter" hidden>Clear</a>' in html
    html = client.get("/leads/", {"search": "ada", "sort": "-name"}, HTTP_HX_REQUEST="true")
    html = html.content.decode()
    assert '<a href="/leads/" id="clear-filter" hx-swap-oob="true">Clear</a>' in html
    assert 'id="sort-select" hx-swap-oob="true">' in html
    assert '<option value="-name" selected>Name Z to A</option>' in html


@pytest.mark.django_db
def test_the_owner_filter_lists_who_can_own_leads_by_the_name_the_column_shows(
    client, marketer, rep_ann, rep_bob, manager
):
    rep_bob.is_active = False
    rep_bob.save()
    rep_ann.last_name = "Smith"
    rep_ann.save()
    make_lead(owner=rep_ann)
    client.force_login(marketer)
    html = client.get("/leads/").content.decode()
    owner_filter = html[
        html.index('aria-label="Owner"') : html.index("</select>", html.index('aria-label="Owner"'))
    ]
    # Each by the name the Owner column and the lead page show (the username when none).
    assert '<option value="rep_ann" >Ann Smith</option>' in owner_filter
    assert '<option value="manager" >Manager</option>' in owner_filter
    assert "Marketer" not in owner_filter and "rep_bob" not in owner_filter
    assert "<td>Ann Smith</td>" in html  # the Owner column


@pytest.mark.django_db
def test_a_user_saves_a_view_and_only_they_see_it(client, marketer, rep_ann):
    client.force_login(marketer)
    response = client.post(
        "/leads/views/", {"name": "Hot students", "query": "search=uni&sort=score"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/leads/?search=uni&sort=score"
    assert "Saved the view “Hot students”." in response.content.decode()
    assert 'href="/leads/?search=uni&amp;sort=score">Hot students' in response.content.decode()
    client.post("/leads/views/", {"name": "Hot students", "query": "search=uni"}, follow=True)
    assert SavedView.objects.get().query == "search=uni"  # same name: replaced, not doubled
    client.force_login(rep_ann)
    assert "Hot students" not in client.get("/leads/").content.decode()
    view = SavedView.objects.get()
    assert client.post(f"/leads/views/{view.pk}/delete/").status_code == 404
    client.force_login(marketer)
    client.post(f"/leads/views/{view.pk}/delete/")
    assert not SavedView.objects.exists()


@pytest.mark.django_db
def test_a_view_needs_a_name(client, marketer):
    client.force_login(marketer)
    response = client.post("/leads/views/", {"name": " ", "query": "x=1"}, follow=True)
    assert "Give the view a name." in response.content.decode()
    assert not SavedView.objects.exists()


@pytest.mark.django_db
def test_saving_a_view_replaces_one_of_the_same_name_and_refuses_what_cannot_be_kept(
    marketer, rep_ann, now
):
    first = save_view(user=marketer, name=" Hot ", query="sort=score", now=now)
    again = save_view(user=marketer, name="Hot", query="search=uni", now=now)
    assert (again.pk, again.query, again.created_at) == (first.pk, "search=uni", now)
    with pytest.raises(LeadFlowError, match="too long"):
        save_view(user=marketer, name="Long", query="x" * 2001, now=now)
    with pytest.raises(PermissionDenied):
        delete_view(view=again, by=rep_ann)
    delete_view(view=again, by=marketer)
    assert not SavedView.objects.exists()
