"""CSV import: all or nothing, dedupe like capture_lead, human edits kept, undo, the task,
real-world files, and the API contract."""

import io
import json
import os
import threading
from datetime import timedelta
from decimal import Decimal

import psycopg2
import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from leads import roles
from leads.exceptions import InvalidTransition
from leads.models import (
    Activity,
    Campaign,
    CustomField,
    FieldChange,
    ImportJob,
    Lead,
    StageChange,
)
from leads.services import capture_lead, define_custom_field, imports, update_lead
from leads.services.imports.jobs import LOCK_NAMESPACE, MAX_STORED_ERRORS
from leads.services.imports.upkeep import upkeep
from leads.services.merges import merge_leads, unmerge
from leads.tasks import import_leads
from tests.conftest import CURRENT_TIME
from tests.helpers import make_lead
from tests.scoring_helpers import activate

URL = "/api/v1/imports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_file(text: str, *, encoding="utf-8", name="leads.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def run_csv(text, *, by, mapping=None, encoding="utf-8", **job) -> ImportJob:
    """Upload, start and run an import the way the API does (the task called directly)."""
    created = imports.create_import_job(
        upload=csv_file(text, encoding=encoding),
        mapping=mapping,
        by=by,
        now=CURRENT_TIME,
        start=True,
        **job,
    )
    import_leads(created.pk)
    return ImportJob.objects.get(pk=created.pk)


def snapshot():
    """Everything an import may write, to prove a failed one wrote nothing."""
    return (
        list(Lead.objects.order_by("id").values()),
        StageChange.objects.count(),
        Activity.objects.count(),
        FieldChange.objects.count(),
    )


# --- all or nothing ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_file_with_one_bad_row_writes_nothing_and_reports_every_error(marketer):
    make_lead(email="old@acme.io")
    before = snapshot()
    job = run_csv(
        "Email,First Name,Employees\n"
        "ann@acme.io,Ann,10\n"
        "old@acme.io,Olga,20\n"
        "not-an-email,Bad,30\n"
        "bo@acme.io,Bo,lots\n",
        by=marketer,
    )
    assert job.status == "failed"
    assert job.rows_total == 4 and job.rows_imported == 0
    assert job.errors == [
        {"row": 4, "column": "Email", "message": "'not-an-email' is not a valid email address."},
        {"row": 5, "column": "Employees", "message": "'lots' is not a number."},
    ]
    assert snapshot() == before


@pytest.mark.django_db
def test_stored_errors_are_capped_and_the_rest_counted(marketer):
    rows = "".join(f"x{n}@acme,{n}\n" for n in range(MAX_STORED_ERRORS + 5))
    job = run_csv("Email,Id\n" + rows, by=marketer, mapping={"Email": "email"})
    assert job.status == "failed"
    assert len(job.errors) == MAX_STORED_ERRORS + 1
    assert job.errors[-1] == {"row": None, "column": None, "message": "… and 5 more errors."}
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_a_row_without_any_identity_fails_the_import(marketer):
    job = run_csv("Email,First Name\nann@acme.io,Ann\n,Nobody\n", by=marketer)
    assert job.status == "failed"
    assert job.errors == [
        {"row": 3, "column": None, "message": "This row has no email, phone or external id."}
    ]
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_an_external_id_of_a_lead_with_another_email_is_a_row_error(marketer):
    capture_lead(
        data={"email": "ann@acme.io", "external_id": "SF-1", "source": "other"},
        channel="test",
        now=CURRENT_TIME,
    )
    job = run_csv("Email,Salesforce ID\nbo@acme.io,SF-1\n", by=marketer)
    assert job.status == "failed"
    assert job.errors[0]["row"] == 2
    assert "already belongs to lead" in job.errors[0]["message"]
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_two_rows_giving_one_external_id_to_two_emails_fail_with_their_rows(marketer):
    job = run_csv("Email,Record ID\nann@acme.io,7\nbo@acme.io,7\n", by=marketer)
    assert job.status == "failed"
    assert "rows 2, 3" in job.errors[0]["message"]
    assert Lead.objects.count() == 0


# --- dedupe, like capture_lead -------------------------------------------------------


@pytest.mark.django_db
def test_rows_of_one_identity_become_one_lead_and_existing_leads_only_get_empty_fields(marketer):
    spring = Campaign.objects.create(code="spring", name="Spring")
    autumn = Campaign.objects.create(code="autumn", name="Autumn")
    old = capture_lead(
        data={"email": "old@acme.io", "company": "Acme", "campaign": spring},
        channel="test",
        now=CURRENT_TIME,
    ).lead
    job = run_csv(
        "E-mail,First Name,Company Name,Mobile Phone,Country/Region\n"
        "NEW@globex.de,Nina,,,\n"
        "new@globex.de,Other,Globex,+49 30 1234567,DE\n"
        "old@acme.io,Olga,Not Acme,,DE\n"
        ",,,+49 30 1234567,\n",
        by=marketer,
        source="trade_show",
        campaign=autumn,
    )
    assert job.status == "done", job.errors
    assert (job.rows_total, job.rows_imported, job.rows_created, job.rows_updated) == (4, 4, 1, 1)
    new = Lead.objects.get(email="new@globex.de")
    assert (new.first_name, new.company, new.phone, new.country) == (
        "Nina", "Globex", "+49301234567", "DE",
    )  # fmt: skip
    assert new.stage == "new" and new.source == "trade_show" and new.import_job == job
    assert new.campaign == autumn and new.latest_campaign == autumn
    assert new.company_domain == "globex.de"
    assert list(new.stage_changes.values_list("from_stage", "to_stage")) == [("", "new")]
    assert new.activities.get().data == {"channel": "import", "created": True, "import_job": job.pk}

    old.refresh_from_db()
    assert (old.first_name, old.company, old.country) == ("Olga", "Acme", "DE")
    assert old.campaign == spring and old.latest_campaign == autumn  # first and latest touch
    assert old.import_job is None
    changes = set(old.field_changes.values_list("field", "old_value", "new_value", "channel"))
    assert changes == {
        ("first_name", "", "Olga", "import"),
        ("country", "", "DE", "import"),
        ("latest_campaign", spring.pk, autumn.pk, "import"),
    }
    assert set(old.field_changes.values_list("import_job", flat=True)) == {job.pk}
    assert Lead.objects.count() == 2


@pytest.mark.django_db
def test_fields_a_person_edited_are_never_filled_by_an_import(marketer, now):
    define_custom_field(name="tier", label="Tier", type="choice", choices=["Gold", "Silver"])
    lead = make_lead(email="kim@acme.io", title="CTO", company="Old", custom={"tier": "Silver"})
    update_lead(
        lead_id=lead.pk, changes={"title": "", "custom": {"tier": None}}, by=marketer, now=now
    )
    update_lead(lead_id=lead.pk, changes={"company": ""}, by=marketer, now=now)
    job = run_csv(
        "Email,Job Title,Company,Tier,Industry\nkim@acme.io,CEO,Acme,gold,Retail\n", by=marketer
    )
    assert job.status == "done", job.errors
    lead.refresh_from_db()
    assert lead.title == "" and lead.company == "" and lead.custom == {}
    assert lead.industry == "Retail"  # not edited by hand: filled


@pytest.mark.django_db
def test_an_import_and_capture_lead_give_the_same_leads_for_the_same_rows(marketer, rep_ann):
    """Both follow the capture spec (tests/test_capture_equals_import.py: random files)."""
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    rows = [
        {"email": "a@acme.io", "first_name": "Ann", "phone": "+4930111111", "custom": {"seats": 5}},
        {"email": "a@acme.io", "last_name": "Lee", "company_size": 50, "converted": True},
        {"external_id": "X-1", "first_name": "Xu"},
        {"email": "x@acme.io", "external_id": "X-1", "title": "CFO"},
        {"phone": "+4930111111", "company": "Acme"},
        {"phone": "+4930999999", "first_name": "Pat"},
        {"email": "b@globex.de", "phone": "+4930999999", "website": "https://www.globex.de/x"},
        {"email": "old@acme.io", "title": "VP", "country": "DE", "custom": {"seats": 9}},
        {"external_id": "OLD-2", "company": "Old Corp", "industry": "Retail"},
    ]
    columns = [
        "email", "first_name", "last_name", "phone", "external_id", "title", "company",
        "company_size", "converted", "website", "country", "industry", "seats",
    ]  # fmt: skip

    def existing():
        make_lead(email="old@acme.io", first_name="Old", last_name="Timer", owner=rep_ann)
        capture_lead(
            data={"external_id": "OLD-2", "source": "other"}, channel="t", now=CURRENT_TIME
        )

    def state():
        leads = {}
        for lead in Lead.objects.all():
            key = lead.email or lead.external_id or lead.phone
            leads[key] = (
                lead.email, lead.phone, lead.external_id, lead.first_name, lead.last_name,
                lead.title, lead.company, lead.company_domain, lead.website, lead.company_size,
                lead.converted, lead.country, lead.industry, lead.custom, lead.stage, lead.source,
                sorted(lead.stage_changes.values_list("from_stage", "to_stage")),
                # Audit rows of filled fields on the leads that existed before (an import's
                # new leads are deleted by undo, so fills between its rows need none).
                sorted(lead.field_changes.values_list("field", "old_value", "new_value"))
                if key in ("old@acme.io", "OLD-2") else None,
            )  # fmt: skip
        return leads

    existing()
    for row in rows:
        capture_lead(data={"source": "other", **row}, channel="import", now=CURRENT_TIME)
    captured = state()
    Lead.objects.all().delete()

    existing()
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    for row in rows:
        cells = {**row, **(row.get("custom") or {})}
        out.write(",".join(_cell(cells.get(c)) for c in columns) + "\n")
    job = run_csv(out.getvalue(), by=marketer)
    assert job.status == "done", job.errors
    assert state() == captured


@pytest.mark.django_db
def test_an_import_by_merged_away_identities_updates_the_survivor(marketer, now):
    work = make_lead(email="ada@acme.io", first_name="Ada")
    home = capture_lead(
        data={"email": "ada@gmail.com", "phone": "+442079460999", "external_id": "SF-7",
              "source": "referral"},
        channel="test", now=now,
    ).lead  # fmt: skip
    merge = merge_leads(survivor_id=work.pk, other_id=home.pk, take=[], by=marketer, now=now)
    job = run_csv(
        "Email,Phone,Record ID,Source,Company,Job Title,Industry\n"
        "ADA@gmail.com,,,,Acme,,\n"
        ",,SF-7,referral,,CTO,\n"
        ",+44 20 7946 0999,,,,,Software\n",
        by=marketer,
    )
    assert job.status == "done", job.errors
    assert (job.rows_created, job.rows_updated) == (0, 1)
    work.refresh_from_db()
    assert (work.company, work.title, work.industry) == ("Acme", "CTO", "Software")
    # The aliases are the survivor's already: not filled in as live identities.
    assert (work.email, work.phone, work.external_id) == ("ada@acme.io", None, None)
    assert work.activities.filter(kind="captured", data__import_job=job.pk).count() == 1

    unmerge(merge_id=merge.pk, by=marketer, now=now)
    again = run_csv("Email,Country\nada@gmail.com,GB\n", by=marketer)
    assert (again.status, again.rows_created, again.rows_updated) == ("done", 0, 1)
    assert Lead.objects.get(pk=home.pk).country == "GB"
    assert Lead.objects.get(pk=work.pk).country == ""


@pytest.mark.django_db
def test_rows_that_chain_too_deep_fail_the_import_with_a_clear_error(marketer, monkeypatch):
    """Every pass settles at least one more row; a file needing more passes is refused."""
    monkeypatch.setattr("leads.services.imports.merge.MAX_PASSES", 1)
    job = run_csv("Email,First Name\nann@acme.io,Ann\nann@acme.io,Anna\n", by=marketer)
    assert job.status == "failed"
    assert "identify each other in chains" in job.errors[0]["message"]
    assert Lead.objects.count() == 0


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- undo -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_undo_deletes_the_created_leads_and_puts_back_exactly_what_it_filled(marketer, now):
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    spring = Campaign.objects.create(code="spring", name="Spring")
    old = capture_lead(
        data={"email": "old@acme.io", "company": "Acme", "campaign": spring, "custom": {"a": 1}},
        channel="test",
        now=CURRENT_TIME,
    ).lead
    before = Lead.objects.filter(pk=old.pk).values().get()
    job = run_csv(
        "Email,First Name,Company,Seats,Campaign\n"
        "old@acme.io,Olga,Other,12,autumn\n"
        "new@acme.io,Ned,New,3,autumn\n",
        by=marketer,
        campaign=Campaign.objects.create(code="autumn", name="Autumn"),
    )
    assert job.status == "done", job.errors
    undone = imports.undo_import(job_id=job.pk, by=marketer, now=now)
    assert undone.status == "undone" and undone.undone_at == now
    assert list(Lead.objects.values_list("email", flat=True)) == ["old@acme.io"]
    after = Lead.objects.filter(pk=old.pk).values().get()
    assert {k: v for k, v in after.items() if k != "updated_at" and k != "last_activity_at"} == {
        k: v for k, v in before.items() if k != "updated_at" and k != "last_activity_at"
    }
    # Idempotent: a second undo changes nothing.
    again = imports.undo_import(job_id=job.pk, by=marketer, now=now)
    assert again.status == "undone"
    assert Lead.objects.filter(pk=old.pk).values().get() == after


@pytest.mark.django_db
def test_undo_keeps_a_value_a_person_changed_after_the_import(marketer, now):
    old = make_lead(email="old@acme.io", title="")
    job = run_csv("Email,Title,Industry\nold@acme.io,CTO,Retail\n", by=marketer)
    update_lead(lead_id=old.pk, changes={"title": "CEO"}, by=marketer, now=now)
    imports.undo_import(job_id=job.pk, by=marketer, now=now)
    old.refresh_from_db()
    assert old.title == "CEO"  # changed since: kept
    assert old.industry == ""  # still the imported value: put back


@pytest.mark.django_db
def test_only_a_finished_import_can_be_undone(marketer, api_as):
    job = run_csv("Email\nbad\n", by=marketer)
    response = api_as(marketer).post(f"{URL}{job.pk}/undo/")
    assert response.status_code == 409


# --- the task -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_task_run_twice_imports_once(marketer):
    job = run_csv("Email\nann@acme.io\nbo@acme.io\n", by=marketer)
    assert job.status == "done"
    assert import_leads(job.pk) == {"id": job.pk, "status": "done", "rows_imported": 2}
    assert Lead.objects.count() == 2
    assert Activity.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_leaves_a_job_alone_while_another_worker_holds_it(marketer):
    job = imports.create_import_job(
        upload=csv_file("Email\nann@acme.io\n"), by=marketer, now=CURRENT_TIME, start=False
    )
    params = connection.get_connection_params()
    other = psycopg2.connect(**params)
    try:
        with other.cursor() as cursor:  # another worker's transaction holds the job's lock
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [0x1EAD, job.pk])
            result = []
            thread = threading.Thread(target=lambda: result.append(import_leads(job.pk)))
            thread.start()
            thread.join()
        assert result[0]["skipped"]
        assert Lead.objects.count() == 0
        other.rollback()  # that worker died: its lock is gone, so a rerun does the work
        assert import_leads(job.pk)["status"] == "done"
    finally:
        other.close()
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_a_job_a_worker_is_running_can_be_neither_cancelled_nor_deleted(marketer):
    job = imports.create_import_job(
        upload=csv_file("Email\nann@acme.io\n"), by=marketer, now=CURRENT_TIME, start=True
    )
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:  # the worker's run holds the job's lock
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, job.pk])
        for refused in (imports.cancel_import, imports.delete_import):
            with pytest.raises(InvalidTransition, match="A worker is running"):
                refused(job_id=job.pk, by=marketer, now=CURRENT_TIME)
    finally:
        other.close()
    assert ImportJob.objects.get(pk=job.pk).status == "pending"


@pytest.mark.django_db
def test_a_queued_job_deleted_before_its_worker_came_is_skipped(marketer):
    job = imports.create_import_job(
        upload=csv_file("Email\nann@acme.io\n"), by=marketer, now=CURRENT_TIME, start=True
    )
    assert imports.is_queued(job) and job.started_at == CURRENT_TIME
    imports.delete_import(job_id=job.pk, by=marketer, now=CURRENT_TIME)
    assert imports.run_import(job_id=job.pk, now=CURRENT_TIME) is None
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_a_queued_jobs_mapping_cannot_change_and_a_cancelled_one_can_start_again(marketer):
    job = imports.create_import_job(
        upload=csv_file("Email,Name\nann@acme.io,Ann\n"), by=marketer, now=CURRENT_TIME, start=True
    )
    mapping = {"Email": "email", "Name": "first_name"}
    with pytest.raises(InvalidTransition, match="queued"):
        imports.set_mapping(job_id=job.pk, mapping=mapping, by=marketer, now=CURRENT_TIME)
    imports.cancel_import(job_id=job.pk, by=marketer, now=CURRENT_TIME)
    job = imports.set_mapping(job_id=job.pk, mapping=mapping, by=marketer, now=CURRENT_TIME)
    assert job.status == "pending" and not imports.is_queued(job)
    imports.start_import(job_id=job.pk, by=marketer, now=CURRENT_TIME)
    import_leads(job.pk)
    assert Lead.objects.get().first_name == "Ann"


@pytest.mark.django_db
def test_leads_of_an_import_are_filterable_in_the_api(marketer, api_as):
    filled = make_lead(email="old@acme.io", title="")
    other = make_lead(email="other@acme.io")
    job = run_csv("Email,Title\nold@acme.io,CTO\nnew@acme.io,VP\n", by=marketer)
    api = api_as(marketer)
    found = api.get("/api/v1/leads/", {"import": job.pk}).json()["results"]
    assert {lead["email"] for lead in found} == {"old@acme.io", "new@acme.io"}
    assert other.pk not in {lead["id"] for lead in found} and filled.pk in {
        lead["id"] for lead in found
    }
    for bad in ("x", "0", "99999999999"):
        response = api.get("/api/v1/leads/", {"import": bad})
        assert response.status_code == 400 and "import" in response.json(), bad
    schema = api.get("/api/schema/?format=json").json()
    params = schema["paths"]["/api/v1/leads/"]["get"]["parameters"]
    (param,) = [p for p in params if p["name"] == "import"]
    assert "created or whose empty fields it filled" in param["description"]


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_others_while_the_import_runs(marketer, monkeypatch):
    monkeypatch.setattr("leads.services.imports.jobs.PROGRESS_EVERY_ROWS", 1)
    monkeypatch.setattr("leads.services.imports.merge.COPY_CHUNK_ROWS", 1)
    seen = []
    real_copy = imports.merge.StagingWriter.flush

    def flush(self):
        other = psycopg2.connect(**connection.get_connection_params())
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT status, rows_total FROM leads_importjob")
                seen.append(cursor.fetchone())
        finally:
            other.close()
        return real_copy(self)

    monkeypatch.setattr(imports.merge.StagingWriter, "flush", flush)
    job = run_csv("Email\nann@acme.io\nbo@acme.io\n", by=marketer)
    assert job.status == "done"
    assert ("running", 2) in seen


# --- files as people have them ---------------------------------------------------------

CAFE = "Email;First Name;Company;Employees\nzoe@cafe.fr;Zoé;Café Noël;1.200\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("Email,First Name\nzoe@cafe.fr,Zoé\n", "utf-8", "utf-8"),
        ("\ufeffEmail,First Name\nzoe@cafe.fr,Zoé\n", "utf-8", "utf-8-sig"),
        ("Email,First Name\r\nzoe@cafe.fr,Zoé\r\n", "latin-1", "cp1252"),
        (CAFE, "utf-8", "utf-8"),
        (CAFE, "cp1252", "cp1252"),
    ],
)
def test_utf8_bom_latin1_and_semicolon_files_import(marketer, text, encoding, expected):
    job = run_csv(text, encoding=encoding, by=marketer)
    assert job.status == "done", job.errors
    assert job.encoding == expected
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name) == ("zoe@cafe.fr", "Zoé")
    if "Employees" in text:
        assert job.delimiter == ";"
        assert (lead.company, lead.company_size) == ("Café Noël", 1200)


@pytest.mark.django_db
def test_quoted_cells_keep_delimiters_quotes_and_newlines(marketer):
    job = run_csv(
        'Email,Company,Title\nann@acme.io,"Acme, Inc.","Head of ""Growth""\nEMEA"\n', by=marketer
    )
    assert job.status == "done", job.errors
    lead = Lead.objects.get()
    assert lead.company == "Acme, Inc."
    assert lead.title == 'Head of "Growth"\nEMEA'


@pytest.mark.django_db
def test_values_are_read_the_way_exports_write_them(marketer):
    define_custom_field(name="renewal", label="Renewal date", type="date", choices=[])
    define_custom_field(name="partner", label="Partner", type="bool", choices=[])
    job = run_csv(
        "Email Address,Is Converted,No. of Employees,Renewal Date,partner,Website,Lead Source\n"
        'a@acme.io,Yes,"1,500",03/01/2026,1,https://www.acme.io,Trade Show\n'
        "b@acme.io,0,,,no,,\n"
        "c@acme.io,,,,,,\n",
        by=marketer,
        source="webinar",
    )
    assert job.status == "done", job.errors
    a, b, c = Lead.objects.order_by("email")
    assert (a.converted, a.company_size, a.company_domain, a.source) == (
        True, 1500, "acme.io", "trade_show",
    )  # fmt: skip
    assert a.custom == {"renewal": "2026-03-01", "partner": True}
    assert (b.converted, b.custom, b.source) == (False, {"partner": False}, "webinar")
    assert (c.converted, c.company_size, c.custom) == (None, None, {})


def test_usual_crm_export_headers_are_suggested():
    columns = [
        "Email Address", "FIRST_NAME", "last name", "Account Name", "Job Title",
        "Phone Number", "Country/Region", "Lead Source", "Salesforce ID", "Website",
        "No. of Employees", "Industry", "Is Converted", "Seats", "Notes",
    ]  # fmt: skip
    custom = [CustomField(name="seat_count", label="Seats", type="number")]
    assert imports.suggest_mapping(columns, custom) == {
        "Email Address": "email",
        "FIRST_NAME": "first_name",
        "last name": "last_name",
        "Account Name": "company",
        "Job Title": "title",
        "Phone Number": "phone",
        "Country/Region": "country",
        "Lead Source": "source",
        "Salesforce ID": "external_id",
        "Website": "website",
        "No. of Employees": "company_size",
        "Industry": "industry",
        "Is Converted": "converted",
        "Seats": "custom.seat_count",
    }
    assert imports.suggest_mapping(["E-mail", "Record ID", "Mobile Phone", "Employees"], [])[
        "Record ID"
    ] == ("external_id")


# --- the API ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_posting_a_csv_answers_202_and_the_job_reports_its_outcome(marketer, api_as):
    Campaign.objects.create(code="fair-26", name="Fair 2026")
    client = api_as(marketer)
    response = client.post(
        URL,
        {
            "file": csv_file("Mail,Name,Crm\nann@acme.io,Ann,7\nbo@acme.io,Bo,8\n"),
            "mapping": json.dumps({"Mail": "email", "Name": "first_name"}),
            "source": "trade_show",
            "campaign": "fair-26",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.json()
    job_id = response.json()["id"]
    assert response.json()["status"] == "pending"
    import_leads(job_id)  # what the worker does once the request committed

    body = client.get(f"{URL}{job_id}/").json()
    assert body["status"] == "done"
    assert (body["rows_total"], body["rows_imported"], body["errors"]) == (2, 2, [])
    assert body["mapping"] == {"Mail": "email", "Name": "first_name"}  # Crm skipped
    ann = Lead.objects.get(email="ann@acme.io")
    assert (ann.first_name, ann.external_id, ann.source, ann.campaign.code) == (
        "Ann", None, "trade_show", "fair-26",
    )  # fmt: skip


@pytest.mark.django_db
def test_the_api_lists_row_errors_of_a_failed_import(marketer, api_as):
    client = api_as(marketer)
    response = client.post(URL, {"file": csv_file("Email\nann@\n")}, format="multipart")
    assert response.status_code == 202
    import_leads(response.json()["id"])
    body = client.get(f"{URL}{response.json()['id']}/").json()
    assert body["status"] == "failed"
    assert body["errors"] == [
        {"row": 2, "column": "Email", "message": "'ann@' is not a valid email address."}
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "fields", "message"),
    [
        (b"", {}, "empty"),
        (b"Email,Name\n", {}, "no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, "not a CSV file"),
        (b'Email,Name\n"ann@acme.io,Ann\nbo@acme.io,Bo\n', {}, "never closed"),
        (b"Name,Company\nAnn,Acme\n", {}, "email, phone or external id"),
        (b"Email,Name\nann@acme.io,Ann\n", {"mapping": '{"Name": "first_name"}'}, "Map a column"),
        (b"Email\nann@acme.io\n", {"mapping": '{"Mail": "email"}'}, "no column 'Mail'"),
        (b"Email\nann@acme.io\n", {"mapping": '{"Email": "colour"}'}, "not a lead field"),
        (b"Email\nann@acme.io\n", {"mapping": "{nope"}, "not valid JSON"),
    ],
)
def test_unusable_files_and_mappings_get_a_clear_400_and_write_nothing(
    marketer, api_as, content, fields, message
):
    upload = SimpleUploadedFile("x.csv", content)
    response = api_as(marketer).post(URL, {"file": upload, **fields}, format="multipart")
    assert response.status_code == 400
    assert message in json.dumps(response.json()), response.json()
    assert ImportJob.objects.count() == 0 and Lead.objects.count() == 0


@pytest.mark.django_db
def test_an_unbalanced_quote_deep_in_the_file_fails_the_import_with_its_row(marketer):
    rows = "".join(f"l{n}@acme.io,N{n}\n" for n in range(50))
    job = run_csv(f'Email,Name\n{rows}l50@acme.io,"Ann\nl51@acme.io,Bo\n', by=marketer)
    assert job.status == "failed"
    assert job.errors[0]["row"] == 52
    assert "never closed" in job.errors[0]["message"]
    assert Lead.objects.count() == 0


@pytest.mark.django_db
@override_settings(IMPORT_MAX_BYTES=100)
def test_a_file_over_the_size_limit_is_refused(marketer, api_as):
    big = csv_file("Email\n" + "".join(f"lead{n}@acme.io\n" for n in range(20)))
    response = api_as(marketer).post(URL, {"file": big}, format="multipart")
    assert response.status_code == 400
    assert "largest file you can import is 100" in response.json()["file"][0]
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_only_marketing_imports_and_sees_imports(marketer, rep_ann, manager, api_as):
    job = run_csv("Email\nann@acme.io\n", by=marketer)
    for user in (rep_ann, manager):
        client = api_as(user)
        assert client.post(URL, {"file": csv_file("Email\na@b.io\n")}).status_code == 403
        assert client.get(f"{URL}{job.pk}/").status_code == 403
        assert client.get(URL).status_code == 403
    colleague = marketer.__class__.objects.create_user("mia")
    colleague.groups.add(Group.objects.get(name=roles.MARKETING))
    assert api_as(colleague).get(f"{URL}{job.pk}/").json()["created_by"] == "marketer"


@pytest.mark.django_db
def test_imported_leads_are_scored_as_soon_as_the_import_commits(
    marketer, eager_celery, django_capture_on_commit_callbacks
):
    activate()  # VP title +15, mid-size +10
    with django_capture_on_commit_callbacks(execute=True):
        job = run_csv(
            "email,title,company_size\nvp@acme.io,VP Sales,500\nkid@uni.edu,Student,5\n",
            by=marketer,
        )
    assert job.status == "done"
    scores = dict(Lead.objects.values_list("email", "fit"))
    assert scores == {"vp@acme.io": 25, "kid@uni.edu": 0}
    assert Lead.objects.get(email="kid@uni.edu").stage == "disqualified"  # students rule


# --- upkeep (the tick job) -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_running_import_whose_worker_was_lost_is_failed_and_can_be_started_again(marketer):
    job = imports.create_import_job(
        upload=csv_file("Email\nann@acme.io\n"), by=marketer, now=CURRENT_TIME, start=False
    )
    ImportJob.objects.filter(pk=job.pk).update(status="running")  # what a dead run leaves
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:  # a live worker holds the lock: left alone
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, job.pk])
            assert upkeep(CURRENT_TIME)["lost_runs_failed"] == 0
        other.rollback()
    finally:
        other.close()
    assert upkeep(CURRENT_TIME)["lost_runs_failed"] == 1
    job.refresh_from_db()
    assert job.status == "failed" and "worker was lost" in job.errors[0]["message"]
    assert import_leads(job.pk)["status"] == "failed"  # a late redelivery leaves it alone
    assert Lead.objects.count() == 0
    imports.start_import(job_id=job.pk, by=marketer, now=CURRENT_TIME)
    assert import_leads(job.pk)["status"] == "done"
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_old_upload_files_are_removed_and_their_imports_say_so(
    client, marketer, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_KEEP_DAYS = 30
    old = run_csv("Email\nann@acme.io\n", by=marketer)
    recent = run_csv("Email\nbo@acme.io\n", by=marketer)
    abandoned = imports.create_import_job(
        upload=csv_file("Email\ncy@acme.io\n"), by=marketer, now=CURRENT_TIME, start=False
    )
    later = timezone.now() + timedelta(days=31)  # runs finish at the real time
    ImportJob.objects.filter(pk=recent.pk).update(finished_at=later - timedelta(days=1))
    path = old.file.path
    assert os.path.exists(path)
    with django_capture_on_commit_callbacks(execute=True):
        assert upkeep(later) == {"lost_runs_failed": 0, "files_removed": 2}
    assert not os.path.exists(path)
    old.refresh_from_db(), recent.refresh_from_db(), abandoned.refresh_from_db()
    assert not old.file and old.status == "done" and recent.file
    assert abandoned.status == "failed" and "never started" in abandoned.errors[0]["message"]
    client.force_login(marketer)
    page = client.get(f"/imports/{abandoned.pk}/mapping/", follow=True)
    assert b"upload the file again" in page.content
    page = client.get(f"/imports/{abandoned.pk}/preview/", follow=True)
    assert page.redirect_chain == [(f"/imports/{abandoned.pk}/", 302)]
    assert b"upload the file again" in page.content
    assert upkeep(later)["files_removed"] == 0  # nothing left to remove


# --- BANT and the lead's own fields -----------------------------------------------------


def test_a_header_naming_a_lead_field_maps_to_it_before_a_custom_field_of_that_name():
    custom = [
        CustomField(name="country_code", label="Country", type="text"),
        CustomField(name="industry_code", label="Industry", type="text"),
        CustomField(name="budget_band", label="Budget", type="choice", choices=["S", "M"]),
    ]
    assert imports.suggest_mapping(
        ["Email", "Country", "Industry", "Budget", "Country Code"], custom
    ) == {
        "Email": "email",
        "Country": "country",
        "Industry": "industry",
        "Budget": "budget",
        # The lead's country is taken: the custom field of that name gets the column.
        "Country Code": "custom.country_code",
    }


def test_bant_headers_are_suggested_and_offered_as_targets():
    assert imports.suggest_mapping(
        ["Email", "Budget", "Decision Maker", "Need", "Purchase Timeframe"], []
    ) == {
        "Email": "email",
        "Budget": "budget",
        "Decision Maker": "authority",
        "Need": "need",
        "Purchase Timeframe": "timeline",
    }
    labels = dict(imports.targets([]))
    assert {"budget", "authority", "need", "timeline"} <= set(labels)


@pytest.mark.django_db
def test_bant_columns_are_imported_typed_and_fill_only_what_is_empty(marketer, now):
    make_lead(email="old@acme.io", need="Forecasting")
    job = run_csv(
        "Email,Budget,Authority,Need,Timeline\n"
        'new@acme.io,"12,500.50",yes,Reports,Q3\n'
        "old@acme.io,900,no,Pipeline,Q4\n"
        "none@acme.io,,,,\n",
        by=marketer,
    )
    assert job.status == "done", job.errors
    new, old = Lead.objects.get(email="new@acme.io"), Lead.objects.get(email="old@acme.io")
    assert (new.budget, new.authority, new.need, new.timeline) == (
        Decimal("12500.50"), True, "Reports", "Q3",
    )  # fmt: skip
    assert (old.budget, old.authority, old.need, old.timeline) == (
        Decimal("900.00"), False, "Forecasting", "Q4",
    )  # fmt: skip
    none = Lead.objects.get(email="none@acme.io")
    assert (none.budget, none.authority, none.need) == (None, None, "")
    undone = imports.undo_import(job_id=job.pk, by=marketer, now=now)
    assert undone.status == "undone"
    old.refresh_from_db()
    assert (old.budget, old.authority, old.timeline) == (None, None, "")


@pytest.mark.django_db
def test_a_budget_or_authority_that_cannot_be_read_is_a_row_error(marketer):
    job = run_csv(
        "Email,Budget,Authority\na@acme.io,-10,yes\nb@acme.io,lots,maybe\nc@acme.io,1.234,no\n",
        by=marketer,
    )
    assert job.status == "failed"
    errors = {(e["row"], e["column"]): e["message"] for e in job.errors}
    assert "negative" in errors[(2, "Budget")]
    assert "not a number" in errors[(3, "Budget")]
    assert "yes/no" in errors[(3, "Authority")]
    assert "2 decimal places" in errors[(4, "Budget")]
    assert not Lead.objects.exists()
