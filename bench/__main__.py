"""Run benchmarks against a database of their own and print one table:

    python -m bench [name ...] [--scale 10k] [--repeat N] [a module's options]

DATABASE_URL names the server; each benchmark gets a fresh database `<name>_bench` on it
(created, migrated, dropped afterwards) and never touches the named database. Every
module of this package not starting with `_` is a benchmark whose `main(options)`
returns its rows (bench._results.Row).

At the scale the targets are set for (1M rows, the default) the table is written to
bench/results/latest.md (rows of the benchmarks not run this time are kept from the last
run, with their own commit and date), with each row's slowest statement's EXPLAIN
(ANALYZE, BUFFERS) in bench/results/explain/<row>.txt. At any other scale (`--scale 10k`:
a smoke test, no target judged) they go to var/bench/ instead.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from bench._results import TARGET_ROWS, Row

HERE = Path(__file__).parent
RESULTS = HERE / "results"
SMOKE_RESULTS = HERE.parent / "var" / "bench"
# Every module of this package is a benchmark with a `main(options)`.
BENCHMARKS = tuple(sorted(path.stem for path in HERE.glob("*.py") if not path.stem.startswith("_")))


def scale(text: str) -> int:
    """'10k' → 10,000; '1M' → 1,000,000; '2500' → 2,500."""
    text = text.strip().replace("_", "").replace(",", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    return int(float(text[:-1] if factor > 1 else text) * factor)


def _bench_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'leadflow'}_bench"
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _admin_connection(url: str):
    parts = urlsplit(url)
    connection = psycopg2.connect(
        host=parts.hostname or None,
        port=parts.port,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
    )
    connection.autocommit = True
    return connection


def _fresh_database(admin, name: str) -> None:
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')


def _git(*args: str) -> str:
    try:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _commit() -> str:
    """The short commit, marked when files outside bench/results differ from it."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    changed = _git("status", "--porcelain", "--", ".", ":!bench/results", ":!var")
    return f"{commit} + uncommitted changes" if changed else commit


def table(rows: list[Row]) -> str:
    lines = [
        "| work | LeadFlow | baseline | ratio | target | met | runs |",
        "|---|--:|--:|--:|---|---|--:|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "—"
        met = {True: "yes", False: "**MISSED**", None: "—"}[row.met]
        lines.append(
            f"| {row.work} | {row.shown(row.leadflow)} | {row.shown(row.baseline)} | {ratio} "
            f"| {row.target or '—'} | {met} | {row.runs} |"
        )
    return "\n".join(lines)


def _document(runs: dict[str, dict]) -> str:
    """bench/results/latest.md: the table of every benchmark's latest run."""
    rows = [Row(**row) for module in sorted(runs) for row in runs[module]["rows"]]
    stamps = {(run["commit"], run["date"]) for run in runs.values()}
    if len(stamps) == 1:
        ((commit, date),) = stamps
        origin = f"Commit `{commit}`, {date}."
    else:
        origin = "Assembled from separate runs: " + "; ".join(
            f"`{module}` at commit `{run['commit']}`, {run['date']}"
            for module, run in sorted(runs.items())
        )
    return (
        "# LeadFlow benchmarks\n\n"
        f"{origin} Written by `make bench` (see README, Developing).\n\n"
        "Each figure is the p95 of the runs counted in the last column; LeadFlow and its\n"
        "baseline (hand-written SQL doing the same work, or a plain COPY) run alternately\n"
        "in the same process, so both see the same load on this shared machine; a rate\n"
        "(/s) is the work done over the p95 run's time, its ratio the baseline's rate over\n"
        "LeadFlow's (above 1: LeadFlow is slower). Targets\n"
        f"are for {TARGET_ROWS:,} rows. The plan of each row's slowest statement is in\n"
        "`bench/results/explain/<module>-<row>.txt`.\n\n" + table(rows) + "\n"
    )


def write_results(rows: list[Row], *, directory: Path) -> None:
    """The table (latest.md, latest.json) and each row's plan; a module's rows replace
    those of its previous run, the other modules' rows are kept."""
    explain = directory / "explain"
    explain.mkdir(parents=True, exist_ok=True)
    store = directory / "latest.json"
    runs = json.loads(store.read_text()) if store.exists() else {}
    stamp = {"commit": _commit(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    for module in {row.module for row in rows}:
        for old in explain.glob(f"{module}-*.txt"):
            old.unlink()
        mine = [row for row in rows if row.module == module]
        runs[module] = {**stamp, "rows": [row.as_dict() for row in mine]}
        for row in mine:
            (explain / f"{module}-{row.key}.txt").write_text(row.explain)
    store.write_text(json.dumps(runs, indent=1) + "\n")
    (directory / "latest.md").write_text(_document(runs))


def _options(argv: list[str], names: list[str]) -> tuple[list[str], int]:
    """The modules' options (`--scale X` becomes `--rows N`) and the rows they run at."""
    options = [arg for arg in argv if arg not in names]
    if "--scale" in options:
        at = options.index("--scale")
        rows = scale(options[at + 1])
        options[at : at + 2] = ["--rows", str(rows)]
    rows_given = [scale(options[i + 1]) for i, arg in enumerate(options) if arg == "--rows"]
    return options, (rows_given[0] if len(set(rows_given)) == 1 else TARGET_ROWS)


def run(names: list[str], options: list[str]) -> list[Row]:
    """Each benchmark in a fresh database `<name>_bench`; their rows, in order."""
    url = os.environ["DATABASE_URL"]
    bench_url, db_name = _bench_url(url)
    admin = _admin_connection(url)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    rows: list[Row] = []
    try:
        for name in names:
            connections.close_all()
            _fresh_database(admin, db_name)
            call_command("migrate", verbosity=0)
            print(f"== {name} (database {db_name})", flush=True)
            for row in importlib.import_module(f"bench.{name}").main(options):
                row.module = name
                rows.append(row)
    finally:
        connections.close_all()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.close()
    return rows


def main(argv: list[str]) -> int:
    names = [arg for arg in argv if arg in BENCHMARKS] or list(BENCHMARKS)
    options, rows_at = _options(argv, names)
    if not os.environ.get("DATABASE_URL"):
        print("DATABASE_URL is not set (run `make bench`).", file=sys.stderr)
        return 2
    rows = run(names, options)
    directory = RESULTS if rows_at == TARGET_ROWS else SMOKE_RESULTS
    write_results(rows, directory=directory)
    print(f"\ncommit {_commit()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {rows_at:,} rows\n")
    print(table(rows))
    print(f"\nwritten to {directory.relative_to(HERE.parent)}/latest.md and explain/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
