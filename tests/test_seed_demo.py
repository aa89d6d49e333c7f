"""`manage.py seed_demo`: realistic demo data through the product's services."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count

from leadflow import demo_handoff
from leads.models import Campaign, Lead, LeadForm, StageChange


@pytest.mark.django_db
def test_seed_demo_creates_logins_campaigns_and_leads_with_consistent_history(capsys):
    call_command("seed_demo", "--leads", "300")
    users = get_user_model().objects.filter(
        username__in=["marketer", "rep_ann", "rep_bob", "manager"]
    )
    assert {u.username: u.groups.get().name for u in users} == {
        "marketer": "marketing",
        "rep_ann": "sales",
        "rep_bob": "sales",
        "manager": "manager",
    }
    assert users.get(username="rep_ann").check_password("leadflow-demo")
    assert Campaign.objects.values("channel").distinct().count() >= 6
    # Plus the same people again, as duplicates, and one entered by hand.
    assert Lead.objects.count() == 300 + 8 + 1
    assert Lead.objects.get(email="lena.fischer@kontor.example").owner.username == "rep_ann"
    from leads.models import Activity, Erasure

    assert Activity.objects.filter(kind="captured", data__channel="manual").count() == 1
    erasure = Erasure.objects.get()
    assert erasure.lead.erased_at and erasure.erased_by.username == "marketer"
    assert LeadForm.objects.filter(slug="demo-request").exists()
    assert Lead.objects.filter(custom__has_key="seats").count() > 100
    from django.db import connection

    from leads.selectors import duplicate_suggestions

    # Autovacuum may have just counted this shared test table empty (reltuples 0, after
    # earlier tests' rows were flushed): planned for no rows, the duplicate lookups over
    # these 308 take minutes. Statistics for what the test made, as production has.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    marketer = users.get(username="marketer")
    assert len(duplicate_suggestions(marketer).pairs) >= 8
    assert Lead.objects.values("source").distinct().count() >= 6
    stages = dict(Lead.objects.values_list("stage").annotate(n=Count("id")))
    assert {"new", "nurturing", "mql", "sal", "won", "lost", "disqualified"} <= set(stages)
    # Every lead's current stage is where its recorded history ends.
    for lead in Lead.objects.all():
        last = StageChange.objects.filter(lead=lead).order_by("changed_at", "id").last()
        assert last.to_stage == lead.stage
    # Leads past MQL belong to a named rep.
    assert not Lead.objects.filter(
        stage__in=["sal", "sql", "opportunity", "won"], owner=None
    ).exists()
    assert "Demo logins" in capsys.readouterr().out
    # Handoff: two teams in different time zones, Inside Sales the fallback, one rep away,
    # handoffs in every state, rejections with each reason, breaches.
    from handoff.models import Handoff, RepSettings, TeamPolicy

    zones = dict(TeamPolicy.objects.values_list("team__name", "time_zone"))
    assert zones == {"Inside Sales": "America/New_York", "Enterprise": "Europe/London"}
    assert TeamPolicy.objects.get(fallback=True).team.name == "Inside Sales"
    assert RepSettings.objects.filter(away_from__isnull=False).count() == 1
    assert set(Handoff.objects.values_list("status", flat=True)) == {
        "pending",
        "accepted",
        "rejected",
        "closed",
    }
    assert set(
        Handoff.objects.exclude(reject_reason="").values_list("reject_reason", flat=True)
    ) == {r for r, _ in demo_handoff.REJECTIONS}
    assert Handoff.objects.filter(breaches__gt=0).exists()
    # Every lead in SAL or later got there through an accepted handoff.
    assert (
        not Lead.objects.filter(stage__in=["sal", "sql", "opportunity", "won"])
        .exclude(handoffs__accepted_at__isnull=False)
        .exists()
    )
    # Nurturing: an active track per source named in DESIGN.md and a recycle track, each
    # starting with an email; a history of sends, opens and clicks.
    from nurturing.models import Enrolment, Send, Track

    active = Track.objects.filter(active=True)
    assert {r.source for t in active for r in t.rules.all()} == {
        "trade_show",
        "webinar",
        "content_syndication",
    }
    assert active.filter(recycle=True).count() == 1
    assert all(t.steps.order_by("position").first().kind == "email" for t in active)
    sends = Send.objects.filter(status="sent")
    assert sends.count() > 50
    assert sends.filter(opened_at__isnull=False).exists()
    assert sends.filter(clicked_at__isnull=False).exists()
    # Nobody past nurturing is still in a track; nobody without consent got an email.
    assert (
        not Enrolment.objects.filter(status="active")
        .exclude(lead__stage__in=["new", "nurturing"])
        .exists()
    )
    assert (
        not sends.exclude(lead__consent_status="granted")
        .exclude(lead__consent_status="withdrawn")
        .exists()
    )
    # The dashboards open with figures: the demo ends with their first rollup.
    from dashboards.models import CohortDay, RollupState, Visit

    assert RollupState.objects.get().as_of is not None
    assert Visit.objects.count() == StageChange.objects.count()
    assert CohortDay.objects.filter(stage="won", leads__gt=0).exists()


@pytest.mark.django_db
def test_seed_demo_runs_once(capsys):
    call_command("seed_demo", "--leads", "20")
    call_command("seed_demo", "--leads", "20", "--if-empty")
    assert "already loaded" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("seed_demo", "--leads", "20")
    assert Lead.objects.count() == 20 + 2 + 1
