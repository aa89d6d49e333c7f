"""The signed links of a nurture email: unsubscribe, open pixel, click redirect.

Each token is signed (django.core.signing, with its own salt) over what it stands for,
so it cannot be forged, nor edited into another lead's or another send's: the
unsubscribe token carries the send's id and the address it went to; the click token
carries its target URL inside the signature, so the redirect is never an open one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.urls import reverse

from nurturing.models import Send

UNSUBSCRIBE = "nurturing.unsubscribe"
OPEN = "nurturing.open"
CLICK = "nurturing.click"


@dataclass(frozen=True)
class Click:
    send_id: int
    url: str


def _sign(value, salt: str) -> str:
    # No timestamp: the same email always carries the same links (retries included).
    return signing.Signer(salt=salt).sign_object(value, compress=True)


def _read(token: str, salt: str):
    return signing.Signer(salt=salt).unsign_object(token)


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def unsubscribe_token(send: Send) -> str:
    return _sign([send.pk, send.lead.email or ""], UNSUBSCRIBE)


def unsubscribe_url(send: Send) -> str:
    return _absolute(reverse("nurturing:unsubscribe", args=[unsubscribe_token(send)]))


def open_url(send: Send) -> str:
    token = _sign(send.pk, OPEN)
    return _absolute(reverse("nurturing:open", args=[token]))


def click_url(send: Send, target: str) -> str:
    token = _sign([send.pk, target], CLICK)
    return _absolute(reverse("nurturing:click", args=[token]))


def read_unsubscribe(token: str) -> tuple[int, str] | None:
    """(send id, address) of a genuine unsubscribe token, else None."""
    try:
        send_id, email = _read(token, UNSUBSCRIBE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return (send_id, email) if isinstance(send_id, int) and isinstance(email, str) else None


def read_open(token: str) -> int | None:
    try:
        send_id = _read(token, OPEN)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return send_id if isinstance(send_id, int) else None


def read_click(token: str) -> Click | None:
    """The send and the target of a genuine click token (http or https only), else None."""
    try:
        send_id, url = _read(token, CLICK)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(send_id, int) or not isinstance(url, str):
        return None
    if urlsplit(url).scheme not in ("http", "https"):
        return None
    return Click(send_id, url)
