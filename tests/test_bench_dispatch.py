"""bench/dispatch.py at a tiny scale (what `make bench SCALE=10k` runs, smaller): it runs
and returns its rows, each with a plan, no target judged. Nothing here judges a timing."""

import pytest

from bench import dispatch


@pytest.mark.django_db(transaction=True)
def test_the_dispatch_benchmark_runs_small_and_returns_its_rows():
    rows = dispatch.main(["--rows", "2000", "--repeat", "1"])
    assert [row.key for row in rows] == ["send_worker", "send", "claim"]
    for row in rows:
        assert row.leadflow > 0 and row.baseline > 0, row
        assert row.met is None, row  # targets are judged at 1M enrolments only
        assert row.explain.startswith(row.work), row
    assert "0 duplicates" in rows[0].work and "0 duplicates" in rows[1].work
    assert "2 processes" in rows[0].work  # the Procfile's worker
    assert "Execution Time" in rows[2].explain
