"""In Chromium: a marketer imports a CSV with a bad row, fixes the mapping, imports, sees
the outcome and the leads, and undoes the import."""

import os

import pytest
from playwright.sync_api import expect

from leads.models import Lead
from tests.conftest import PASSWORD

CSV = (
    "Email Address,First Name,Last Name,Company Name,No. of Employees\n"
    "ada@acme.io,Ada,Lovelace,Acme,50\n"
    "bo@globex.de,Bo,Berg,Globex,a few\n"
    "cy@initech.com,Cy,Chen,Initech,1200\n"
)


@pytest.mark.django_db(transaction=True)
def test_a_marketer_fixes_the_mapping_imports_and_sees_the_leads(
    live_server, page, marketer, screenshot_dir, settings, tmp_path, eager_celery
):
    settings.MEDIA_ROOT = tmp_path / "media"
    # No worker runs here: eager_celery runs the page's delay_on_commit task in-process.
    path = tmp_path / "fair.csv"
    path.write_text(CSV, encoding="utf-8")

    page.goto(f"{live_server.url}/imports/new/")
    page.get_by_label("Username").fill("marketer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Import leads from a CSV file")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_label("Source").select_option("trade_show")
    page.get_by_role("button", name="Upload and map columns").click()

    expect(page.get_by_role("heading", name="Map the columns of fair.csv")).to_be_visible()
    expect(page.get_by_label("No. of Employees")).to_have_value("company_size")
    expect(page.get_by_label("Email Address")).to_have_value("email")
    page.screenshot(path=os.path.join(screenshot_dir, "import-mapping.png"), full_page=True)
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_text("1 problem found.")).to_be_visible()
    errors = page.locator("table.errors")
    expect(errors).to_contain_text("No. of Employees")
    expect(errors).to_contain_text("'a few' is not a number.")
    expect(page.get_by_role("button", name="Import")).to_have_count(0)
    page.screenshot(path=os.path.join(screenshot_dir, "import-preview-error.png"), full_page=True)

    page.get_by_role("link", name="← Change the mapping").click()
    page.get_by_label("No. of Employees").select_option("")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("table.preview")).to_contain_text("cy@initech.com")
    expect(page.get_by_text("problem found")).to_have_count(0)
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_text("leads created")).to_be_visible()
    expect(page.locator(".outcome")).to_contain_text("3 leads created")
    page.screenshot(path=os.path.join(screenshot_dir, "import-done.png"), full_page=True)
    assert Lead.objects.count() == 3

    page.get_by_role("link", name="See the leads").click()
    expect(page.get_by_text("3 leads")).to_be_visible()
    expect(page.get_by_role("link", name="Bo Berg")).to_be_visible()
    page.screenshot(path=os.path.join(screenshot_dir, "import-leads.png"), full_page=True)

    page.go_back()
    page.get_by_role("link", name="Undo this import").click()
    page.get_by_role("button", name="Yes, undo this import").click()
    expect(page.get_by_text("This import was undone")).to_be_visible()
    assert Lead.objects.count() == 0
