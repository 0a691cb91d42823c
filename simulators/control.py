"""The pinned simulator control API, shared by every simulator: fault injection and the ledger.

`POST /_sim/faults {"mode", "count"}` sets what the next N emissions do (N omitted: until changed);
a request may also carry `X-Sim-Fault: <mode>` to fault just itself. `"mix": {"down": 0.1, ...}`
(with an optional `"seed"`) draws each emission's fault at random with those probabilities instead,
`mode` taking the rest: the soak test's steady fault rate. Beyond the pinned modes, `reset` issues
the document and then resets the connection instead of answering (a lost answer, sooner than hang).
`GET /_sim/ledger` lists every document the simulator issued (the soak test's ground truth);
`DELETE /_sim/ledger` clears it. `POST /_sim/numbering {"account", "prefix", "from", "to"}` sets the
DIAN range a self-numbering provider numbers one account's invoices from (what the provider's
portal holds; the gateway's account declares the same range), `account` being what identifies the
account at that provider (`ACCOUNT_KEYS`); without one the simulator keeps its own default range.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import struct
import threading
from contextvars import ContextVar
from typing import Any, Final, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.base import Account
from canonical import clock

FaultMode = Literal["ok", "down", "slow", "hang", "reject", "quota", "reset"]
FAULT_HEADER = "x-sim-fault"

# The connection of the request being handled (set by `resettable`), so `after_issue("reset")` can
# drop it: ASGI has no message for "reset the connection".
_connection: ContextVar[asyncio.Transport | None] = ContextVar("sim_connection", default=None)


class FaultRequest(msgspec.Struct):
    mode: FaultMode
    count: int | None = None
    mix: dict[FaultMode, float] | None = None
    seed: int | None = None


class SimSettings(msgspec.Struct, kw_only=True):
    """Per-run behaviour; tests shrink the delays to milliseconds."""

    slow_s: float = 1.0
    hang_s: float = 30.0
    retry_after_s: int = 1
    trust: str | None = None  # DIAN: CA bundle that makes the signing-certificate check strict
    dian_software: str | None = None  # DIAN: "ID:PIN,ID:PIN"; None reads PASARELA_SIM_DIAN_SOFTWARE
    # MH: folder of <NIT>.crt (the public keys it holds); None reads PASARELA_SIM_HACIENDA_CERTS
    hacienda_certificates: str | None = None
    hacienda_users: str | None = None  # MH: "NIT:password,..."; None reads PASARELA_SIM_HACIENDA_USERS


class RangeDeclaration(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    account: str
    prefix: str
    from_: int | None = msgspec.field(name="from", default=None)
    to: int | None = None


# The credential that identifies an account at each self-numbering provider's simulator.
ACCOUNT_KEYS: Final[dict[str, str]] = {"facepro": "token", "smartapp": "api_key", "koywe": "account_id"}


def declaration_for(account: Account) -> RangeDeclaration | None:
    """What to tell the account's provider simulator about the range the account declares (None:
    no range, or a provider that does not number from one)."""
    field_name = ACCOUNT_KEYS.get(account.provider)
    if field_name is None or account.range is None:
        return None
    return RangeDeclaration(
        account=str(account.credentials.get(field_name, "")),
        prefix=account.range.prefix,
        from_=account.range.from_,
        to=account.range.to,
    )


class RangeExhausted(Exception):
    """The account's declared range has no number left."""


class LedgerEntry(msgspec.Struct, kw_only=True):
    reference: str  # the provider's id for the document (tracking id, CUFE, codigoGeneracion...)
    number: str | None = None
    fiscal_id: str | None = None
    kind: str | None = None
    payload: Any = None
    issued_at: str = msgspec.field(default_factory=lambda: clock.now(dt.UTC).isoformat())


class SimState:
    """Faults and ledger of one simulator. Thread-safe: tests read it from another thread."""

    def __init__(self, settings: SimSettings | None = None) -> None:
        self.settings = settings or SimSettings()
        self._lock = threading.Lock()
        self._mode: FaultMode = "ok"
        self._remaining: int | None = None
        self._mix: list[tuple[float, FaultMode]] = []
        self._random = random.Random()
        self.ledger: list[LedgerEntry] = []
        self._ranges: dict[str, list[Any]] = {}  # account → [prefix, next consecutive, last or None]

    def declare_range(self, declaration: RangeDeclaration) -> None:
        """A range declared again (another gateway for the same account) keeps its position."""
        first = declaration.from_ or 1
        with self._lock:
            current = self._ranges.get(declaration.account)
            if current is not None and current[0] == declaration.prefix and current[2] == declaration.to:
                current[1] = max(current[1], first)
            else:
                self._ranges[declaration.account] = [declaration.prefix, first, declaration.to]

    def take_number(self, account: str) -> tuple[str, int] | None:
        """The next (prefix, consecutive) of the account's declared range; None when it declared
        none (the simulator's own default numbering applies)."""
        with self._lock:
            declared = self._ranges.get(account)
            if declared is None:
                return None
            prefix, consecutive, last = declared
            if last is not None and consecutive > last:
                raise RangeExhausted(f"range {prefix} is used up at {last}")
            declared[1] += 1
            return prefix, consecutive

    def set_fault(
        self,
        mode: FaultMode,
        count: int | None = None,
        *,
        mix: dict[FaultMode, float] | None = None,
        seed: int | None = None,
    ) -> None:
        """`mix` maps modes to probabilities (summing to at most 1); `mode` takes the rest."""
        thresholds, total = [], 0.0
        for fault, share in (mix or {}).items():
            total += share
            thresholds.append((total, fault))
        if total > 1:
            raise ValueError("fault mix probabilities add up to more than 1")
        with self._lock:
            self._mode, self._remaining, self._mix = mode, count, thresholds
            self._random = random.Random(seed)

    def next_fault(self, request: Request | None = None) -> FaultMode:
        """The fault for this emission: the request's header wins, then the armed mode."""
        if request is not None:
            header = request.headers.get(FAULT_HEADER)
            if header:
                return header  # type: ignore[return-value]
        with self._lock:
            mode = self._mode
            if self._mix:
                draw = self._random.random()
                mode = next((fault for limit, fault in self._mix if draw < limit), mode)
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    self._mode, self._remaining = "ok", None
            return mode

    def issue(self, entry: LedgerEntry) -> None:
        with self._lock:
            self.ledger.append(entry)

    def issued(self, reference: str) -> LedgerEntry | None:
        with self._lock:
            return next((e for e in self.ledger if e.reference == reference), None)

    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self.ledger)

    def clear(self) -> None:
        with self._lock:
            self.ledger.clear()

    # Behaviour helpers for the emission handlers -------------------------------------------------

    def unavailable(self) -> Response:
        """down: 503 before taking the document."""
        return Response({"error": "service unavailable (simulated)"}, status_code=503)

    def refusal(self, mode: FaultMode, quota_body: Any = None) -> Response | None:
        """The answer of a fault that refuses an emission before the document is taken (down: 503,
        quota: 429 with `quota_body`, the provider's documented one); None: the handler goes on."""
        if mode == "down":
            return self.unavailable()
        if mode == "quota":
            return self.quota(quota_body)
        return None

    def quota(self, body: Any = None) -> Response:
        """quota: 429 with Retry-After."""
        return Response(
            body if body is not None else {"error": "quota exceeded (simulated)"},
            status_code=429,
            headers={"Retry-After": str(self.settings.retry_after_s)},
        )

    async def after_issue(self, mode: FaultMode) -> None:
        """slow / hang: the document is already issued; delay the answer. reset: drop the
        connection (TCP RST) so the client gets no answer at all."""
        if mode == "slow":
            await asyncio.sleep(self.settings.slow_s)
        elif mode == "hang":
            await asyncio.sleep(self.settings.hang_s)
        elif mode == "reset":
            transport = _connection.get()
            if transport is None:
                raise RuntimeError("reset needs the app wrapped in simulators.control.resettable")
            sock = transport.get_extra_info("socket")
            if sock is not None:  # linger 0: close() sends RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            await asyncio.sleep(0)  # let the server see the connection lost: the answer goes nowhere


def resettable(app: ASGIApp) -> ASGIApp:
    """Wrap a simulator app so the `reset` fault can reach the connection. uvicorn's `send` is a
    bound method of the request cycle, which holds the transport."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        token = _connection.set(transport)
        try:
            await app(scope, receive, send)
        finally:
            _connection.reset(token)

    return wrapped


def control_handlers(state: SimState) -> list[HTTPRouteHandler]:
    """The /_sim routes, bound to one simulator's state."""

    @post("/_sim/faults", status_code=200, sync_to_thread=False)
    def set_faults(data: JSONBody[FaultRequest]) -> dict[str, Any]:
        state.set_fault(data.mode, data.count, mix=data.mix, seed=data.seed)
        return {"mode": data.mode, "count": data.count, **({"mix": data.mix} if data.mix else {})}

    @get("/_sim/ledger", sync_to_thread=False)
    def read_ledger() -> list[LedgerEntry]:
        return state.entries()

    @delete("/_sim/ledger", status_code=204, sync_to_thread=False)
    def clear_ledger() -> None:
        state.clear()

    @post("/_sim/numbering", status_code=200, sync_to_thread=False)
    def declare_range(data: JSONBody[RangeDeclaration]) -> RangeDeclaration:
        state.declare_range(data)
        return data

    return [set_faults, read_ledger, clear_ledger, declare_range]
