"""The benchmarks' code at a tiny scale (what `make bench SCALE=10k` runs, smaller): each
module runs and returns its rows, each with a plan; the table is written and assembled.
Nothing here judges a timing."""

import importlib
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from bench import __main__ as bench
from bench._results import Row, p95

ROWS = ["--rows", "2000", "--repeat", "1"]


@pytest.fixture
def children_use_the_test_database(monkeypatch):
    """The import benchmark runs its work in child processes, which read DATABASE_URL."""
    import os

    parts = urlsplit(os.environ["DATABASE_URL"])
    name = connection.settings_dict["NAME"]
    monkeypatch.setenv("DATABASE_URL", urlunsplit(parts._replace(path=f"/{name}")))


# tests/test_bench_dispatch.py runs the dispatch benchmark at this scale, with these
# checks and its own (it starts a Celery worker: a quarter of a minute, once is enough).
SMOKED = [module for module in bench.BENCHMARKS if module != "dispatch"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("module", SMOKED)
def test_every_benchmark_runs_and_returns_its_rows(module, children_use_the_test_database):
    rows = importlib.import_module(f"bench.{module}").main(ROWS)
    assert rows
    for row in rows:
        assert row.leadflow > 0, row
        assert row.baseline is None or row.baseline > 0, row
        assert row.met is None, row  # targets are judged at 1M rows only
        assert row.explain.startswith(row.work), row
    assert len({row.key for row in rows}) == len(rows)
    with_plans = [row for row in rows if "Execution Time" in row.explain]
    assert with_plans, "no row has its slowest statement's plan"


def test_the_table_keeps_the_rows_of_benchmarks_not_run_again(tmp_path):
    first = Row(key="a", work="work A", leadflow=0.05, baseline=0.02, runs=3,
                target="p95 < 100 ms", met=True, explain="plan A", module="one")  # fmt: skip
    second = Row(key="b", work="work B", leadflow=2.5, baseline=3.0, runs=2,
                 target="≤ 0.7× baseline", met=False, explain="plan B", module="two")  # fmt: skip
    bench.write_results([first], directory=tmp_path)
    bench.write_results([second], directory=tmp_path)
    table = (tmp_path / "latest.md").read_text()
    assert "| work A | 50.0 ms | 20.0 ms | 2.50× | p95 < 100 ms | yes | 3 |" in table
    assert "| work B | 2.5 s | 3.0 s | 0.83× | ≤ 0.7× baseline | **MISSED** | 2 |" in table
    assert (tmp_path / "explain" / "one-a.txt").read_text() == "plan A"
    assert (tmp_path / "explain" / "two-b.txt").read_text() == "plan B"
    bench.write_results([Row(key="c", work="work C", leadflow=1.0, module="one")],
                        directory=tmp_path)  # fmt: skip
    table = (tmp_path / "latest.md").read_text()
    assert "work A" not in table and "work C" in table and "work B" in table
    assert not (tmp_path / "explain" / "one-a.txt").exists()


def test_scales_and_percentiles():
    assert bench.scale("10k") == 10_000
    assert bench.scale("1M") == 1_000_000
    assert bench.scale("2500") == 2_500
    assert bench._options(["--scale", "10k", "--repeat", "2"], []) == (
        ["--rows", "10000", "--repeat", "2"],
        10_000,
    )
    assert p95([1.0]) == 1.0
    assert p95([1.0, 2.0, 3.0]) == pytest.approx(2.9)
