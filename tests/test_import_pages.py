"""Import pages through the Django test client: upload → mapping → preview → import →
progress/outcome → undo, the list, and who may see them."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from leads.models import Campaign, ImportJob, Lead
from leads.services import update_lead
from leads.tasks import import_leads
from tests.conftest import PASSWORD
from tests.helpers import make_lead


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
                 f"{job.pk}/undo/", f"{job.pk}/cancel/", f"{job.pk}/delete/")  # fmt: skip
        for url in (f"/imports/{page}" for page in pages):
            assert client.get(url).status_code == 403, url
        for action in ("start", "cancel", "delete"):
            assert client.post(f"/imports/{job.pk}/{action}/").status_code == 403
        client.logout()
    assert client.get("/imports/").status_code == 302  # anonymous: to the login page


@pytest.mark.django_db
def test_see_the_leads_lists_the_leads_the_import_created_or_filled(marketer, browser_of, now):
    client = browser_of(marketer)
    filled = make_lead(email="old@acme.io", title="")
    untouched = make_lead(email="other@acme.io")
    update_lead(lead_id=untouched.pk, changes={"title": "CTO"}, by=marketer, now=now)
    upload(client, "Email,Title\nold@acme.io,CEO\nnew@acme.io,VP\n")
    job = ImportJob.objects.get()
    client.post(f"/imports/{job.pk}/mapping/", {"col-0": "email", "col-1": "title"})
    client.post(f"/imports/{job.pk}/start/")
    import_leads(job.pk)

    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert f'href="/leads/?import={job.pk}">See the leads</a>' in page
    listed = client.get(f"/leads/?import={job.pk}").content.decode()
    assert "2 leads match" in listed
    assert "old@acme.io" in listed and "new@acme.io" in listed  # filled, created
    assert "other@acme.io" not in listed
    assert Lead.objects.get(pk=filled.pk).title == "CEO"


@pytest.mark.django_db
def test_a_pending_import_says_why_it_is_pending(marketer, browser_of, settings):
    settings.TIME_ZONE = "UTC"
    client = browser_of(marketer)
    upload(client, "Email\nann@acme.io\n")
    job = ImportJob.objects.get()
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Waiting for you to confirm the mapping" in page
    assert "every 1s" not in page  # nothing to poll for
    assert "confirm the mapping</a>" in client.get("/imports/").content.decode()

    client.post(f"/imports/{job.pk}/start/")
    job.refresh_from_db()
    since = job.started_at.strftime("%H:%M")
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Queued: waiting for a worker since" in page and f">{since}</time>" in page
    assert "every 1s" in page
    assert "queued since" in client.get("/imports/").content.decode()
    # A queued import's mapping cannot change under the worker's feet.
    assert client.get(f"/imports/{job.pk}/mapping/").url == f"/imports/{job.pk}/"


@pytest.mark.django_db
def test_a_queued_import_can_be_cancelled_after_a_confirmation(marketer, browser_of):
    client = browser_of(marketer)
    upload(client, "Email\nann@acme.io\n")
    job = ImportJob.objects.get()
    client.post(f"/imports/{job.pk}/start/")
    confirm = client.get(f"/imports/{job.pk}/cancel/").content.decode()
    assert "Yes, cancel this import" in confirm and "queued for a worker" in confirm
    assert ImportJob.objects.get().status == "pending"  # the page alone changes nothing

    response = client.post(f"/imports/{job.pk}/cancel/")
    assert response.url == f"/imports/{job.pk}/"
    page = client.get(response.url).content.decode()
    assert "was cancelled" in page and "Cancelled by marketer" in page
    import_leads(job.pk)  # the queued task arrives: it leaves the job alone
    assert ImportJob.objects.get().status == "failed" and not Lead.objects.exists()


@pytest.mark.django_db
def test_a_pending_or_failed_import_is_deleted_with_its_file_a_done_one_is_not(
    marketer, browser_of, settings, django_capture_on_commit_callbacks
):
    client = browser_of(marketer)
    upload(client, "Email\nann@acme.io\n")
    job = ImportJob.objects.get()
    path = job.file.path
    assert "Yes, delete this import" in client.get(f"/imports/{job.pk}/delete/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imports/{job.pk}/delete/")
    assert response.url == "/imports/"
    assert "was deleted" in client.get("/imports/").content.decode()
    assert not ImportJob.objects.exists()
    assert not os.path.exists(path)

    upload(client, "Email\nbo@acme.io\n")
    done = ImportJob.objects.get()
    client.post(f"/imports/{done.pk}/start/")
    import_leads(done.pk)
    assert "Undo it</a> instead" in client.get(f"/imports/{done.pk}/delete/").content.decode()
    client.post(f"/imports/{done.pk}/delete/")
    assert ImportJob.objects.get().status == "done" and Lead.objects.count() == 1
    assert "Undo it instead" in client.get(f"/imports/{done.pk}/").content.decode()
