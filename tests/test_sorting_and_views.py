"""Sorting with keyset pages, and saved views per user."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied

from leads.exceptions import LeadFlowError
from leads.models import SavedView
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
