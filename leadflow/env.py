"""Typed readers for the environment variables of the public contract.

Each helper fails loudly (ImproperlyConfigured) on a value it cannot read,
so a typo in production configuration stops start-up instead of being ignored.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected true/false, yes/no, 1/0 or on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def email_settings(url: str) -> dict[str, object]:
    """Django email settings for EMAIL_URL.

    `smtp://user:password@host:port` (plain, upgraded with `?tls=1`),
    `smtps://...` (implicit TLS), `console:`, `locmem:`; empty means console.
    """
    if not url:
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if scheme not in {"smtp", "smtps"}:
        raise ImproperlyConfigured(
            f"EMAIL_URL scheme {parts.scheme!r} is not supported: use smtp://, smtps://, "
            "console: or locmem:"
        )
    if not parts.hostname:
        raise ImproperlyConfigured("EMAIL_URL needs a host, e.g. smtp://127.0.0.1:1025")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"EMAIL_URL has a bad port: {url!r}") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    use_ssl = scheme == "smtps"
    use_tls = query.get("tls", "").lower() in _TRUE
    if use_ssl and use_tls:
        raise ImproperlyConfigured("EMAIL_URL: smtps:// already uses TLS; drop ?tls=1")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port or (465 if use_ssl else 25),
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_TIMEOUT": 10,
    }


def database_url(db: dict) -> str:
    """The URL of a connection's settings (`connection.settings_dict`), for a process of
    its own pointed at the same database (a Celery worker started by a test or a bench)."""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
