"""`GET /api/v1/tracks/` (tracks, steps, figures) and `GET /api/v1/leads/{id}/emails/`
(a lead's nurture emails, scoped like leads)."""

from __future__ import annotations

import pytest

from nurturing.models import Send
from nurturing.services import recipients
from tests.nurturing_helpers import NOW, lead, template, tick, track

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(django_capture_on_commit_callbacks, rep_ann):
    """A two-email webinar track; rep_ann's lead got the first email and opened it."""
    track(
        ("email", {"template": template().pk}),
        ("wait", {"amount": 2, "unit": "days"}),
        ("email", {"template": template(name="Second").pk}),
    )
    mine = lead(owner=rep_ann)
    tick()
    send = Send.objects.get(lead=mine)
    recipients.record_open(send_id=send.pk, now=NOW)
    return send


def test_tracks_lists_steps_with_figures_for_marketing(api_as, marketer, sent, rep_ann):
    answer = api_as(marketer).get("/api/v1/tracks/")
    assert answer.status_code == 200
    [webinar] = answer.json()
    assert webinar["name"] == "Webinar follow-up" and webinar["active"] is True
    assert webinar["figures"]["enrolled"] == 1 and webinar["figures"]["sent"] == 1
    assert webinar["figures"]["opened"] == 1 and webinar["figures"]["mql"] == 0
    steps = webinar["steps"]
    assert [(s["position"], s["kind"], s["template"]) for s in steps] == [
        (1, "email", "Welcome"),
        (2, "wait", None),
        (3, "email", "Second"),
    ]
    assert steps[0]["figures"]["sent"] == 1 and steps[2]["figures"]["enrolled"] == 1
    assert api_as(rep_ann).get("/api/v1/tracks/").status_code == 403


def test_tracks_runs_the_same_queries_for_one_or_four_tracks(
    api_as, marketer, sent, django_assert_num_queries
):
    client = api_as(marketer)
    with django_assert_num_queries(8) as one:  # auth 1 (token and roles), tracks 3, figures 4
        client.get("/api/v1/tracks/")
    for i in range(3):
        track(("email", {"template": template(name=f"T{i}").pk}), name=f"Track {i}", source="")
    with django_assert_num_queries(len(one.captured_queries)):
        assert len(client.get("/api/v1/tracks/").json()) == 4


def test_a_leads_emails_are_listed_for_whoever_sees_the_lead(api_as, rep_ann, rep_bob, sent):
    url = f"/api/v1/leads/{sent.lead_id}/emails/"
    answer = api_as(rep_ann).get(url)
    assert answer.status_code == 200
    [email] = answer.json()
    assert email["subject"] == "Welcome, Ada" and email["status"] == "sent"
    assert email["message_id"] == sent.message_id and email["track"] == "Webinar follow-up"
    assert email["sent_at"] and email["opened_at"] and email["clicked_at"] is None
    # Not rep_bob's lead: as if it did not exist.
    hidden = api_as(rep_bob).get(url)
    assert hidden.status_code == 404 and hidden.json() == {"detail": "Not found."}
    assert api_as(rep_ann).get("/api/v1/leads/999999/emails/").status_code == 404


def test_both_endpoints_are_in_the_schema_with_their_error_answers(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    tracks = schema["paths"]["/api/v1/tracks/"]["get"]["responses"]
    emails = schema["paths"]["/api/v1/leads/{id}/emails/"]["get"]["responses"]
    assert {"200", "401", "403"} <= set(tracks)
    assert {"200", "401", "404"} <= set(emails)
