"""403 and 404 are pages in the app's layout, with its navigation; the API's stay JSON."""

import pytest

from tests.helpers import make_lead


@pytest.mark.django_db
def test_a_lead_you_may_not_see_is_a_404_page_with_the_navigation(client, rep_ann, rep_bob):
    lead = make_lead(owner=rep_bob)
    client.force_login(rep_ann)
    response = client.get(f"/leads/{lead.pk}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<nav class="mainnav" aria-label="Main">' in html
    assert "<h1>Not found</h1>" in html and f"<code>/leads/{lead.pk}/</code>" in html
    assert '<link rel="stylesheet" href="/static/leadflow/app.css">' in html


@pytest.mark.django_db
def test_a_page_your_role_may_not_open_is_a_403_page_that_says_why(client, rep_ann):
    client.force_login(rep_ann)
    response = client.get("/leads/campaigns/")
    assert response.status_code == 403
    html = response.content.decode()
    assert '<nav class="mainnav" aria-label="Main">' in html
    assert "Only marketing (or an admin) may do this." in html


@pytest.mark.django_db
def test_api_errors_stay_json(client, api_as, rep_ann, rep_bob):
    lead = make_lead(owner=rep_bob)
    api = api_as(rep_ann)
    assert api.get("/api/v1/no-such-thing/").json() == {"detail": "Not found."}
    missing = api.get(f"/api/v1/leads/{lead.pk}/")
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    forbidden = api.post("/api/v1/custom-fields/", {"name": "x", "label": "X", "type": "text"})
    assert forbidden.status_code == 403 and "detail" in forbidden.json()
    assert client.get("/api/v1/nothing-here/").json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_a_form_body_that_cannot_be_read_is_a_400_in_json_under_the_api(client, rep_ann):
    """Multipart without a boundary: Django cannot parse it (found by schemathesis on
    POST /api/v1/leads/{id}/erase/, answered with Django's HTML page)."""
    client.force_login(rep_ann)
    bad = {"data": b"--x\r\n", "content_type": "multipart/form-data"}  # no boundary
    api = client.post("/api/v1/leads/1/erase/", **bad)
    assert api.status_code == 400 and api["Content-Type"] == "application/json"
    assert "could not be read" in api.json()["detail"]
    page = client.post("/leads/new/", **bad)
    assert page.status_code == 400 and "could not be read" in page.content.decode()
