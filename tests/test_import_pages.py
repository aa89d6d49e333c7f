"""Import pages through the Django test client: upload → mapping → preview → import →
progress/outcome → undo, the list, and who may see them."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from leads.models import Campaign, ImportJob, Lead
from leads.tasks import import_leads
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def browser_of(client):
    def login(user):
        client.login(username=user.username, password=PASSWORD)
        return client

    return login


def upload(client, text, **fields):
    file = SimpleUploadedFile("fair.csv", text.encode(), content_type="text/csv")
    return client.post("/imports/new/", {"file": file, "source": "trade_show", **fields})


@pytest.mark.django_db
def test_a_marketer_uploads_maps_previews_imports_and_undoes(marketer, browser_of):
    Campaign.objects.create(code="fair-26", name="Fair 2026")
    client = browser_of(marketer)
    assert client.get("/imports/new/").status_code == 200

    response = upload(
        client,
        "Email Address,First Name,Employees,Notes\nann@acme.io,Ann,lots,hi\nbo@acme.io,Bo,5,\n",
        campaign="fair-26",
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == f"/imports/{job.pk}/mapping/"
    assert (job.status, job.source, job.campaign.code) == ("pending", "trade_show", "fair-26")

    mapping = client.get(response.url)
    html = mapping.content.decode()
    assert '<option value="email" selected>Email</option>' in html
    assert '<option value="company_size" selected>' in html
    assert "ann@acme.io · bo@acme.io" in html  # sample values

    # The suggested mapping reads "lots" as a number of employees: a row error in the preview.
    posted = client.post(
        response.url, {"col-0": "email", "col-1": "first_name", "col-2": "company_size"}
    )
    assert posted.url == f"/imports/{job.pk}/preview/"
    preview = client.get(posted.url).content.decode()
    assert "&#x27;lots&#x27; is not a number." in preview
    assert ">Import</button>" not in preview

    # Fix the mapping: skip that column.
    client.post(response.url, {"col-0": "email", "col-1": "first_name", "col-2": ""})
    preview = client.get(posted.url).content.decode()
    assert "not a number" not in preview and ">Import</button>" in preview
    assert "<td>ann@acme.io</td>" in preview

    started = client.post(f"/imports/{job.pk}/start/")
    assert started.url == f"/imports/{job.pk}/"
    progress = client.get(started.url).content.decode()
    assert 'hx-trigger="every 1s"' in progress and "Pending" in progress
    import_leads(job.pk)  # the worker

    partial = client.get(started.url, headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="import-progress"')
    assert "every 1s" not in partial  # finished: polling stops
    assert "<strong>2</strong> leads created" in partial
    assert Lead.objects.filter(import_job=job).count() == 2

    assert "Undo this import" in partial
    assert "Yes, undo this import" in client.get(f"/imports/{job.pk}/undo/").content.decode()
    client.post(f"/imports/{job.pk}/undo/")
    assert Lead.objects.count() == 0
    assert "was undone" in client.get(started.url).content.decode()
    assert "fair.csv" in client.get("/imports/").content.decode()


@pytest.mark.django_db
def test_a_mapping_without_an_identity_is_refused_on_the_page(marketer, browser_of):
    client = browser_of(marketer)
    upload(client, "Email,Name\nann@acme.io,Ann\n")
    job = ImportJob.objects.get()
    response = client.post(f"/imports/{job.pk}/mapping/", {"col-0": "", "col-1": "first_name"})
    assert response.status_code == 200
    assert "Map a column to email, phone or external id" in response.content.decode()


@pytest.mark.django_db
def test_a_failed_import_shows_its_row_errors_and_can_be_remapped(marketer, browser_of):
    client = browser_of(marketer)
    upload(client, "Email,Phone\nann@acme.io,12\n")
    job = ImportJob.objects.get()
    client.post(f"/imports/{job.pk}/start/")
    import_leads(job.pk)
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Nothing was imported" in page and "international form" in page
    client.post(f"/imports/{job.pk}/mapping/", {"col-0": "email", "col-1": ""})
    job.refresh_from_db()
    assert job.status == "pending" and job.errors == []
    client.post(f"/imports/{job.pk}/start/")
    import_leads(job.pk)
    job.refresh_from_db()
    assert job.status == "done" and Lead.objects.get().phone is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty."),
        ("Email,Name\n", "no data rows"),
        ("a\x00b\x00c\n", "not a CSV file"),
    ],
)
def test_an_unusable_upload_gets_a_clear_message_and_creates_nothing(
    marketer, browser_of, text, message
):
    response = upload(browser_of(marketer), text)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
@override_settings(IMPORT_MAX_BYTES=50)
def test_an_upload_over_the_limit_is_refused_on_the_page(marketer, browser_of):
    response = upload(browser_of(marketer), "Email\n" + "lead@acme.io\n" * 10)
    assert "the largest file you can import is 50" in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_sales_reps_and_managers_get_403_on_every_import_page(
    marketer, rep_ann, manager, browser_of, client
):
    upload(browser_of(marketer), "Email\nann@acme.io\n")
    job = ImportJob.objects.get()
    client.logout()
    for user in (rep_ann, manager):
        browser_of(user)
        pages = ("", "new/", f"{job.pk}/", f"{job.pk}/mapping/", f"{job.pk}/preview/",
                 f"{job.pk}/undo/")  # fmt: skip
        for url in (f"/imports/{page}" for page in pages):
            assert client.get(url).status_code == 403, url
        assert client.post(f"/imports/{job.pk}/start/").status_code == 403
        client.logout()
    assert client.get("/imports/").status_code == 302  # anonymous: to the login page
