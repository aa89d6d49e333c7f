"""CSV export: what the filter matches and the user may see, safe in a spreadsheet."""

import csv
import io

import pytest

from leads.export import safe_cell
from leads.services import define_custom_field
from tests.helpers import make_lead


def _rows(response):
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1 415", "'+1 415"), ("-5", "-5"),
     ("@SUM(A1)", "'@SUM(A1)"), ("-x", "'-x"), ("Acme", "Acme"), (None, ""), (True, "yes"),
     ("x;=HYPERLINK(1)", "x;'=HYPERLINK(1)"), ("a, +cmd", "a, '+cmd"), ("a\t@x", "a\t'@x"),
     ("1;-2", "1;-2"), ("Acme; Inc", "Acme; Inc")],
)  # fmt: skip
def test_cells_a_spreadsheet_would_run_are_escaped(value, cell):
    assert safe_cell(value) == cell


@pytest.mark.django_db
def test_the_export_holds_the_filtered_leads_with_custom_fields(client, marketer):
    define_custom_field(name="tier", label="Tier", type="text", choices=[])
    make_lead(email="a@acme.io", company="=cmd|' /C calc'!A0", custom={"tier": "Gold"})
    make_lead(email="b@globex.de", company="Globex")
    client.force_login(marketer)
    response = client.get("/leads/export.csv", {"search": "acme"})
    assert response["Content-Type"].startswith("text/csv")
    rows = _rows(response)
    assert [r["email"] for r in rows] == ["a@acme.io"]
    assert rows[0]["company"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["custom.tier"] == "Gold"


@pytest.mark.django_db
def test_a_rep_exports_only_their_own_leads(client, rep_ann, rep_bob):
    make_lead(email="mine@x.io", owner=rep_ann)
    make_lead(email="theirs@x.io", owner=rep_bob)
    client.force_login(rep_ann)
    assert [r["email"] for r in _rows(client.get("/leads/export.csv"))] == ["mine@x.io"]


@pytest.mark.django_db
def test_the_export_runs_the_same_queries_for_3_or_30_leads(
    client, marketer, django_assert_max_num_queries
):
    client.force_login(marketer)
    for _ in range(3):
        make_lead()
    with django_assert_max_num_queries(8) as small:
        assert len(_rows(client.get("/leads/export.csv"))) == 3
    for _ in range(27):
        make_lead()
    with django_assert_max_num_queries(8) as large:
        assert len(_rows(client.get("/leads/export.csv"))) == 30
    assert len(small.captured_queries) == len(large.captured_queries)
