"""Bulk actions on a selection or on all leads matching the filter: set-based, recorded,
and never beyond what the user may see."""

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads.models import Activity, Campaign, FieldChange, Lead, StageChange
from leads.selectors import leads_visible_to
from leads.services import bulk_assign_owner
from leads.services.campaigns import bulk_set_campaign
from leads.services.stages import move_stages
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
    post = {
        "action": "disqualify",
        "reason": "Students",
        "scope": "all",
        "filter": "search=uni.edu",
    }
    response = client.post(URL, {**post, "confirmed": "yes"}, follow=True)
    assert b"Disqualified 5 leads." in response.content
    assert response.redirect_chain[-1][0] == "/leads/?search=uni.edu"
    keep.refresh_from_db()
    assert keep.stage == "new"
    # Running it again changes nothing: those leads are already disqualified.
    again = client.post(URL, {**post, "reason": "x", "confirmed": "yes"}, follow=True)
    assert b"Disqualified 0 leads; 5 could not move from their stage." in again.content
    assert StageChange.objects.filter(to_stage="disqualified").count() == 5


@pytest.mark.django_db
def test_a_rep_cannot_touch_leads_they_do_not_see_even_by_id_or_scope_all(client, rep_ann, rep_bob):
    mine = make_lead(owner=rep_ann)
    theirs = make_lead(owner=rep_bob)
    client.force_login(rep_ann)
    client.post(URL, {"action": "disqualify", "reason": "x", "ids": [mine.pk, theirs.pk]})
    client.post(URL, {"action": "disqualify", "reason": "x", "scope": "all", "confirmed": "yes"})
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
    assert b"Assigned 2 leads to Manager." in response.content
    assert Lead.objects.filter(owner=manager).count() == 2
    assert Activity.objects.filter(kind="assigned", user=manager).count() == 2
    bad = client.post(
        URL, {"action": "assign", "owner": "ghost", "ids": [leads[0].pk]}, follow=True
    )
    assert b"is not an active sales rep or manager; nothing was changed." in bad.content


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
        (
            {"action": "disqualify", "scope": "all", "confirmed": "yes"},
            b"Say why the leads move to Disqualified; nothing was changed.",
        ),
        ({"action": "disqualify", "scope": "all"}, b"Disqualify 1 lead?"),  # asks first
        ({"action": "campaign", "scope": "all", "campaign": "nope"}, b"Choose a campaign"),
        ({"action": "assign", "scope": "all", "owner": ""}, b"Choose an owner"),
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
    client, marketer, rep_ann, rep_bob, django_assert_max_num_queries
):
    client.force_login(marketer)
    every = {"scope": "all", "confirmed": "yes"}
    for _ in range(3):
        make_lead(title="Student")
    with django_assert_max_num_queries(24) as small:  # two requests
        client.post(URL, {"action": "assign", "owner": "rep_ann", **every})
        client.post(URL, {"action": "disqualify", "reason": "x", **every})
    for _ in range(57):
        make_lead(title="Student")
    with django_assert_max_num_queries(24) as large:
        client.post(URL, {"action": "assign", "owner": "rep_bob", **every})
        client.post(URL, {"action": "disqualify", "reason": "x", **every})
    assert len(large.captured_queries) == len(small.captured_queries)
    assert Lead.objects.filter(stage="disqualified", owner=rep_bob).count() == 60


@pytest.mark.django_db
def test_every_change_to_all_matching_leads_asks_first_with_the_count_and_changes_nothing(
    client, marketer, rep_ann
):
    for i in range(3):
        make_lead(email=f"student{i}@uni.edu")
    make_lead(email="cto@acme.io")
    Campaign.objects.create(code="autumn", name="Autumn", channel="webinar")
    client.force_login(marketer)
    every = {"scope": "all", "filter": "search=uni.edu"}
    for post, question in [
        ({"action": "disqualify", "reason": "Students"}, "Disqualify 3 leads?"),
        ({"action": "assign", "owner": "rep_ann"}, "Assign 3 leads to Ann?"),
        ({"action": "campaign", "campaign": "autumn"}, "Move 3 leads to the campaign Autumn?"),
    ]:
        page = client.post(URL, {**post, **every})
        html = page.content.decode()
        assert page.status_code == 200 and f'<h1 id="confirm-question">{question}</h1>' in html
        assert '<input type="hidden" name="confirmed" value="yes">' in html
        assert "Search <strong>uni.edu</strong>" in html
        assert 'href="/leads/?search=uni.edu">Cancel</a>' in html
    assert not Lead.objects.exclude(stage="new").exists()
    assert not Lead.objects.filter(owner__isnull=False).exists()
    assert not Lead.objects.filter(latest_campaign__isnull=False).exists()
    # The page's button sends the same request again, confirmed.
    done = client.post(URL, {"action": "disqualify", "reason": "Students", "confirmed": "yes",
                             **every}, follow=True)  # fmt: skip
    assert b"Disqualified 3 leads." in done.content
    assert Lead.objects.filter(stage="disqualified").count() == 3


def test_the_question_counts_with_thousands_separators():
    from leads.views.lists import BulkChange

    change = BulkChange("Disqualify", "", lambda leads, now: "")
    assert change.question(9240) == "Disqualify 9,240 leads?"
    assert change.button(1) == "Disqualify 1 lead"


@pytest.mark.django_db
def test_the_confirmation_asks_for_the_reason_the_stage_machine_requires(client, marketer):
    make_lead()
    client.force_login(marketer)
    html = client.post(URL, {"action": "disqualify", "scope": "all"}).content.decode()
    assert '<label for="confirm-reason">Reason (required)</label>' in html
    assert 'name="reason" value="" maxlength="500" required' in html


@pytest.mark.django_db
def test_disqualifying_says_how_many_moved_and_how_many_could_not(client, marketer, now):
    from leads.services import move_stage

    leads = [make_lead() for _ in range(3)]
    move_stage(lead_id=leads[0].pk, to_stage="disqualified", by=marketer, reason="Spam", now=now)
    client.force_login(marketer)
    response = client.post(
        URL, {"action": "disqualify", "reason": "Junk", "ids": [x.pk for x in leads]}, follow=True
    )
    assert b"Disqualified 2 leads; 1 could not move from their stage." in response.content


@pytest.mark.django_db
def test_assigning_with_no_owner_chosen_is_refused_and_unassigns_nobody(client, marketer, rep_ann):
    leads = [make_lead(owner=rep_ann), make_lead(owner=rep_ann)]
    client.force_login(marketer)
    for post in [
        {"action": "assign", "owner": "", "ids": [x.pk for x in leads]},
        {"action": "assign", "owner": "", "scope": "all", "confirmed": "yes"},
    ]:
        response = client.post(URL, post, follow=True)
        assert b"Choose an owner; nothing was changed." in response.content
    assert Lead.objects.filter(owner=rep_ann).count() == 2
    assert Activity.objects.filter(kind="assigned").count() == 2  # only the set-up's


@pytest.mark.django_db
def test_a_manager_cannot_hand_team_leads_to_someone_outside_their_teams(
    client, manager, rep_ann, rep_bob
):
    lead = make_lead(owner=rep_ann)
    client.force_login(manager)
    response = client.post(URL, {"action": "assign", "owner": "rep_bob", "ids": [lead.pk]},
                           follow=True)  # fmt: skip
    assert b"rep_bob is not in a team you manage" in response.content
    lead.refresh_from_db()
    assert lead.owner == rep_ann


def _owner_options(html: str) -> list[str]:
    select = html[html.index('<select name="owner" aria-label="New owner">') :]
    select = select[: select.index("</select>")]
    return [part.split('"')[0] for part in select.split('<option value="')[2:]]


@pytest.mark.django_db
def test_the_owner_dropdown_lists_exactly_whom_the_user_may_assign_to(
    client, marketer, manager, rep_ann, rep_bob, django_user_model
):
    django_user_model.objects.create_user(username="gone", is_active=False).groups.add(
        *rep_ann.groups.all()
    )
    make_lead(owner=rep_ann)
    client.force_login(marketer)
    assert _owner_options(client.get("/leads/").content.decode()) == [
        "manager",
        "rep_ann",
        "rep_bob",
    ]
    client.force_login(manager)
    html = client.get("/leads/").content.decode()
    assert _owner_options(html) == ["manager", "rep_ann"]
    assert '<option value="rep_ann">Ann</option>' in html  # the name the table shows
    client.force_login(rep_ann)
    assert 'aria-label="New owner"' not in client.get("/leads/").content.decode()


def _scans_of_leads(sql: str) -> int:
    """How many times the plan of `sql` reads leads_lead (EXPLAIN: nothing runs)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return len(re.findall(r"Scan (?:using \S+ )?on leads_lead\b", plan))


@pytest.mark.django_db
def test_each_bulk_statement_reads_the_leads_table_once_when_its_statistics_say_empty(
    marketer, manager, rep_ann, now
):
    """With leads_lead's statistics saying it is empty (an autovacuum after rolled-back
    rows, a new install's first import), PostgreSQL planned a statement that joined the
    table with itself (the queryset nested in it) as nested loops reading the whole table
    for every lead: over 20 s a statement for 1,000 leads. Each statement of a bulk
    change names its leads by id and reads the table once."""
    Lead.objects.bulk_create(Lead(email=f"gone{i}@example.com", created_at=now) for i in range(60))
    Lead.objects.filter(email__startswith="gone").delete()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")  # only deleted rows: "empty", on its pages
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'leads_lead'::regclass")
        assert cursor.fetchone()[0] == 0
    Lead.objects.bulk_create(
        Lead(email=f"bulk{i}@example.com", created_at=now, owner=rep_ann, source="webinar")
        for i in range(40)
    )
    ids = list(Lead.objects.filter(source="webinar").values_list("pk", flat=True))
    campaign = Campaign.objects.create(code="spring", name="Spring", created_at=now)
    webinar = leads_visible_to(manager).filter(source="webinar")
    with CaptureQueriesContext(connection) as queries:
        assert bulk_assign_owner(leads=webinar, owner=manager, by=manager, now=now) == 40
        assert bulk_assign_owner(lead_ids=ids, owner=rep_ann, by=manager, now=now) == 40
        assert bulk_assign_owner(lead_ids=ids, owner=manager, by=None, now=now) == 40
        chosen = leads_visible_to(marketer).filter(pk__in=ids[:30])
        assert bulk_set_campaign(leads=chosen, campaign=campaign, by=marketer, now=now) == 30
        moved = move_stages(leads=webinar, to_stage="disqualified", by=manager, reason="x", now=now)
        assert moved.count == 40
    statements = [q["sql"] for q in queries if "leads_lead" in q["sql"]]
    assert len(statements) >= 5  # at least one a change
    twice = [(sql[:300], n) for sql in statements if (n := _scans_of_leads(sql)) > 1]
    assert twice == []
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")  # leave the next tests statistics of rows
