"""The signed links of a nurture email: unsubscribe, open pixel, click redirect.

Each token is signed (django.core.signing, with its own salt) over what it stands for,
so it cannot be forged, nor edited into another lead's or another send's: the
unsubscribe token carries the send's id and the address it went to; the click token
carries its target URL inside the signature, so the redirect is never an open one.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=16)
def _signer(salt: str, key: str) -> signing.Signer:
    """One signer per salt and key (an email signs four links, a batch hundreds)."""
    return signing.Signer(key=key, salt=salt)


def _sign(value, salt: str) -> str:
    # No timestamp: the same email always carries the same links (retries included).
    # Uncompressed: zlib makes these short values no shorter (compressed tokens of older
    # emails still read: the format says which).
    return _signer(salt, settings.SECRET_KEY).sign_object(value)


def _read(token: str, salt: str):
    return signing.Signer(salt=salt).unsign_object(token)


_SLOT = "SLOT"  # where the token goes in the reversed path


@functools.lru_cache(maxsize=8)
def _around_token(name: str) -> tuple[str, str]:
    before, after = reverse(name, args=[_SLOT]).split(_SLOT)
    return before, after


def _link(name: str, token: str) -> str:
    """The absolute link to the view `name` with `token`: reversed once per process (an
    email carries several links, a batch hundreds); a signed token needs no quoting."""
    before, after = _around_token(name)
    return settings.SITE_URL.rstrip("/") + before + token + after


def unsubscribe_token(send: Send) -> str:
    return _sign([send.pk, send.lead.email or ""], UNSUBSCRIBE)


def unsubscribe_url(send: Send) -> str:
    return _link("nurturing:unsubscribe", unsubscribe_token(send))


def open_url(send: Send) -> str:
    return _link("nurturing:open", _sign(send.pk, OPEN))


def click_url(send: Send, target: str) -> str:
    return _link("nurturing:click", _sign([send.pk, target], CLICK))


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
