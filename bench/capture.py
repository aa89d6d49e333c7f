"""Capture throughput through the real stack, beside psycopg doing the same rows.

Starts gunicorn (`--workers`, sync workers) and a Celery worker (the scoring reactions
the captures enqueue run during the measurement, on the same cores) on the bench
database, then, for each round:

- single creates: `--clients` threads POST `--creates` leads one per request
  (`POST /api/v1/leads/`, token auth, http.client with keep-alive where the server
  offers it) — first all new, then half of them emails already known; the baseline is
  the same rows through a psycopg2 upsert loop (one `INSERT … ON CONFLICT (email) DO
  UPDATE` per lead, autocommit) from as many threads into a copy of the lead table;
- batches: `POST /api/v1/leads/batch/` of 1,000 leads (`--batch-leads` in all, half of
  the second round known) from `--batch-clients` threads; the baseline is one
  `INSERT … ON CONFLICT` of the same 1,000 rows per statement.

Prints leads/s and latencies (p50/p99) of both, and returns the table's rows: single
creates/s and their p99 beside the upsert loop's, batch leads/s beside the multi-row
upsert's (each a rate over the p95 round). At another scale than the targets' (`--rows`,
`make bench SCALE=10k`, the bench smoke test) it captures fewer leads and judges nothing.

    make bench BENCH_ARGS="capture [--creates 2000] [--clients 8] [--workers 4]
                           [--rounds 2] [--batch-leads 20000] [--batch-clients 2]"
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import psycopg2
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone
from psycopg2.extras import execute_values
from rest_framework.authtoken.models import Token

from bench._processes import celery_worker, stop
from bench._results import TARGET_ROWS, Row, explained, judged, option, p95
from leads.models import Campaign
from leads.services import define_custom_field
from scoring.models import ScoringModel
from scoring.rules import DEFAULT_DEFINITION

# The baseline's SQL is built from constants and model metadata only.
# ruff: noqa: S608

TARGETS = {"single_per_s": 500, "single_p99_ms": 50, "batch_per_s": 10_000}
BATCH = 1000
FIRST = ["Ada", "Bo", "Chen", "Dara", "Eli", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
LAST = ["Lovelace", "Berg", "Wu", "Okafor", "Novak", "Silva", "Larsen", "Müller", "Rossi"]
TITLES = ["CTO", "Head of Growth", "VP Sales", "Marketing Manager", "Engineer", "CEO"]


# --- data ------------------------------------------------------------------------


def lead_row(person: int) -> dict:
    """The lead JSON of one person (deterministic: the same person, the same row)."""
    return {
        "email": f"person{person}@company{person % 5000}.example",
        "first_name": FIRST[person % len(FIRST)],
        "last_name": LAST[person % len(LAST)],
        "company": f"Company {person % 5000}",
        "title": TITLES[person % len(TITLES)],
        "phone": f"+49 30 {10_000_000 + person}",
        "country": "DE",
        "source": "webinar",
        "campaign": "spring",
        "custom": {"seats": person % 50},
    }


def people(round_number: int, count: int, *, base: int) -> list[int]:
    """Round 0: `count` new people; later rounds: half new, half from the round before
    (emails already known), interleaved."""
    start = base + round_number * count
    if round_number == 0:
        return list(range(start, start + count))
    known = range(start - count, start - count // 2)
    new = range(start, start + count - len(known))
    return [p for pair in zip(known, new, strict=False) for p in pair]


def _setup() -> str:
    """A marketer with a token, the campaign and custom field the rows name, and an
    active scoring model (so scoring's reactions do real work). Returns the token."""
    user = User.objects.create_user("bench_capture")
    user.groups.add(Group.objects.get_or_create(name="marketing")[0])
    Campaign.objects.create(code="spring", name="Spring")
    define_custom_field(name="seats", label="Seats", type="number", choices=[])
    ScoringModel.objects.create(
        version=1, definition=DEFAULT_DEFINITION, is_active=True, created_at=timezone.now()
    )
    with connection.cursor() as cursor:
        # The baseline's table: the lead table's columns, defaults, indexes and constraints.
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_leads (LIKE leads_lead INCLUDING ALL)")
    return Token.objects.create(user=user).key


# --- the stack ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(*, workers: int, celery: bool = True) -> Iterator[int]:
    """gunicorn (and a Celery worker) on the bench database; yields the web port."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    web = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "leadflow.wsgi", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "120"],
        env=env,
    )  # fmt: skip
    procs = [web]
    if celery:
        procs.append(celery_worker(env, "-l", "warning", "-c", "1", "--without-gossip"))
    try:
        _wait_for(port)
        yield port
    finally:
        stop(procs)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            with contextlib.suppress(OSError):
                conn.request("GET", "/healthz")
                if conn.getresponse().status in (200, 503):
                    return
        finally:
            conn.close()
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s")


# --- clients -----------------------------------------------------------------------


def _in_threads(work: Callable[[int, list], None], jobs: list, clients: int) -> float:
    """Run `work(client, its jobs)` on `clients` threads (jobs dealt round robin);
    the wall time from the first start to the last end."""
    shares = [jobs[i::clients] for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def run(i):
        barrier.wait()
        try:
            work(i, shares[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def http_posts(port: int, token: str, path: str, bodies: list[bytes], clients: int):
    """POST every body (keep-alive per client); (wall seconds, latencies, answers)."""
    latencies: list[float] = []
    answers: list[tuple[int, bytes]] = []
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def work(i, share):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in share:
            started = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            data = response.read()
            latencies.append(time.perf_counter() - started)
            answers.append((response.status, data))
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        conn.close()

    return _in_threads(work, bodies, clients), latencies, answers


_COLUMNS = ("email", "first_name", "last_name", "company", "title", "phone", "country",
            "source", "custom", "company_domain")  # fmt: skip
_FILLED = _COLUMNS[1:8]


def _upsert_sql() -> tuple[str, str]:
    """The baseline's statement and row template: the rows' columns, every other NOT
    NULL column of the lead table at its model default (as the product's insert; the
    generated ones PostgreSQL computes)."""
    from leads.models import Lead

    rest, defaults = [], []
    for field in Lead._meta.concrete_fields:
        if field.primary_key or field.generated or field.column in _COLUMNS:
            continue
        rest.append(field.column)
        if field.column in ("created_at", "updated_at"):
            defaults.append("now()")
            continue
        value = field.get_db_prep_save(field.get_default(), connection)
        with connection.cursor() as cursor:
            defaults.append(cursor.mogrify("%s", [value]).decode())
    fill = ", ".join(
        f"{c} = CASE WHEN coalesce(b.{c}, '') = '' THEN EXCLUDED.{c} ELSE b.{c} END"
        for c in _FILLED
    )
    sql = (
        f"INSERT INTO bench_leads AS b ({', '.join(_COLUMNS + tuple(rest))}) VALUES %s "
        f"ON CONFLICT (email) WHERE email IS NOT NULL DO UPDATE SET {fill}, "
        "custom = EXCLUDED.custom || b.custom, updated_at = EXCLUDED.updated_at "
        "RETURNING id, xmax = 0"
    )
    template = f"({', '.join(['%s'] * len(_COLUMNS))}, {', '.join(defaults)})"
    return sql, template


def _sql_values(row: dict) -> tuple:
    """A row as the product stores it (E.164 phone, JSON custom values, the domain)."""
    values = {**row, "phone": "+4930" + row["phone"].removeprefix("+49 30 ")}
    values.update(custom=json.dumps(row["custom"]), company_domain=row["email"].split("@")[1])
    return tuple(values[c] for c in _COLUMNS)


def psycopg_upserts(rows_per_statement: list[list[dict]], clients: int):
    """The baseline: each list of rows as one INSERT … ON CONFLICT statement (autocommit)
    on a connection per client; (wall seconds, latencies)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    latencies: list[float] = []
    sql, template = _upsert_sql()

    def work(i, share):
        conn = psycopg2.connect(
            host=url.hostname, port=url.port, user=url.username, password=url.password,
            dbname=url.path.lstrip("/"),
        )  # fmt: skip
        conn.autocommit = True
        with conn.cursor() as cursor:
            for rows in share:
                started = time.perf_counter()
                execute_values(cursor, sql, [_sql_values(r) for r in rows],
                               template=template, page_size=len(rows), fetch=True)  # fmt: skip
                latencies.append(time.perf_counter() - started)
        conn.close()

    return _in_threads(work, rows_per_statement, clients), latencies


# --- the measurements ----------------------------------------------------------------


def _ms(latencies: list[float], q: int) -> float:
    if len(latencies) < 2:
        return latencies[0] * 1000 if latencies else 0.0
    return statistics.quantiles(latencies, n=100)[q - 1] * 1000


def _check(answers, expected: set[int]) -> None:
    bad = [(status, body[:300]) for status, body in answers if status not in expected]
    if bad:
        raise SystemExit(f"{len(bad)} unexpected answers, e.g. {bad[0]}")


def _figures(number, leads, wall, latencies, base_wall, base_latencies) -> dict:
    return {
        "round": "new" if number == 0 else "half known",
        "ours": leads / wall,
        "ours_p50": _ms(latencies, 50),
        "ours_p99": _ms(latencies, 99),
        "base": leads / base_wall,
        "base_p50": _ms(base_latencies, 50),
        "base_p99": _ms(base_latencies, 99),
    }


def single_creates(port, token, *, creates, clients, rounds, base) -> list[dict]:
    figures = []
    for number in range(rounds):
        rows = [lead_row(p) for p in people(number, creates, base=base)]
        bodies = [json.dumps(row).encode() for row in rows]
        wall, latencies, answers = http_posts(port, token, "/api/v1/leads/", bodies, clients)
        _check(answers, {200, 201})
        base_wall, base_latencies = psycopg_upserts([[row] for row in rows], clients)
        figures.append(_figures(number, len(rows), wall, latencies, base_wall, base_latencies))
    return figures


def batches(port, token, *, leads, clients, rounds, base) -> list[dict]:
    figures = []
    for number in range(rounds):
        everyone = people(number, leads, base=base)
        chunks = [everyone[i : i + BATCH] for i in range(0, len(everyone), BATCH)]
        rows = [[lead_row(p) for p in chunk] for chunk in chunks]
        bodies = [json.dumps(chunk).encode() for chunk in rows]
        path = "/api/v1/leads/batch/"
        wall, latencies, answers = http_posts(port, token, path, bodies, clients)
        _check(answers, {200})
        statuses = [r["status"] for _, body in answers for r in json.loads(body)["results"]]
        if set(statuses) - {200, 201}:
            raise SystemExit(f"batch items refused: {sorted(set(statuses))}")
        base_wall, base_latencies = psycopg_upserts(rows, clients)
        figures.append(_figures(number, len(everyone), wall, latencies, base_wall, base_latencies))
    return figures


def _validated(rows: list[dict], by) -> list[dict]:
    """The rows as the API's serializer hands them to the capture services."""
    from leads.api.serializers import LeadSerializer

    out = []
    for row in rows:
        serializer = LeadSerializer(data=row, context={})
        serializer.is_valid(raise_exception=True)
        out.append(dict(serializer.validated_data))
    return out


def _explain_single(work: str, user, person: int) -> str:
    from leads.services import capture_lead

    (data,) = _validated([lead_row(person)], user)
    return explained(work, lambda: capture_lead(data=data, by=user, channel="api",
                                                now=timezone.now()))  # fmt: skip


def _explain_batch(work: str, user, first: int) -> str:
    from leads.services.batch import capture_batch

    items = _validated([lead_row(p) for p in range(first, first + BATCH)], user)
    return explained(work, lambda: capture_batch(items=items, by=user, channel="api",
                                                 now=timezone.now()))  # fmt: skip


def _rate(leads: int, walls: list[float]) -> float:
    """Leads per second of the p95 round (every round captures as many)."""
    return leads / p95(walls)


def main(options: list[str]) -> list[Row]:
    scale = option(options, "--rows", TARGET_ROWS)
    full = scale == TARGET_ROWS  # a smoke run (make bench SCALE=10k, the tests) is small
    creates = option(options, "--creates", 2000 if full else max(50, scale // 20))
    batch_leads = option(options, "--batch-leads", 20_000 if full else max(BATCH, scale))
    clients = option(options, "--clients", 8)
    workers = option(options, "--workers", 4 if full else 2)
    rounds = option(options, "--rounds", option(options, "--repeat", 2))
    batch_clients = option(options, "--batch-clients", 2)
    token = _setup()
    try:
        with serve(workers=workers) as port:
            # Warm every worker up (imports, connections) before anything is timed.
            warm = [json.dumps(lead_row(p)).encode() for p in range(9_000_000, 9_000_050)]
            http_posts(port, token, "/api/v1/leads/", warm, clients)
            single = single_creates(port, token, creates=creates, clients=clients,
                                    rounds=rounds, base=0)  # fmt: skip
            batch = batches(port, token, leads=batch_leads, clients=batch_clients,
                            rounds=rounds, base=1_000_000)  # fmt: skip
        user = User.objects.get(username="bench_capture")
        print(f"gunicorn {workers} sync workers + 1 Celery worker; {clients} clients for "
              f"single creates, {batch_clients} for batches of {BATCH}")  # fmt: skip
        for kind, figures in (("single creates", single), ("batch", batch)):
            for f in figures:
                print(f"{kind + ', ' + f['round']:<28} LeadFlow {f['ours']:>7.0f}/s "
                      f"p50 {f['ours_p50']:>6.1f} ms p99 {f['ours_p99']:>6.1f} ms | psycopg "
                      f"{f['base']:>7.0f}/s p50 {f['base_p50']:>6.1f} ms "
                      f"p99 {f['base_p99']:>6.1f} ms", flush=True)  # fmt: skip
        per_round = "new, then half known" if rounds > 1 else "new"
        single_work = (f"single creates (POST /api/v1/leads/), {clients} clients, "
                       f"{creates:,} a round ({per_round}): creates/s")  # fmt: skip
        p99_work = f"single create, {clients} clients: p99 latency (slowest round)"
        batch_work = (f"batches of {BATCH:,} (POST /api/v1/leads/batch/), {batch_clients} "
                      f"clients, {batch_leads:,} leads a round ({per_round}): leads/s")  # fmt: skip
        ours = _rate(creates, [creates / f["ours"] for f in single])
        theirs = _rate(creates, [creates / f["base"] for f in single])
        p99_ours = max(f["ours_p99"] for f in single) / 1000
        p99_theirs = max(f["base_p99"] for f in single) / 1000
        batch_ours = _rate(batch_leads, [batch_leads / f["ours"] for f in batch])
        batch_theirs = _rate(batch_leads, [batch_leads / f["base"] for f in batch])
        single_plan = _explain_single(single_work, user, 8_000_000)
        return [
            Row(key="single-creates", work=single_work, leadflow=ours, baseline=theirs,
                runs=rounds, unit="/s", target=f"≥ {TARGETS['single_per_s']}/s",
                met=judged(ours >= TARGETS["single_per_s"], scale), explain=single_plan),
            Row(key="single-p99", work=p99_work, leadflow=p99_ours, baseline=p99_theirs,
                runs=rounds, target=f"p99 < {TARGETS['single_p99_ms']} ms",
                met=judged(p99_ours * 1000 < TARGETS["single_p99_ms"], scale),
                explain=single_plan.replace(single_work, p99_work, 1)),
            Row(key="batch", work=batch_work, leadflow=batch_ours, baseline=batch_theirs,
                runs=rounds, unit="/s", target=f"≥ {TARGETS['batch_per_s']:,}/s",
                met=judged(batch_ours >= TARGETS["batch_per_s"], scale),
                explain=_explain_batch(batch_work, user, 8_100_000)),
        ]  # fmt: skip
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_leads")
