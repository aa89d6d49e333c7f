"""Who may own a lead and who may give leads to whom (leads.services.ownership): one rule
that assign_owner and bulk_assign_owner enforce, refusing without changing anything."""

import pytest
from django.core.exceptions import PermissionDenied

from leads.exceptions import LeadFlowError
from leads.models import Activity, Lead, Team
from leads.services import assign_owner, bulk_assign_owner
from leads.services.ownership import assignable_owners, assignment_target, possible_owners
from tests.helpers import announcements, make_lead


@pytest.fixture
def announced():
    """The owner_changed announcements made (and committed) during the test."""
    with announcements("owner_changed") as seen:
        yield seen


def _names(users) -> list[str]:
    return [user.username for user in users]


@pytest.mark.django_db
def test_an_owner_is_an_active_sales_rep_or_manager(
    marketer, rep_ann, rep_bob, manager, django_user_model
):
    gone = django_user_model.objects.create_user(username="gone", is_active=False)
    gone.groups.add(*rep_ann.groups.all())
    assert _names(possible_owners()) == ["manager", "rep_ann", "rep_bob"]
    assert _names(assignable_owners(marketer)) == ["manager", "rep_ann", "rep_bob"]


@pytest.mark.django_db
def test_a_manager_may_assign_only_to_members_and_managers_of_their_teams(
    manager, rep_ann, rep_bob, django_user_model
):
    assert _names(assignable_owners(manager)) == ["manager", "rep_ann"]
    other = Team.objects.create(name="Field Sales")
    other.members.add(rep_bob)
    assert _names(assignable_owners(manager)) == ["manager", "rep_ann"]  # not their team
    other.managers.add(manager)
    assert _names(assignable_owners(manager)) == ["manager", "rep_ann", "rep_bob"]
    assert _names(assignable_owners(rep_ann)) == []


@pytest.mark.django_db
def test_a_manager_cannot_give_a_lead_to_someone_outside_their_teams(
    manager, rep_ann, rep_bob, now, announced, django_capture_on_commit_callbacks
):
    lead = make_lead(owner=rep_ann)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(LeadFlowError) as refused:
        assign_owner(lead_id=lead.pk, owner=rep_bob, by=manager, now=now)
    assert "rep_bob is not in a team you manage" in refused.value.message
    with pytest.raises(LeadFlowError):
        bulk_assign_owner(leads=Lead.objects.all(), owner=rep_bob, by=manager, now=now)
    assert Lead.objects.get(pk=lead.pk).owner == rep_ann
    assert Activity.objects.filter(kind="assigned").count() == 1  # the set-up's
    assert announced == []


@pytest.mark.django_db
def test_a_manager_cannot_assign_a_lead_they_cannot_see(manager, rep_ann, rep_bob, now):
    theirs = make_lead(owner=rep_bob)  # rep_bob is in none of the manager's teams
    with pytest.raises(LeadFlowError, match="cannot see this lead"):
        assign_owner(lead_id=theirs.pk, owner=rep_ann, by=manager, now=now)
    team_lead = make_lead(owner=rep_ann)
    changed = bulk_assign_owner(leads=Lead.objects.all(), owner=manager, by=manager, now=now)
    assert changed == 1
    assert Lead.objects.get(pk=theirs.pk).owner == rep_bob
    assert Lead.objects.get(pk=team_lead.pk).owner == manager


@pytest.mark.django_db
def test_a_rep_may_not_assign_at_all(rep_ann, rep_bob, now):
    lead = make_lead(owner=rep_ann)
    with pytest.raises(PermissionDenied):
        assign_owner(lead_id=lead.pk, owner=rep_ann, by=rep_ann, now=now)
    with pytest.raises(PermissionDenied):
        bulk_assign_owner(leads=Lead.objects.all(), owner=rep_bob, by=rep_ann, now=now)
    with pytest.raises(PermissionDenied):
        assignment_target(by=rep_ann, username="rep_bob")
    assert Lead.objects.get(pk=lead.pk).owner == rep_ann


@pytest.mark.django_db
def test_no_owner_or_one_who_cannot_own_is_refused_and_changes_nothing(
    marketer, rep_ann, now, django_user_model
):
    lead = make_lead(owner=rep_ann)
    with pytest.raises(LeadFlowError, match=r"Choose an owner; nothing was changed\."):
        bulk_assign_owner(leads=Lead.objects.all(), owner=None, by=marketer, now=now)
    with pytest.raises(LeadFlowError, match="Choose an owner"):
        assign_owner(lead_id=lead.pk, owner=None, by=marketer, now=now)
    with pytest.raises(LeadFlowError, match="'marketer' is not an active sales rep or manager"):
        assign_owner(lead_id=lead.pk, owner=marketer, by=marketer, now=now)
    with pytest.raises(LeadFlowError, match="'ghost' is not an active sales rep or manager"):
        assignment_target(by=marketer, username="ghost")
    with pytest.raises(LeadFlowError, match="Choose an owner"):
        assignment_target(by=marketer, username="")
    assert Lead.objects.get(pk=lead.pk).owner == rep_ann


@pytest.mark.django_db
def test_assigning_announces_which_leads_changed_hands_and_notes_each_timeline(
    marketer, rep_ann, rep_bob, now, announced, django_capture_on_commit_callbacks
):
    a, b, c = make_lead(owner=rep_ann), make_lead(owner=rep_bob), make_lead()
    announced.clear()  # the set-up's own assignments
    with django_capture_on_commit_callbacks(execute=True):
        changed = bulk_assign_owner(leads=Lead.objects.all(), owner=rep_bob, by=marketer, now=now)
    assert changed == 2
    assert announced == [{"lead_ids": sorted([a.pk, c.pk]), "owner_id": rep_bob.pk, "now": now}]
    assert Activity.objects.filter(kind="assigned", user=marketer).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        assign_owner(lead_id=b.pk, owner=rep_ann, by=marketer, now=now)
        assign_owner(lead_id=b.pk, owner=rep_ann, by=marketer, now=now)  # already: no news
    assert announced[1:] == [{"lead_ids": [b.pk], "owner_id": rep_ann.pk, "now": now}]


@pytest.mark.django_db
def test_ids_are_assigned_like_a_queryset_of_them(manager, rep_ann, rep_bob, now):
    anns, theirs = [make_lead(owner=rep_ann), make_lead(owner=rep_ann)], make_lead(owner=rep_bob)
    ids = [anns[0].pk, theirs.pk, anns[1].pk]
    # The manager sees rep_ann's leads, not rep_bob's.
    assert bulk_assign_owner(lead_ids=ids, owner=manager, by=manager, now=now) == 2
    assert Lead.objects.get(pk=theirs.pk).owner == rep_bob
    # The system gives any lead; one already theirs does not change hands again.
    assert bulk_assign_owner(lead_ids=ids, owner=rep_bob, by=None, now=now) == 2
    assert set(Lead.objects.values_list("owner__username", flat=True)) == {"rep_bob"}
    assert Activity.objects.filter(kind="assigned", lead_id=theirs.pk).count() == 1  # set-up's
    with pytest.raises(ValueError, match="either"):
        bulk_assign_owner(lead_ids=ids, leads=Lead.objects.all(), owner=rep_bob, by=None, now=now)
