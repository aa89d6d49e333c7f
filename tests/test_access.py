"""Object-level access, tried for each role on every page, API endpoint and export:
a lead the user must not see is a 404 (or simply absent from lists), and nothing changes."""

import csv
import io

import pytest

from leads.models import Activity, Lead
from tests.helpers import make_lead


@pytest.fixture
def hidden_lead(rep_bob):
    """Owned by rep_bob, who is in no team: invisible to rep_ann and to the manager."""
    return make_lead(email="hidden@x.io", title="Buyer", owner=rep_bob)


@pytest.fixture(params=["rep_ann", "manager", "nobody"])
def outsider(request, rep_ann, manager, django_user_model):
    if request.param == "nobody":
        return django_user_model.objects.create_user(username="nobody", password="x")
    return {"rep_ann": rep_ann, "manager": manager}[request.param]


def _unchanged(lead):
    fresh = Lead.objects.get(pk=lead.pk)
    return (
        fresh.title == "Buyer"
        and fresh.stage == "new"
        and fresh.owner_id == lead.owner_id
        and not Activity.objects.filter(lead=lead)
        .exclude(kind__in=["captured", "assigned"])
        .exists()
    )


@pytest.mark.django_db
def test_pages_hide_a_lead_the_user_may_not_see(client, outsider, hidden_lead):
    client.force_login(outsider)
    pk = hidden_lead.pk
    assert client.get(f"/leads/{pk}/").status_code == 404
    assert client.get(f"/leads/{pk}/edit/").status_code == 404
    assert client.post(f"/leads/{pk}/edit/", {"title": "Hacked"}).status_code == 404
    assert client.post(f"/leads/{pk}/touch/", {"kind": "note", "body": "x"}).status_code == 404
    assert client.post(f"/leads/{pk}/move/", {"stage": "won"}).status_code == 404
    assert b"hidden@x.io" not in client.get("/leads/").content
    assert b"hidden@x.io" not in client.get("/leads/", {"search": "hidden"}).content
    client.post("/leads/bulk/", {"action": "disqualify", "reason": "x", "ids": [pk]})
    client.post(
        "/leads/bulk/", {"action": "disqualify", "reason": "x", "scope": "all", "confirmed": "yes"}
    )
    assert _unchanged(hidden_lead)


@pytest.mark.django_db
def test_exports_leave_out_a_lead_the_user_may_not_see(client, outsider, hidden_lead):
    client.force_login(outsider)
    for response in [
        client.get("/leads/export.csv"),
        client.post("/leads/bulk/", {"action": "export", "ids": [hidden_lead.pk]}),
        client.post("/leads/bulk/", {"action": "export", "scope": "all"}),
    ]:
        body = b"".join(response.streaming_content).decode("utf-8-sig")
        assert "hidden@x.io" not in [r["email"] for r in csv.DictReader(io.StringIO(body))]


@pytest.mark.django_db
def test_the_api_hides_a_lead_the_user_may_not_see(api_as, outsider, hidden_lead):
    client = api_as(outsider)
    url = f"/api/v1/leads/{hidden_lead.pk}/"
    assert client.get(url).status_code == 404
    assert client.patch(url, {"title": "Hacked", "stage": "won"}, format="json").status_code == 404
    ids = [row["id"] for row in client.get("/api/v1/leads/").json()["results"]]
    assert hidden_lead.pk not in ids
    # Capturing the same identity would reveal the lead: only marketing may capture.
    assert client.post("/api/v1/leads/", {"email": "hidden@x.io"}, format="json").status_code == 403
    assert _unchanged(hidden_lead)


@pytest.mark.django_db
def test_the_manager_sees_and_changes_their_team_members_leads(client, manager, rep_ann):
    lead = make_lead(owner=rep_ann, title="Buyer")
    client.force_login(manager)
    assert client.get(f"/leads/{lead.pk}/").status_code == 200
    client.post(f"/leads/{lead.pk}/edit/", {"title": "Head of Buying"})
    lead.refresh_from_db()
    assert lead.title == "Head of Buying"


@pytest.mark.django_db
def test_anonymous_visitors_get_the_login_page_or_401(client, hidden_lead):
    for url in [
        f"/leads/{hidden_lead.pk}/",
        "/leads/",
        "/leads/export.csv",
        "/leads/custom-fields/",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get("/api/v1/leads/").status_code in (401, 403)
    assert client.post("/leads/bulk/", {"action": "export", "scope": "all"}).status_code == 302
