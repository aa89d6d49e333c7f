"""CSV import: the whole service (parse, validate, COPY, merge) against a plain COPY.

For each size: generate a realistic CSV (a tenth of the rows repeat an earlier
email, a few match leads that already exist), run `leads.services.imports.run_import` end
to end in a fresh child process (so peak memory is that run's), and COPY the same
file into an UNLOGGED table with the same columns as the baseline, alternately,
`--repeat` times. One row per size: p95 seconds of each, the import's rows/s and peak
memory (ru_maxrss); then one more import, untimed, for its slowest statement's plan.

    python -m bench import_csv [--rows 100000 --rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from bench._results import Row, p95

HEADERS = [
    "Email Address", "First Name", "Last Name", "Company Name", "Job Title", "Phone Number",
    "Country/Region", "Website", "No. of Employees", "Industry", "Is Converted", "Record ID",
    "Notes",
]  # fmt: skip
TARGETS = {
    "max_seconds": {100_000: 20, 1_000_000: 120},
}
FIRST = ["Ada", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
LAST = ["Lovelace", "Berg", "Wu", "Okafor", "Novak", "Silva", "Larsen", "Müller", "Rossi"]
TITLES = ["CTO", "Head of Growth", "VP Sales", "Marketing Manager", "Engineer", "CEO", ""]
INDUSTRIES = ["Software", "Retail", "Manufacturing", "Finance", "Health", ""]
COUNTRIES = ["DE", "GB", "US", "FR", "NL", "ES"]
# (prefix, digits) of a valid number per country.
PHONES = {
    "DE": ("+49 30 ", 8), "GB": ("+44 20 ", 8), "US": ("+1 415 ", 7), "FR": ("+33 1 ", 8),
    "NL": ("+31 20 ", 7), "ES": ("+34 91 ", 7),
}  # fmt: skip


def _phone(country: str, person: int) -> str:
    prefix, digits = PHONES[country]
    number = str(10 ** (digits - 1) + person)[-digits:]
    return f"{prefix}{number[:3]} {number[3:]}"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for n in range(rows):
            # A tenth of the rows repeat an earlier person (dedupe within the file).
            person = rng.randrange(n) if n and rng.random() < 0.1 else n
            country = COUNTRIES[person % len(COUNTRIES)]
            company = f"Company {person % 50_000}"
            writer.writerow(
                [
                    f"person{person}@company{person % 50_000}.example",
                    FIRST[person % len(FIRST)],
                    LAST[person % len(LAST)],
                    company if rng.random() < 0.9 else f'"{company}", Inc.',
                    rng.choice(TITLES),
                    _phone(country, person) if rng.random() < 0.7 else "",
                    country,
                    f"https://www.company{person % 50_000}.example",
                    f"{rng.choice([5, 20, 50, 200, 1000, 5000]):,}",
                    rng.choice(INDUSTRIES),
                    rng.choice(["yes", "no", ""]),
                    f"00Q{person:012d}",
                    "Met at the fair;\nasked for a demo" if rng.random() < 0.02 else "",
                ]
            )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


UNTITLED = "(the import)"  # the plan's title, until the row's work is known


def _run_import(path: str, queue, explain: bool = False) -> None:
    """In a fresh process: upload, map and run the import; report time and peak memory
    (or, with `explain`, its slowest statement's plan)."""
    import django

    django.setup()
    from django.core.files import File
    from django.utils import timezone

    from bench._results import SlowestStatement
    from leads.services import imports
    from leads.services.imports.jobs import run_import

    with open(path, "rb") as handle:
        upload = File(handle, name="bench.csv")
        job = imports.create_import_job(
            upload=upload, source="purchased_list", by=None, now=timezone.now(), start=False
        )
    started = time.perf_counter()
    if explain:
        with SlowestStatement() as rider:
            job = run_import(job_id=job.pk, now=timezone.now())
        queue.put({"explain": rider.report(UNTITLED)})
        return
    job = run_import(job_id=job.pk, now=timezone.now())
    seconds = time.perf_counter() - started
    queue.put(
        {
            "seconds": seconds,
            "status": job.status,
            "errors": job.errors[:3],
            "created": job.rows_created,
            "updated": job.rows_updated,
            "rows": job.rows_imported,
            "peak_mb": _peak_mb(),
        }
    )


def _run_copy(path: str, queue) -> None:
    """In a fresh process: COPY the same file into an UNLOGGED table with its columns."""
    import django

    django.setup()
    from django.db import connection

    columns = ", ".join(f'"c{i}" text' for i in range(len(HEADERS)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_copy ({columns})")
        started = time.perf_counter()
        with open(path, encoding="utf-8") as handle:
            cursor.cursor.copy_expert(
                "COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)", handle
            )
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_copy")
        (rows,) = cursor.fetchone()
        cursor.execute("DROP TABLE bench_copy")
    queue.put({"seconds": seconds, "rows": rows, "peak_mb": _peak_mb()})


def _in_child(target, path: str, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(path, queue, *args))
    process.start()
    result = queue.get()
    process.join()
    return result


def _clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE leads_activity, leads_stagechange, leads_fieldchange, leads_lead, "
            "leads_importjob CASCADE"
        )


def _seed_existing(count: int) -> None:
    """Leads that the file's first people already are (they get filled, not created)."""
    from django.utils import timezone

    from leads.services import capture_lead

    now = timezone.now()
    for person in range(count):
        capture_lead(
            data={"email": f"person{person}@company{person % 50_000}.example"},
            channel="bench",
            now=now,
        )


def bench(rows: int, directory: Path, *, repeat: int) -> Row:
    path = directory / f"leads-{rows}.csv"
    generate(path, rows)
    size_mb = path.stat().st_size / 1e6
    imported, baseline = [], []
    for _ in range(repeat):  # alternately, so both see the same load
        _clear()
        _seed_existing(100)
        imported.append(_in_child(_run_import, str(path)))
        baseline.append(_in_child(_run_copy, str(path)))
    _clear()
    _seed_existing(100)
    plan = _in_child(_run_import, str(path), True)["explain"]
    path.unlink()
    last = imported[-1]
    ours, theirs = p95([i["seconds"] for i in imported]), p95([b["seconds"] for b in baseline])
    peak = max(i["peak_mb"] for i in imported)
    print(
        f"{rows:>9,} rows ({size_mb:,.0f} MB): import p95 {ours:6.1f} s "
        f"({rows / ours:>9,.0f} rows/s, peak {peak:,.0f} MB) | plain COPY p95 {theirs:5.1f} s "
        f"| status {last['status']}, {last['rows']:,} rows imported: {last['created']:,} "
        f"created, {last['updated']:,} updated"
        + (f"; errors: {json.dumps(last['errors'])}" if last["errors"] else ""),
        flush=True,
    )
    limit = TARGETS["max_seconds"].get(rows)
    work = (
        f"CSV import of {rows:,} rows ({size_mb:,.1f} MB; {rows / ours:,.0f} rows/s, "
        f"peak {peak:,.0f} MB) vs a plain COPY"
    )
    return Row(
        key=f"import-{rows}",
        work=work,
        leadflow=ours,
        baseline=theirs,
        runs=repeat,
        target=f"< {limit} s" if limit else "",
        met=None if limit is None else ours < limit and last["status"] == "done",
        explain=plan.replace(UNTITLED, work, 1),
    )


def main(argv: list[str]) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench import_csv")
    parser.add_argument("--rows", type=int, action="append", help="rows per run (repeatable)")
    parser.add_argument("--repeat", type=int, default=3)
    options, _ = parser.parse_known_args(argv)
    sizes = options.rows or [100_000, 1_000_000]
    before = os.environ.get("TMPDIR")
    with tempfile.TemporaryDirectory(prefix="leadflow-bench-") as directory:
        os.environ.setdefault("TMPDIR", directory)  # the children's temporary files
        try:
            return [bench(rows, Path(directory), repeat=options.repeat) for rows in sizes]
        finally:
            if before is None:
                os.environ.pop("TMPDIR", None)
