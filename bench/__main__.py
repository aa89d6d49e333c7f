"""Run benchmarks against a database of their own: `python -m bench [name ...] [--rows N ...]`.

DATABASE_URL names the server; the benchmarks create (and drop afterwards) the
database `<name>_bench` on it, migrate it, and never touch the named database.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

# Every module of this package is a benchmark with a `main(options)`.
BENCHMARKS = tuple(
    sorted(
        path.stem for path in Path(__file__).parent.glob("*.py") if not path.stem.startswith("_")
    )
)


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


def main(argv: list[str]) -> int:
    names = [arg for arg in argv if not arg.startswith("-") and arg in BENCHMARKS] or list(
        BENCHMARKS
    )
    options = [arg for arg in argv if arg not in names]
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (run `make bench`).", file=sys.stderr)
        return 2
    bench_url, db_name = _bench_url(url)
    admin = _admin_connection(url)
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        cursor.execute(f'CREATE DATABASE "{db_name}"')
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        for name in names:
            print(f"== {name} (database {db_name})", flush=True)
            importlib.import_module(f"bench.{name}").main(options)
    finally:
        from django.db import connections

        connections.close_all()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
