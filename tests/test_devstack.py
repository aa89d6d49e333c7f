"""The embedded stack for operators: a stack of its own on free ports when the defaults
are taken, found by `manage.py` while it runs, and stopped whole by SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WAIT = "import signal, sys; print('ready', flush=True); signal.pause()"


def _open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def own_stack(tmp_path):
    """`devstack exec` with its data in a folder of its own, the default ports held by
    another program, and no DATABASE_URL / REDIS_URL."""
    holders = []
    for port in (54329, 63799):
        sock = socket.socket()
        if sock.connect_ex(("127.0.0.1", port)) != 0:  # nobody there: hold it ourselves
            sock.close()
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
        holders.append(sock)
    env = {k: v for k, v in os.environ.items() if k not in {
        "DATABASE_URL", "REDIS_URL", "LEADFLOW_PG_PORT", "LEADFLOW_REDIS_PORT"}}  # fmt: skip
    env["LEADFLOW_VAR"] = str(tmp_path / "var")
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadflow.devstack", "exec", "--", sys.executable, "-c", WAIT],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield proc, tmp_path / "var"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        for sock in holders:
            sock.close()


def test_a_second_stack_takes_free_ports_and_sigterm_stops_it_all(own_stack):
    proc, var = own_stack
    lines = []
    for line in proc.stdout:  # blocks until the command runs inside the stack
        lines.append(line)
        if line.strip() == "ready":
            break
    assert any("is taken by another program; using" in line for line in lines), lines
    state = json.loads((var / "devstack.json").read_text())
    assert state["pg_port"] != 54329 and state["redis_port"] != 63799
    assert _open(state["pg_port"]) and _open(state["redis_port"])

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert not _open(state["pg_port"]) and not _open(state["redis_port"])
    assert not (var / "devstack.json").exists()


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
