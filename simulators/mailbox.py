"""A real SMTP server for the demo and the tests (aiosmtpd), in its own thread and event loop, on
127.0.0.1 and a free port: it keeps every message it accepts, as the buyer's mail server would.

`refusals[address]` answers the next messages to that address with those replies instead (a mail
server in trouble for that mailbox only)."""

from __future__ import annotations

import asyncio
import email
import threading
from email.message import Message
from typing import Self

from aiosmtpd.smtp import SMTP, Envelope, Session


class Received:
    def __init__(self, to: list[str], raw: bytes) -> None:
        self.to, self.raw = to, raw
        self.message: Message = email.message_from_bytes(raw)


class Mailbox:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refusals: dict[str, list[str]] = {}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mailbox", daemon=True)
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        queued = self.refusals.get(envelope.rcpt_tos[0], [])
        if queued:
            return queued.pop(0)
        self.received.append(
            Received(list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content))
        )
        return "250 Message accepted for delivery"

    def start(self) -> Self:
        self._thread.start()
        create = self._loop.create_server(lambda: SMTP(self, hostname="mailbox.test"), "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(create, self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            asyncio.run_coroutine_threadsafe(self._server.wait_closed(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.to]
