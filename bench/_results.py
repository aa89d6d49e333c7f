"""What every benchmark returns and how the figures are taken: a `Row` per piece of work
(LeadFlow's figure beside its baseline from the same run, the target, whether it is met),
the p95 of repeated runs, and the EXPLAIN (ANALYZE, BUFFERS) of a piece of work's slowest
statement. `bench/__main__.py` prints the rows as one table and writes them out.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# The scale the targets are set for; a run at another scale (make bench SCALE=10k) is a
# smoke test: the same code, figures printed, no target judged.
TARGET_ROWS = 1_000_000


@dataclass
class Row:
    """One piece of work: LeadFlow's figure and the baseline's (seconds, p95 over `runs`
    repetitions, the baseline measured beside LeadFlow in the same run), the target and
    whether it is met (None: no target, or not at this scale)."""

    key: str  # file name of its plan: bench/results/explain/<key>.txt
    work: str
    leadflow: float
    baseline: float | None = None
    runs: int = 1
    target: str = ""
    met: bool | None = None
    explain: str = ""  # the EXPLAIN (ANALYZE, BUFFERS) of LeadFlow's slowest statement
    module: str = ""  # set by bench/__main__.py
    # "": the figures are seconds; "/s": a rate (the work done over the p95 run's time),
    # e.g. leads captured per second: higher is better.
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        """LeadFlow's cost over the baseline's: above 1, LeadFlow is slower (for a rate,
        the baseline's rate over LeadFlow's)."""
        if not self.baseline or not self.leadflow:
            return None
        if self.unit == "/s":
            return self.baseline / self.leadflow
        return self.leadflow / self.baseline

    def shown(self, value: float | None) -> str:
        if self.unit == "/s" and value is not None:
            return f"{value:,.0f}/s"
        return seconds(value)

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "explain"}


def option(options: list[str], name: str, default: int) -> int:
    """A module's integer option (`--rows 200_000`), else `default`."""
    if name in options:
        return int(options[options.index(name) + 1].replace("_", ""))
    return default


def judged(met: bool, rows: int) -> bool | None:
    """Whether a target is met, judged only at the scale it is set for."""
    return met if rows == TARGET_ROWS else None


def p95(samples: list[float]) -> float:
    """The 95th percentile, linearly interpolated (of 3 runs: close to the slowest)."""
    ordered = sorted(samples)
    rank = 0.95 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def side_by_side(
    ours: Callable[[], object], baseline: Callable[[], object], *, repeat: int, warm_up: bool = True
) -> tuple[float, float]:
    """p95 seconds of `ours` and of `baseline`, run alternately `repeat` times (after one
    warm-up run of each), so both see the same load on a shared machine."""
    if warm_up:
        ours()
        baseline()
    mine, theirs = [], []
    for _ in range(repeat):
        mine.append(timed(ours))
        theirs.append(timed(baseline))
    return p95(mine), p95(theirs)


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:,.1f} ms"
    return f"{value:,.1f} s"


# EXPLAIN runs these (EXECUTE: a statement leads.rows.execute_prepared prepared); other
# statements (SET, COPY, DDL, locks) are run as they are.
_EXPLAINABLE = re.compile(r"^\s*(\(|SELECT|WITH|INSERT|UPDATE|DELETE|EXECUTE)\b", re.IGNORECASE)
_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


@dataclass
class _Slowest:
    ms: float = -1.0
    sql: str = ""
    params: object = None
    plan: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


class SlowestStatement:
    """While active, every statement Django sends that EXPLAIN can run (on any connection,
    in any thread) first runs under EXPLAIN (ANALYZE, BUFFERS) in a savepoint that is
    rolled back, then for real: the plan is of the data as the statement saw it. Keeps
    the slowest. Doubles the work, so never use it while timing."""

    def __init__(self) -> None:
        self._slowest = _Slowest()

    def __enter__(self) -> SlowestStatement:
        from django.db.backends.utils import CursorWrapper

        self._cursor_class, self._original = CursorWrapper, CursorWrapper.execute
        rider = self

        def execute(cursor, sql, params=None):
            rider._explain(cursor, sql, params)
            return rider._original(cursor, sql, params)

        CursorWrapper.execute = execute
        return self

    def __exit__(self, *exc) -> None:
        self._cursor_class.execute = self._original

    def _explain(self, cursor, sql: str | bytes, params) -> None:
        if isinstance(sql, bytes):  # psycopg2's execute_values sends the statement composed
            sql = sql.decode()
        if not _EXPLAINABLE.match(sql) or "advisory" in sql:  # a session lock would stay
            return
        raw, db = cursor.cursor, cursor.db
        outside = db.get_autocommit()
        raw.execute("BEGIN" if outside else "SAVEPOINT bench_explain")
        try:
            raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(line for (line,) in raw.fetchall())
        except Exception:
            plan = ""
        finally:
            raw.execute("ROLLBACK" if outside else "ROLLBACK TO SAVEPOINT bench_explain")
        found = _EXECUTION.search(plan)
        if found is None:
            return
        ms, slowest = float(found.group(1)), self._slowest
        with slowest.lock:
            if ms > slowest.ms:
                slowest.ms, slowest.sql, slowest.params, slowest.plan = ms, sql, params, plan

    def report(self, work: str) -> str:
        """The slowest statement with its parameters and plan, as a text file's content."""
        slowest = self._slowest
        if slowest.ms < 0:
            return f"{work}\n\n(no statement EXPLAIN can run)\n"
        return (
            f"{work}\n\nThe slowest statement ({slowest.ms:,.1f} ms under EXPLAIN ANALYZE):\n\n"
            f"{slowest.sql.strip()}\n\nparameters: {slowest.params!r}\n\n{slowest.plan}\n"
        )


def explained(work: str, fn: Callable[[], object]) -> str:
    """Run `fn` once more with SlowestStatement; its report."""
    with SlowestStatement() as rider:
        fn()
    return rider.report(work)
