"""Export and erase a person (GDPR articles 15 and 17): one JSON document with everything
held about them; after an erasure no text or JSON column of any table — nor the kept
import file — holds their email, name or phone, the funnel's counts are unchanged, an
old list is skipped with its message and a form brings them back without email."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDate

from dashboards.models import CohortDay, StageDay
from dashboards.services import rollup
from handoff.models import Handoff, Notification, TeamPolicy
from handoff.services import actions, sla
from leads import personal_data
from leads.models import ConsentStatus, Erasure, ImportJob, Lead, LeadForm, Stage, StageChange, Team
from leads.services import capture_lead, log_touch, move_stage, record_consent, update_lead
from leads.services.erased import email_hash
from leads.services.merges import merge_leads, report_duplicate
from nurturing.models import Send, SoftBounce
from nurturing.services import recipients
from tests.conftest import CURRENT_TIME
from tests.helpers import committed, make_lead
from tests.nurturing_helpers import template, tick, track
from tests.test_imports import run_csv

NOW = CURRENT_TIME  # Monday 2 November 2026, 09:30 UTC
EMAIL = "zebulon.quackenbush@erasable-example.com"
OTHER_EMAIL = "zq@other-example.org"
PHONE = "+4915123456789"
PERSON = [EMAIL, OTHER_EMAIL, "Zebulon", "Quackenbush", "15123456789", "ZEB-4711"]
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def zebulon(marketer, manager, rep_ann, rep_bob):
    """A person with a rich history: an import row, a duplicate merged in, a hand edit
    and consent, a note, events, nurture emails sent and a soft bounce, a handoff that
    breached its SLA (notifications), was accepted and contacted with notes."""
    team = Team.objects.get(name="Inside Sales")
    team.members.add(rep_bob)
    TeamPolicy.objects.create(team=team, time_zone="UTC", fallback=True)
    track(("email", {"template": template().pk}), ("wait", {"amount": 7, "unit": "days"}))
    job = run_csv(
        "email,first_name,last_name,phone,country\n"
        f"{EMAIL.upper()},Zebulon,Quackenbush,0151 23456789,DE\n"
        "ada@example.com,Ada,Lovelace,,GB\n",
        by=marketer,
        source="webinar",
    )
    assert job.status == ImportJob.Status.DONE, job.errors
    lead = Lead.objects.get(email=EMAIL)
    duplicate = capture_lead(
        data={"email": OTHER_EMAIL, "first_name": "Zeb", "last_name": "Quackenbush",
              "external_id": "ZEB-4711", "source": "webinar"},
        by=marketer, channel="api", now=NOW,
    ).lead  # fmt: skip
    merge_leads(survivor_id=lead.pk, other_id=duplicate.pk, take=[], by=marketer, now=NOW)
    update_lead(lead_id=lead.pk, changes={"title": "CTO of Quackenbush Ltd"}, by=marketer,
                now=NOW)  # fmt: skip
    record_consent(lead_id=lead.pk, status="granted", method="asked Zebulon at the booth",
                   by=marketer, now=NOW)  # fmt: skip
    log_touch(lead_id=lead.pk, kind="note", body="Zebulon Quackenbush prefers mornings.",
              by=marketer, now=NOW)  # fmt: skip
    tick(NOW)
    assert Send.objects.filter(lead=lead, status="sent").exists()
    recipients.record_email_event(type="soft_bounce", email=EMAIL, now=NOW)
    with committed():
        move_stage(lead_id=lead.pk, to_stage=Stage.MQL, by=marketer, reason="Zebulon called",
                   now=NOW + timedelta(hours=1))  # fmt: skip
    handoff = Handoff.objects.get(lead=lead)
    sla.scan(now=NOW + timedelta(hours=3), email=False)  # breached: notices name the lead
    assert Notification.objects.filter(handoff=handoff, text__contains="Zebulon").exists()
    handoff.refresh_from_db()  # escalated to the other rep
    actions.accept_handoff(handoff_id=handoff.pk, by=handoff.rep, now=NOW + timedelta(hours=3))
    actions.log_contact(handoff_id=handoff.pk, kind="call", note="Zebulon wants a demo",
                        by=handoff.rep, now=NOW + timedelta(hours=4))  # fmt: skip
    report_duplicate(lead_id=lead.pk, by=rep_ann, now=NOW, note="Zebulon again, I think")
    return Lead.objects.get(pk=lead.pk)


def _hits(values: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text, varchar or JSON column of every table of
    the database holding one of `values` (case-insensitively)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb', 'ARRAY', 'character')"
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            for value in values:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                    [f"%{value}%"],
                )
                if cursor.fetchone()[0]:
                    found.append((table, column, value))
    return found


def _funnel() -> dict:
    """The funnel as the dashboards count it: stage changes by stage and day, leads by
    source and campaign."""
    changes = (
        StageChange.objects.annotate(day=TruncDate("changed_at"))
        .values_list("from_stage", "to_stage", "day")
        .annotate(n=Count("id"))
    )
    by_source = Lead.objects.filter(merged_into__isnull=True).values_list("source", "campaign_id")
    return {
        "changes": sorted(changes),
        "leads": sorted(by_source.annotate(n=Count("id"))),
        "handoffs": sorted(Handoff.objects.values_list("team_id", "rep_id", "accepted_at")),
    }


def _dashboards() -> tuple:
    """The dashboards' rollups (dashboards.services.rollup), row by row, and every number
    of every dashboard page (names left out: an erased lead is nameless)."""
    from decimal import Decimal

    from django.contrib.auth.models import User

    from dashboards.pages import DASHBOARDS
    from dashboards.selectors import filters

    reader = User.objects.get(username="marketer")
    numbers = []
    for slug, board in DASHBOARDS.items():
        for mode in ("cohort", "period"):
            f = filters.parse({"from": "2026-09-01", "to": "2026-12-31", "mode": mode},
                              user=reader, now=NOW + timedelta(days=2))  # fmt: skip
            page = board.build(f, {}, NOW + timedelta(days=2))
            numbers.extend((slug, mode, table.name, [
                tuple(v for v in row.values()
                      if isinstance(v, int | float | Decimal) and not isinstance(v, bool))
                for row in table.rows
            ]) for table in page.tables)  # fmt: skip
    return (
        numbers,
        sorted(StageDay.objects.values_list("day", "stage", "source", "campaign_id", "team_id",
                                            "entries", "reentries", "backward", "forward",
                                            "waiting")),
        sorted(CohortDay.objects.values_list("day", "stage", "source", "campaign_id", "team_id",
                                             "leads", "onward", "amount")),
    )  # fmt: skip


def test_the_export_holds_everything_about_the_person_and_only_marketing_gets_it(
    zebulon, marketer, rep_ann, api_as
):
    answer = api_as(marketer).get(f"/api/v1/leads/{zebulon.pk}/export/")
    assert answer.status_code == 200
    document = answer.json()
    leads = document["leads"]
    assert leads["lead"]["email"] == EMAIL and leads["lead"]["phone"] == PHONE
    assert [m["email"] for m in leads["merged_leads"]] == [None]  # its identity is an alias
    assert {a["value"] for a in leads["aliases"]} >= {OTHER_EMAIL, "ZEB-4711"}
    assert [c["to"] for c in leads["consent"]["history"]] == ["granted"]
    assert {e["kind"] for e in leads["timeline"]} >= {"captured", "note", "merged"}
    assert leads["imports"] and leads["stage_history"]
    assert document["nurturing"]["emails"][0]["to_email"] == EMAIL
    assert document["nurturing"]["soft_bounces"][0]["email"] == EMAIL
    assert document["handoff"]["handoffs"][0]["status"] == "accepted"
    assert document["handoff"]["notifications"]
    assert "score_history" in document["scoring"]
    assert api_as(rep_ann).get(f"/api/v1/leads/{zebulon.pk}/export/").status_code == 403


def test_after_erasing_no_table_or_kept_file_holds_the_person_and_the_funnel_counts_stay(
    zebulon, marketer, api_as
):
    assert {value for _, _, value in _hits(PERSON)} == set(PERSON)  # the search finds them
    before = _funnel()
    rollup.run(now=NOW + timedelta(days=1))
    dashboards_before = _dashboards()
    pages = {(slug, table) for slug, _, table, rows in dashboards_before[0] if any(rows)}
    assert {"funnel", "sources", "sla", "nurture"} <= {slug for slug, _ in pages}  # they count
    job = ImportJob.objects.get()
    client = api_as(marketer)
    assert client.post(f"/api/v1/leads/{zebulon.pk}/erase/", {}, format="json").status_code == 400
    answer = client.post(
        f"/api/v1/leads/{zebulon.pk}/erase/", {"reason": "Their request by email"}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["erased_by"] == "marketer"
    assert _hits(PERSON) == []
    with open(job.file.path, encoding="utf-8") as kept:
        text = kept.read()
    assert "quackenbush" not in text.lower() and "23456789" not in text
    assert "ada@example.com" in text  # the other rows stay for the import's record
    assert _funnel() == before
    rollup.run(now=NOW + timedelta(days=1, minutes=1))  # the erasure's rows are read
    assert _dashboards() == dashboards_before
    lead = Lead.objects.get(pk=zebulon.pk)
    assert lead.erased_at is not None and lead.display_name == f"Erased lead {lead.pk}"
    assert lead.stage == Stage.SAL and StageChange.objects.filter(lead=lead).count() == 4
    assert Handoff.objects.get(lead=lead).status == Handoff.Status.CLOSED
    assert not SoftBounce.objects.exists()
    erasure = Erasure.objects.get()
    assert (erasure.erased_by, erasure.reason) == (marketer, "Their request by email")
    assert set(erasure.emails.values_list("email_hash", flat=True)) == {
        email_hash(EMAIL),
        email_hash(OTHER_EMAIL),
    }
    # Gone for everyone: a second erasure or an export is a 404, the lead list skips it.
    assert client.post(f"/api/v1/leads/{zebulon.pk}/erase/", {"reason": "x"}).status_code == 404
    assert client.get(f"/api/v1/leads/{zebulon.pk}/export/").status_code == 404
    assert zebulon.pk not in [row["id"] for row in client.get("/api/v1/leads/").json()["results"]]


def test_an_old_list_skips_the_erased_person_with_its_message_but_a_form_brings_them_back_unmailed(
    zebulon, marketer, api_as, client
):
    api_as(marketer).post(
        f"/api/v1/leads/{zebulon.pk}/erase/", {"reason": "Their request"}, format="json"
    )
    job = run_csv(
        f"email,first_name\n{EMAIL},Zebulon\nnew@example.com,New\n", by=marketer, source="webinar"
    )
    when = Erasure.objects.get().erased_at  # the API erases as of the clock
    message = f"Skipped: this person was erased on {when.day} {when:%B %Y} at their request."
    assert job.status == ImportJob.Status.DONE
    assert (job.rows_imported, job.rows_created) == (1, 1)
    assert job.errors == [{"row": 2, "column": "email", "message": message}]
    with open(job.file.path, encoding="utf-8") as kept:
        assert EMAIL not in kept.read()  # the skipped row is blanked in the upload too
    client.force_login(marketer)
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "1 row skipped" in page and message in page
    batch = api_as(marketer).post(
        "/api/v1/leads/batch/", [{"email": EMAIL.upper()}, {"email": "b@example.com"}],
        format="json",
    )  # fmt: skip
    first, second = batch.json()["results"]
    assert first == {"status": 400, "errors": {"email": [message]}} and second["status"] == 201
    assert not Lead.objects.filter(email=EMAIL).exists()

    # They come back by themselves through a form, ticking its consent box: a new lead,
    # no marketing email, until they consent anew.
    cache.clear()
    LeadForm.objects.create(slug="webinar", name="Webinar", fields=["email", "first_name"],
                            source="webinar", consent_text="Send me news")  # fmt: skip
    client.post("/f/webinar/", {"email": EMAIL, "first_name": "Zebulon", "consent": "yes"})
    back = Lead.objects.get(email=EMAIL)
    assert back.pk != zebulon.pk and back.consent_status == ConsentStatus.WITHDRAWN
    later = NOW + timedelta(days=1)
    tick(later)
    assert not Send.objects.filter(lead=back).exists()
    record_consent(lead_id=back.pk, status="granted", method="confirmed by email",
                   by=marketer, now=later)  # fmt: skip
    tick(later + timedelta(hours=1))
    assert Send.objects.filter(lead=back).exists()


def test_every_app_registers_what_it_holds_and_erasing_is_refused_without_a_reason(
    marketer, client
):
    assert [h.app for h in personal_data.holders()] == ["handoff", "nurturing", "scoring", "leads"]
    lead = make_lead()
    client.force_login(marketer)
    page = client.get(f"/leads/{lead.pk}/erase/")
    assert page.status_code == 200 and b"cannot be undone" in page.content
    refused = client.post(f"/leads/{lead.pk}/erase/", {"reason": "Asked", "confirm": "nope"})
    assert refused.status_code == 400 and Lead.objects.get(pk=lead.pk).erased_at is None
    done = client.post(f"/leads/{lead.pk}/erase/", {"reason": "Asked", "confirm": lead.email})
    assert done.status_code == 302 and Lead.objects.get(pk=lead.pk).erased_at is not None
    download = client.get(f"/leads/{make_lead().pk}/export.json")
    assert download["Content-Disposition"].startswith("attachment")
