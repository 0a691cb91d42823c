"""An adversarial Koywe: a loopback HTTP/1.1 server written for these tests alone (it shares nothing
with `simulators/`, whose faults are the documented ones). It speaks the routes the Koywe adapter
calls (`POST /auth`, `POST /documents`, `GET /documents/{id}`, `GET /documents?...`) and answers
the way real APIs misbehave, one armed quirk per call:

- a 201/202/204 where the documentation shows a 200, HTML with a 200, extra and missing fields;
- listings whose items lack the compared fields, short or empty pages, items listed twice,
  no `page_count`; documents that stay invisible for `lag_s` after being issued (a search index
  catching up), statuses that move from pending to accepted between calls;
- answers that arrive only after the client gave up, a connection reset after the whole request
  was read (issued or not), and bodies cut short of their Content-Length.

Its ledger is the truth the invariants are checked against: a document is issued here exactly
when it is in `ledger`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

# Emission quirks: (issues the document?, how it answers)
EMIT_QUIRKS: Final[dict[str, bool]] = {
    "ok": True,
    "pending": True,  # issued, DIAN's verdict pending (validation status 1)
    "created_202": True,  # issued, answered 202 instead of 201
    "extra_fields": True,  # issued, the document with fields nobody documented
    "late": True,  # issued, the answer arrives after the client's timeout
    "reset_after": True,  # issued, then the connection is reset
    "truncated": True,  # issued, the body is cut short
    "html_200": True,  # issued, a 200 with an HTML page (a proxy's)
    "down": False,  # 503 before taking it
    "slow_down": False,  # 503 before taking it, after the client's timeout
    "reset_before": False,  # connection reset after the request was read, nothing issued
    "reject": False,  # 422: the documented validation error
}
STATUS_QUIRKS: Final = (
    "ok",
    "created_201",  # the document, answered 201
    "accepted_202",
    "no_content_204",
    "html_200",
    "bare_404",
    "down",
    "truncated",
    "late",
)
LIST_QUIRKS: Final = (
    "ok",
    "accepted_202",  # the listing, answered 202
    "lacks_fields",
    "short_page",
    "duplicated",
    "no_page_count",
    "empty_first_page",
    "html_200",
    "late",
)
READABLE: Final = {"ok": 200, "created_201": 201, "accepted_202": 202, "truncated": 200, "late": 200}
VALIDATED: Final = 3  # Koywe taxbureau_validation_status: accepted by DIAN
PENDING: Final = 1


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as they are
    content_type: str = "application/json"
    delay_s: float = 0.0
    reset: bool = False
    truncate: bool = False


@dataclass
class Issued:
    document_id: str
    payload: dict[str, Any]
    at: float
    validation: int
    status_calls: int = 0


@dataclass
class AdversarialKoywe:
    """`late_s` must exceed the client's timeout; `lag_s` stay below the gateway's processing window."""

    name: str
    late_s: float = 0.6
    lag_s: float = 0.05
    ledger: dict[str, Issued] = field(default_factory=dict)
    emit_quirks: deque[str] = field(default_factory=deque)
    status_quirks: deque[str] = field(default_factory=deque)
    list_quirks: deque[str] = field(default_factory=deque)
    received: asyncio.Event = field(default_factory=asyncio.Event)  # set at each emission read
    calls: dict[str, int] = field(default_factory=lambda: {"emit": 0, "status": 0, "list": 0})
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_800_001))
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        for handler in list(self._handlers):  # late answers still sleeping
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    # -- HTTP/1.1, one request per connection ---------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            reply = self.answer(method, target, body)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            if reply.reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                writer.transport.abort()
                return
            content = (
                reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body, default=str).encode()
            )
            if reply.status == 204:
                content = b""
            sent = content[: len(content) // 2] if reply.truncate else content
            writer.write(
                (
                    f"HTTP/1.1 {reply.status} X\r\nContent-Type: {reply.content_type}\r\n"
                    f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n"
                ).encode()
                + sent
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(handler)
            with contextlib.suppress(Exception):
                writer.close()

    def answer(self, method: str, target: str, body: bytes) -> Reply:
        url = urlsplit(target)
        if method == "POST" and url.path == "/auth":
            return Reply(
                body={"access_token": f"token-{self.name}", "token_type": "Bearer", "expires_in": 3600}
            )
        if method == "POST" and url.path == "/documents":
            return self._emit(json.loads(body, parse_float=Decimal))  # amounts exactly as sent
        if method == "GET" and url.path == "/documents":
            return self._list(dict(parse_qsl(url.query)))
        if method == "GET" and url.path.startswith("/documents/"):
            return self._status(url.path.removeprefix("/documents/"))
        return Reply(404, b"<html>no route</html>", "text/html")

    # -- the three routes ---------------------------------------------------------------------------

    def _emit(self, payload: dict[str, Any]) -> Reply:
        self.calls["emit"] += 1
        self.received.set()
        quirk = self.emit_quirks.popleft() if self.emit_quirks else "ok"
        if not EMIT_QUIRKS[quirk]:
            if quirk in ("down", "slow_down"):
                return Reply(503, {"error": "Service Unavailable"}, delay_s=self._late(quirk))
            if quirk == "reject":
                return Reply(
                    422, {"error": "Validation failed", "details": ["receiver_tax_id_code inválido"]}
                )
            return Reply(reset=True)
        issued = Issued(
            document_id=str(next(self._ids)),
            payload=payload,
            at=time.monotonic(),
            validation=PENDING if quirk == "pending" else VALIDATED,
        )
        self.ledger[issued.document_id] = issued
        document = self._document(issued)
        replies = {
            "ok": Reply(201, document),
            "pending": Reply(201, document),
            "created_202": Reply(202, document),
            "extra_fields": Reply(201, {**document, "trace": {"node": 7}, "deprecated_total": "0"}),
            "late": Reply(201, document, delay_s=self.late_s),
            "reset_after": Reply(reset=True),
            "truncated": Reply(201, document, truncate=True),
            "html_200": Reply(200, b"<html><body>Gateway Timeout</body></html>", "text/html"),
        }
        return replies[quirk]

    def _status(self, document_id: str) -> Reply:
        self.calls["status"] += 1
        quirk = self.status_quirks.popleft() if self.status_quirks else "ok"
        issued = self.ledger.get(document_id)
        visible = issued is not None and time.monotonic() - issued.at >= self.lag_s
        if quirk in ("ok", "created_201", "accepted_202") and not visible:
            return Reply(404, {"error": "Document not found"})  # documented (examples/document.404)
        if quirk in READABLE and issued is not None and visible:
            issued.status_calls += 1
            if issued.status_calls > 1:
                issued.validation = VALIDATED  # the verdict arrives between calls
            return Reply(
                READABLE[quirk],
                self._document(issued),
                truncate=quirk == "truncated",
                delay_s=self._late(quirk),
            )
        return self._odd(quirk)

    def _list(self, query: dict[str, str]) -> Reply:
        self.calls["list"] += 1
        quirk = self.list_quirks.popleft() if self.list_quirks else "ok"
        if quirk == "html_200":
            return self._odd(quirk)
        now = time.monotonic()
        matching = [
            self._item(i)
            for i in self.ledger.values()
            if now - i.at >= self.lag_s and _matches(i.payload, query)
        ]
        per_page, page = int(query.get("per_page", "10")), int(query.get("page", "1"))
        if quirk == "empty_first_page":  # the first page empty, the rest one page later
            pages = [[], *(matching[n : n + per_page] for n in range(0, len(matching), per_page))]
        else:
            pages = [matching[n : n + per_page] for n in range(0, len(matching), per_page)] or [[]]
        items = list(pages[page - 1]) if page <= len(pages) else []
        if quirk == "short_page" and items:
            items = items[: len(items) - 1]  # the provider caps the page below what it claims
        if quirk == "duplicated":
            items = items + items
        if quirk == "lacks_fields":
            items = [
                {k: v for k, v in item.items() if k not in ("total_amount", "receiver_tax_id_code")}
                for item in items
            ]
        body: dict[str, Any] = {
            "documents": items,
            "page_count": len(pages) if matching else 0,
            "page_size": per_page,
            "total_items": len(matching),
            "page": page,
        }
        if quirk == "no_page_count":
            del body["page_count"]
        return Reply(202 if quirk == "accepted_202" else 200, body, delay_s=self._late(quirk))

    def _late(self, quirk: str) -> float:
        return self.late_s if quirk in ("late", "slow_down") else 0.0

    def _odd(self, quirk: str) -> Reply:
        """Answers to a query that say nothing about the document."""
        return {
            "no_content_204": Reply(204),
            "html_200": Reply(200, b"<html><body>Bienvenido</body></html>", "text/html"),
            "bare_404": Reply(404, b"<html><body>Not Found</body></html>", "text/html"),
            "down": Reply(503, {"error": "Service Unavailable"}),
            "late": Reply(503, {"error": "late"}, delay_s=self.late_s),
            "truncated": Reply(503, {"error": "cut"}, truncate=True),
            "ok": Reply(404, {"error": "Document not found"}),
        }[quirk]

    # -- Koywe's shapes (openapi: Document, SimplifiedDocument) --------------------------------------

    def _document(self, issued: Issued) -> dict[str, Any]:
        header = issued.payload.get("header", {})
        return {
            "document_id": issued.document_id,
            "header": {
                **header,
                "document_number": issued.document_id[-5:],
                "taxbureau_validation_status": issued.validation,
            },
            "totals": issued.payload.get("totals", {}),
        }

    def _item(self, issued: Issued) -> dict[str, Any]:
        header, totals = issued.payload.get("header", {}), issued.payload.get("totals", {})
        return {
            "document_id": issued.document_id,
            "issue_date": header.get("issue_date"),
            "document_number": issued.document_id[-5:],
            "document_type_id": str(header.get("document_type_id")),
            "receiver_tax_id_code": header.get("receiver_tax_id_code"),
            "total_amount": str(totals.get("total_amount")),
        }


def _matches(payload: dict[str, Any], query: dict[str, str]) -> bool:
    header, totals = payload.get("header", {}), payload.get("totals", {})
    checks = (
        ("issue_date_from", header.get("issue_date")),
        ("document_type_id", str(header.get("document_type_id"))),
        ("receiver_tax_id_code", header.get("receiver_tax_id_code")),
        ("min_total_amount", str(totals.get("total_amount"))),
    )
    return all(query.get(name) in (None, value) for name, value in checks)
