"""Login, the base layout, the lead list page and a lead's page."""

import pytest

from leads.models import Campaign
from tests.conftest import PASSWORD
from tests.helpers import make_lead


@pytest.mark.django_db
def test_pages_need_a_login(client):
    response = client.get("/leads/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_a_wrong_password_shows_an_error(client, marketer):
    response = client.post("/login/", {"username": "marketer", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


@pytest.mark.django_db
def test_login_leads_to_the_lead_list_with_navigation(client, marketer):
    response = client.post("/login/", {"username": "marketer", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/leads/"
    html = response.content.decode()
    assert 'href="/leads/"' in html and 'href="/api/docs/"' in html and "Log out" in html


@pytest.mark.django_db
def test_an_empty_list_says_how_leads_arrive(client, marketer):
    client.force_login(marketer)
    assert b"No leads yet" in client.get("/leads/").content


@pytest.mark.django_db
def test_the_list_page_filters_and_a_filter_with_no_match_says_so(client, marketer):
    make_lead(email="ada@acme.io", company="Acme")
    make_lead(email="bo@globex.de", company="Globex")
    client.force_login(marketer)
    html = client.get("/leads/", {"search": "acme"}).content.decode()
    assert "ada@acme.io" in html and "bo@globex.de" not in html
    assert "1 lead matches the filter" in html
    assert b"No lead matches this filter" in client.get("/leads/", {"search": "zzz"}).content
    bad = client.get("/leads/", {"stage": "hot"}).content.decode()
    assert "Select a valid choice" in bad


@pytest.mark.django_db
def test_an_htmx_request_gets_only_the_table(client, marketer):
    make_lead(email="ada@acme.io")
    client.force_login(marketer)
    html = client.get("/leads/", headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="lead-table">')
    assert "ada@acme.io" in html and "<html" not in html


@pytest.mark.django_db
def test_a_stale_page_link_goes_back_to_the_first_page_with_a_message(client, marketer):
    client.force_login(marketer)
    response = client.get("/leads/", {"cursor": "garbage", "search": "x"}, follow=True)
    assert response.redirect_chain[-1][0] == "/leads/?search=x"
    assert b"no longer valid" in response.content


@pytest.mark.django_db
def test_the_list_page_runs_the_same_queries_for_5_or_50_rows(
    client, marketer, rep_ann, django_assert_max_num_queries
):
    campaign = Campaign.objects.create(code="c", name="C", channel="webinar")
    client.force_login(marketer)
    for _ in range(5):
        make_lead(owner=rep_ann, campaign=campaign)
    with django_assert_max_num_queries(12) as small:
        client.get("/leads/")
    for _ in range(45):
        make_lead(owner=rep_ann, campaign=campaign)
    with django_assert_max_num_queries(12) as large:
        assert client.get("/leads/").content.count(b"<tr>") == 51
    assert len(small.captured_queries) == len(large.captured_queries)


@pytest.mark.django_db
def test_a_lead_page_shows_fields_and_history_and_is_404_for_a_rep_who_cannot_see_it(
    client, marketer, rep_ann, rep_bob
):
    lead = make_lead(email="ada@acme.io", company="Acme", owner=rep_bob)
    client.force_login(marketer)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "ada@acme.io" in html and "Created as" in html and "Assigned" in html
    unowned = make_lead(email="nobody@acme.io")
    assert client.get(f"/leads/{unowned.pk}/").status_code == 200
    client.force_login(rep_ann)
    assert client.get(f"/leads/{lead.pk}/").status_code == 404
    assert b"ada@acme.io" not in client.get("/leads/").content
