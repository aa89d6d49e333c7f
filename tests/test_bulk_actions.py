"""Bulk actions on a selection or on all leads matching the filter: set-based, recorded,
and never beyond what the user may see."""

import csv
import io

import pytest

from leads.models import Activity, Campaign, FieldChange, Lead, StageChange
from tests.helpers import make_lead

URL = "/leads/bulk/"


@pytest.mark.django_db
def test_disqualifying_a_selection_records_each_transition_with_the_reason(client, marketer):
    a, b, c = make_lead(), make_lead(), make_lead()
    client.force_login(marketer)
    response = client.post(
        URL, {"action": "disqualify", "reason": "Student", "ids": [a.pk, b.pk]}, follow=True
    )
    assert b"Disqualified 2 leads." in response.content
    assert set(Lead.objects.filter(stage="disqualified").values_list("pk", flat=True)) == {
        a.pk,
        b.pk,
    }
    moves = StageChange.objects.filter(to_stage="disqualified")
    assert sorted(moves.values_list("lead_id", "from_stage", "reason", "changed_by")) == [
        (a.pk, "new", "Student", marketer.pk),
        (b.pk, "new", "Student", marketer.pk),
    ]
    c.refresh_from_db()
    assert c.stage == "new"


@pytest.mark.django_db
def test_all_matching_the_filter_means_exactly_the_filtered_leads(client, marketer):
    for i in range(5):
        make_lead(email=f"student{i}@uni.edu", title="Student")
    keep = make_lead(email="cto@acme.io", title="CTO")
    client.force_login(marketer)
    response = client.post(
        URL,
        {"action": "disqualify", "reason": "Students", "scope": "all", "filter": "search=uni.edu"},
        follow=True,
    )
    assert b"Disqualified 5 leads." in response.content
    assert response.redirect_chain[-1][0] == "/leads/?search=uni.edu"
    keep.refresh_from_db()
    assert keep.stage == "new"
    # Running it again changes nothing: those leads are already disqualified.
    again = client.post(
        URL,
        {"action": "disqualify", "reason": "x", "scope": "all", "filter": "search=uni.edu"},
        follow=True,
    )
    assert b"Disqualified 0 leads." in again.content
    assert StageChange.objects.filter(to_stage="disqualified").count() == 5


@pytest.mark.django_db
def test_a_rep_cannot_touch_leads_they_do_not_see_even_by_id_or_scope_all(client, rep_ann, rep_bob):
    mine = make_lead(owner=rep_ann)
    theirs = make_lead(owner=rep_bob)
    client.force_login(rep_ann)
    client.post(URL, {"action": "disqualify", "reason": "x", "ids": [mine.pk, theirs.pk]})
    client.post(URL, {"action": "disqualify", "reason": "x", "scope": "all"})
    theirs.refresh_from_db()
    assert theirs.stage == "new"
    assert Lead.objects.get(pk=mine.pk).stage == "disqualified"
    assert (
        client.post(URL, {"action": "assign", "owner": "rep_ann", "scope": "all"}).status_code
        == 403
    )


@pytest.mark.django_db
def test_a_manager_reassigns_team_leads_and_it_is_noted_on_each_timeline(client, manager, rep_ann):
    leads = [make_lead(owner=rep_ann), make_lead(owner=rep_ann)]
    client.force_login(manager)
    ids = [lead.pk for lead in leads]
    response = client.post(URL, {"action": "assign", "owner": "manager", "ids": ids}, follow=True)
    assert b"Assigned 2 leads to manager." in response.content
    assert Lead.objects.filter(owner=manager).count() == 2
    assert Activity.objects.filter(kind="assigned", user=manager).count() == 2
    bad = client.post(
        URL, {"action": "assign", "owner": "ghost", "ids": [leads[0].pk]}, follow=True
    )
    assert b"is not a sales rep or manager" in bad.content


@pytest.mark.django_db
def test_changing_the_campaign_sets_latest_touch_and_fills_first_touch(client, marketer):
    spring = Campaign.objects.create(code="spring", name="Spring", channel="webinar")
    autumn = Campaign.objects.create(code="autumn", name="Autumn", channel="webinar")
    had = make_lead(campaign=spring)
    had_none = make_lead()
    client.force_login(marketer)
    client.post(URL, {"action": "campaign", "campaign": "autumn", "ids": [had.pk, had_none.pk]})
    had.refresh_from_db()
    had_none.refresh_from_db()
    assert (had.campaign, had.latest_campaign) == (spring, autumn)
    assert (had_none.campaign, had_none.latest_campaign) == (autumn, autumn)
    assert FieldChange.objects.filter(field="latest_campaign", new_value=autumn.pk).count() == 2


@pytest.mark.django_db
def test_exporting_a_selection_gives_just_those_rows(client, marketer):
    a, _ = make_lead(email="a@x.io"), make_lead(email="b@x.io")
    client.force_login(marketer)
    response = client.post(URL, {"action": "export", "ids": [a.pk]})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert [r["email"] for r in csv.DictReader(io.StringIO(body))] == ["a@x.io"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"action": "disqualify", "reason": "x"}, b"Select at least one lead"),
        ({"action": "disqualify", "scope": "all"}, b"Give a reason"),
        ({"action": "campaign", "scope": "all", "campaign": "nope"}, b"Choose a campaign"),
        ({"action": "", "scope": "all"}, b"Choose an action"),
        (
            {"action": "disqualify", "reason": "x", "scope": "all", "filter": "stage=hot"},
            b"not valid",
        ),
    ],
)
def test_incomplete_bulk_requests_change_nothing_and_say_why(client, marketer, post, message):
    make_lead()
    client.force_login(marketer)
    response = client.post(URL, post, follow=True)
    assert message in response.content
    assert not Lead.objects.exclude(stage="new").exists()


@pytest.mark.django_db
def test_bulk_changes_run_the_same_queries_for_3_or_60_leads(
    client, marketer, django_assert_max_num_queries
):
    client.force_login(marketer)
    for _ in range(3):
        make_lead(title="Student")
    with django_assert_max_num_queries(12) as small:
        client.post(URL, {"action": "disqualify", "reason": "x", "scope": "all"})
    for _ in range(57):
        make_lead(title="Student")
    with django_assert_max_num_queries(24) as large:  # two requests
        client.post(URL, {"action": "assign", "owner": "", "scope": "all"})
        client.post(URL, {"action": "disqualify", "reason": "x", "scope": "all"})
    assert len(large.captured_queries) <= 2 * len(small.captured_queries)
    assert Lead.objects.filter(stage="disqualified").count() == 60
