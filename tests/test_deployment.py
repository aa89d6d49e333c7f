"""docker-compose.yml and the Procfile of `make run` name real modules and settings.

No Docker engine runs here, so the compose file is checked statically: its services,
their commands and their environment must match the code.
"""

import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_VARIABLES = {
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
}


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _commands(command: str) -> list[list[str]]:
    """The program invocations inside a command (unwrapping `sh -c "a && b"`)."""
    words = shlex.split(command)
    if words[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in words[2].split("&&")]
    return [words]


def _assert_names_real_code(argv: list[str]) -> None:
    program = argv[0]
    if program == "gunicorn":
        module, _, attr = argv[1].partition(":")
        assert callable(getattr(importlib.import_module(module), attr or "application"))
    elif program == "celery":
        app_module = argv[argv.index("-A") + 1]
        from celery import Celery

        assert isinstance(importlib.import_module(app_module).celery_app, Celery)
        assert argv[argv.index("-A") + 2] in {"worker", "beat"}
    elif program == "python" and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"manage.py has no command {argv[2]!r}"
    else:
        pytest.fail(f"unexpected program in a command: {argv}")


def test_compose_has_the_services_of_the_stack():
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "mailpit"} <= set(services)
    assert services["web"]["ports"] == ["8000:8000"]


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
def test_compose_app_services_run_real_modules_with_the_contract_settings(service):
    spec = _compose()["services"][service]
    for argv in _commands(spec["command"]):
        _assert_names_real_code(argv)
    env = spec["environment"]
    assert set(env) == CONTRACT_VARIABLES
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["EMAIL_URL"] == "smtp://mailpit:1025"


def test_compose_beat_and_worker_commands_are_the_ones_celery_understands():
    services = _compose()["services"]
    assert "worker" in services["worker"]["command"].split()
    assert "beat" in services["beat"]["command"].split()


def test_the_procfile_of_make_run_names_real_modules():
    lines = (ROOT / "leadflow" / "Procfile").read_text().splitlines()
    processes = dict(line.split(": ", 1) for line in lines if line.strip())
    assert set(processes) == {"web", "worker", "beat"}
    for command in processes.values():
        _assert_names_real_code(shlex.split(command))
    assert "127.0.0.1:8000" in processes["web"]


def test_ci_runs_make_test_and_the_makefile_has_the_two_commands():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun:" in makefile and "\ntest:" in makefile


def _without_django_settings():
    return {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}
    }


def test_devstack_needs_no_django_settings_to_start():
    """`make run` calls devstack before any settings exist: it must not import Django models."""
    code = (
        "import sys, leadflow.devstack as d; "
        "sys.exit(1 if 'django.contrib.auth.models' in sys.modules else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_without_django_settings(), check=False
    )
    assert result.returncode == 0


def test_devstack_exec_uses_the_given_urls_and_passes_the_exit_code_on():
    env = {**os.environ, "DATABASE_URL": "postgres://x@127.0.0.1:1/x", "REDIS_URL": "redis://r/0"}
    check = "import os, sys; sys.exit(3 if os.environ['REDIS_URL'] == 'redis://r/0' else 1)"
    result = subprocess.run(
        [sys.executable, "-m", "leadflow.devstack", "exec", "--", sys.executable, "-c", check],
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 3
