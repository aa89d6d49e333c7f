"""A real SMTP server for tests (aiosmtpd on a free loopback port) that counts what it
receives by Message-ID, and can refuse for a while with a 421 as a busy server does."""

from __future__ import annotations

import email
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    messages: list[email.message.Message] = field(default_factory=list)
    refuse: int = 0  # the next N messages are answered "421" (and not kept)
    refuse_from: int | None = None  # refuse_stretch of them once this many were kept
    refuse_stretch: int = 0
    refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse_later(self, *, after: int, count: int) -> None:
        """Answer "421" to `count` messages once `after` messages were kept."""
        with self.lock:
            self.refuse_from, self.refuse_stretch = after, count

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse_from is not None and len(self.messages) >= self.refuse_from:
                self.refuse, self.refuse_from = self.refuse_stretch, None
            if self.refuse > 0:
                self.refusals += 1
                self.refuse -= 1
                return "421 Service not available, try again later"
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def ids(self) -> Counter:
        with self.lock:
            return Counter(m["Message-ID"] for m in self.messages)

    def to(self, address: str) -> list[email.message.Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """An SMTP server the email backend delivers to (EMAIL_URL as smtp://127.0.0.1:port)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    inbox.port = port
    try:
        yield inbox
    finally:
        controller.stop()
