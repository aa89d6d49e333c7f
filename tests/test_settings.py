"""Configuration from the environment: typed helpers that fail loudly, and EMAIL_URL
delivering to a real SMTP server."""

import socket

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection, send_mail

from leadflow.env import email_settings, env_bool, env_int, env_list


def test_env_bool_reads_the_usual_spellings_and_refuses_others(monkeypatch):
    for raw, value in [("true", True), ("1", True), ("Yes", True), ("off", False), ("0", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert env_bool("X_FLAG") is value
    monkeypatch.delenv("X_FLAG")
    assert env_bool("X_FLAG", True) is True
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    assert env_int("X_INT", 1) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_HOSTS", "crm.example.com, localhost,")
    assert env_list("X_HOSTS", []) == ["crm.example.com", "localhost"]


def test_email_url_variants():
    assert email_settings("")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    smtp = email_settings("smtp://user%40x:p%2Fw@mail.example.com:587?tls=1")
    assert smtp["EMAIL_HOST"] == "mail.example.com" and smtp["EMAIL_PORT"] == 587
    assert smtp["EMAIL_HOST_USER"] == "user@x" and smtp["EMAIL_HOST_PASSWORD"] == "p/w"
    assert smtp["EMAIL_USE_TLS"] is True and smtp["EMAIL_USE_SSL"] is False
    assert email_settings("smtps://mail.example.com")["EMAIL_PORT"] == 465
    for bad in ["ftp://x", "smtp://", "smtp://h:notaport"]:
        with pytest.raises(ImproperlyConfigured):
            email_settings(bad)


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"


def test_email_url_delivers_to_a_real_smtp_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = email_settings(f"smtp://127.0.0.1:{port}")
        connection = get_connection(
            config["EMAIL_BACKEND"],
            host=config["EMAIL_HOST"],
            port=config["EMAIL_PORT"],
            use_tls=config["EMAIL_USE_TLS"],
            timeout=config["EMAIL_TIMEOUT"],
        )
        sent = send_mail(
            "Hello", "Body", "leadflow@example.com", ["jane@example.com"], connection=connection
        )
    finally:
        controller.stop()
    assert sent == 1
    assert inbox.messages[0].rcpt_tos == ["jane@example.com"]
    assert b"Subject: Hello" in inbox.messages[0].content


def test_check_deploy_with_https_has_no_security_warnings(tmp_path):
    """Production settings with HTTPS=true pass `check --deploy` with no security warning
    (HSTS, SSL redirect, secure cookies)."""
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "HTTPS": "true", "DEBUG": "false", "ALLOWED_HOSTS": "crm.example.com",
           "SECRET_KEY": secrets.token_urlsafe(60)}  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "security.W" not in output, output


def test_dashboards_read_through_a_replica_when_dashboard_database_url_is_set():
    """DASHBOARD_DATABASE_URL adds the database alias `dashboard` (mirrored in tests) and
    every dashboard read goes through it; without it they read the main database."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "from dashboards.selectors import filters; "
        "print(filters.db_alias(), settings.DATABASES.get('dashboard', {}).get('HOST'), "
        "settings.DATABASES.get('dashboard', {}).get('TEST', {}).get('MIRROR'))"
    )

    def run(**extra):
        env = {k: v for k, v in os.environ.items() if k != "DASHBOARD_DATABASE_URL"}
        env.update(DJANGO_SETTINGS_MODULE="leadflow.settings", **extra)
        done = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
        return done.stdout.split()

    assert run() == ["default", "None", "None"]
    replica = "postgres://reader@replica.internal:5432/leadflow"
    assert run(DASHBOARD_DATABASE_URL=replica) == ["dashboard", "replica.internal", "default"]
