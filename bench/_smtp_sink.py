"""A local SMTP server for the benchmarks, in a process of its own (so it does not share
the sender's interpreter): it accepts everything and counts messages by Message-ID.

    sink = Sink.start(); ...; sink.counts() -> Counter; sink.stop()
"""

from __future__ import annotations

import multiprocessing
import re
import socket
from collections import Counter

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class _Counting:
    def __init__(self) -> None:
        self.counts: Counter = Counter()

    async def handle_DATA(self, server, session, envelope):
        found = _MESSAGE_ID.search(envelope.content.split(b"\r\n\r\n", 1)[0])
        self.counts[found.group(1).decode() if found else ""] += 1
        return "250 OK"


def _serve(port: int, pipe) -> None:
    from aiosmtpd.controller import Controller

    handler = _Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while True:
        command = pipe.recv()
        if command == "counts":
            pipe.send(dict(handler.counts))
        elif command == "reset":
            handler.counts.clear()
            pipe.send("ok")
        else:
            controller.stop()
            pipe.send("stopped")
            return


class Sink:
    def __init__(self, process, pipe, port: int) -> None:
        self.process, self.pipe, self.port = process, pipe, port

    @classmethod
    def start(cls) -> Sink:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(port, theirs), daemon=True)
        process.start()
        if not ours.poll(60) or ours.recv() != "ready":
            raise SystemExit("the benchmark's SMTP server did not start")
        return cls(process, ours, port)

    def _ask(self, command: str):
        self.pipe.send(command)
        return self.pipe.recv()

    def counts(self) -> Counter:
        return Counter(self._ask("counts"))

    def reset(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        self._ask("stop")
        self.process.join(timeout=10)
