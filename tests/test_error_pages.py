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
