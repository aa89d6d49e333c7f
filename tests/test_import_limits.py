"""Imports refuse files that would tie up a web process or a worker, and say why."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from leads.models import ImportJob
from leads.services.imports.reading import MAX_COLUMNS, ImportFileError, column_names


def test_repeated_column_names_are_numbered_in_one_pass():
    assert column_names(["Email", "email", "Email", "", "Email (2)"]) == [
        "Email", "email (2)", "Email (3)", "Column 4", "Email (2) (2)",
    ]  # fmt: skip
    names = column_names(["x"] * MAX_COLUMNS)
    assert len(set(names)) == MAX_COLUMNS and names[-1] == f"x ({MAX_COLUMNS})"


def test_a_header_with_too_many_columns_is_refused_with_the_count():
    with pytest.raises(ImportFileError, match="10,000 columns; at most 500"):
        column_names(["name"] * 10_000)


@pytest.mark.django_db
def test_uploading_a_10000_column_header_is_a_clear_400(api_as, marketer):
    body = (",".join(["email"] * 10_000) + "\na@x.io\n").encode()
    upload = SimpleUploadedFile("wide.csv", body, content_type="text/csv")
    response = api_as(marketer).post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert "at most 500 can be imported" in response.json()["file"][0]
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
@override_settings(IMPORT_MAX_BYTES=200 * 1024 * 1024)
def test_a_file_just_over_the_limit_says_by_how_much_in_bytes(api_as, marketer):
    from leads.services.imports import jobs

    upload = SimpleUploadedFile("big.csv", b"email\na@x.io\n", content_type="text/csv")
    upload.size = 200 * 1024 * 1024 + 10
    with pytest.raises(ImportFileError) as refused:
        jobs.create_import_job(upload=upload, by=marketer, now=None, start=False)
    assert "209,715,210 bytes" in refused.value.message
    assert "209,715,200 bytes" in refused.value.message
