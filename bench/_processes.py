"""The processes a benchmark starts beside itself (a Celery worker, gunicorn), and their
stop: SIGTERM to each, then SIGKILL to any still running after `grace` seconds."""

from __future__ import annotations

import subprocess
import sys

CELERY = [sys.executable, "-m", "celery", "-A", "leadflow"]


def celery_worker(env: dict, *options: str) -> subprocess.Popen:
    """A `celery worker` with `options`, on an emptied queue (what an earlier run left
    in Redis would be sent as well)."""
    subprocess.run([*CELERY, "purge", "-f"], env=env, capture_output=True, check=False)  # noqa: S603
    return subprocess.Popen([*CELERY, "worker", *options], env=env)  # noqa: S603


def stop(procs: list[subprocess.Popen], *, grace: float = 30) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
