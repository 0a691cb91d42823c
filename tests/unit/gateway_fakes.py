"""An in-process fake provider for the gateway tests: scripted answers per account, a ledger of
what it "issued", search and status like a real provider.

`FakeSelfNumbering` ("fake") numbers documents itself; `FakeOurNumbering` ("fakeours") takes the
gateway's number. Each account has a `FakeBook` (by account name) holding the script of the next
emissions and the ledger; tests arm it with `book(name).script = ["down", "ok"]`.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import msgspec

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Misconfigured,
    NotSearchable,
    Outcome,
    ProviderError,
    ProviderRef,
    Rejected,
    Unavailable,
    Unsupported,
    UnsupportedIssue,
    register,
)

# ok: accepted at once; pending: accepted after `pending_polls` status calls; reject: 422;
# down: 503 before taking it; quota: 429 + Retry-After; misconfigured: 401;
# timeout: issued, then no answer (Ambiguous); lost: no answer and NOT issued (Ambiguous);
# crash: issued, then the call never returns (the test kills the process).
Behaviour = Literal["ok", "pending", "reject", "down", "quota", "misconfigured", "timeout", "lost", "hang"]


@dataclass
class FakeBook:
    script: list[str] = field(default_factory=list)
    ledger: dict[str, Outcome] = field(default_factory=dict)  # our reference → what was issued
    emits: int = 0
    status_calls: int = 0
    pending_polls: int = 1
    unlisted_polls: int = (
        0  # status calls answered "not found" although it holds it (DIAN 66 while processing)
    )
    status_refused: bool = False  # status queries answered 4xx (a proxy's 404, a revoked read scope)
    searchable: bool = True
    retry_after: float | None = None
    hang_s: float = 30.0
    unsupported_paths: list[str] = field(default_factory=list)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def issued(self) -> list[Outcome]:
        return list(self.ledger.values())


BOOKS: dict[str, FakeBook] = {}


def book(account: str) -> FakeBook:
    return BOOKS.setdefault(account, FakeBook())


def reset() -> None:
    BOOKS.clear()


class FakeCredentials(msgspec.Struct):
    token: str


class FakeSelfNumbering(Adapter):
    name: ClassVar[str] = "fake"
    countries: ClassVar[frozenset[str]] = frozenset({"CO", "SV"})
    kinds: ClassVar[frozenset[str]] = frozenset({"invoice", "credit_note", "debit_note"})
    numbering: ClassVar[Literal["ours", "provider"]] = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = FakeCredentials

    def __init__(self, account: Account) -> None:
        self.account = account
        if account.credentials.get("token") == "expired":
            raise Misconfigured("token expired", code="auth")

    @property
    def book(self) -> FakeBook:
        return book(self.account.name)

    def build_payload(self, emission: Emission) -> Any:
        if self.book.unsupported_paths:
            raise Unsupported(
                [
                    UnsupportedIssue(path=p, rule="fake-unsupported", message="cannot express")
                    for p in self.book.unsupported_paths
                ]
            )
        return {
            "reference": emission.reference,
            "number": emission.number,
            "payable": str(emission.totals.payable),
            "customer": emission.document.customer.id_number if emission.document.customer else None,
        }

    def warnings(self, emission: Emission) -> list[str]:
        return ["metadata: the fake has no metadata field; not sent"] if emission.document.metadata else []

    def _issue(self, emission: Emission, status: str = "accepted") -> Outcome:
        existing = self.book.ledger.get(emission.reference)
        if existing is not None:  # a real provider would refuse a duplicate reference
            raise Rejected("duplicate reference", code="duplicate")
        n = next(self.book.numbers)
        number = emission.number if self.numbering == "ours" else f"F{n}"
        outcome = Outcome(
            status=status,  # type: ignore[arg-type]
            provider_reference=f"{self.account.name}-{n}",
            number=number,
            fiscal_id=f"fiscal-{self.account.name}-{n}",
        )
        self.book.ledger[emission.reference] = outcome
        return outcome

    async def emit(self, emission: Emission) -> Outcome:
        self.build_payload(emission)
        b = self.book
        b.emits += 1
        behaviour = b.script.pop(0) if b.script else "ok"
        if behaviour == "ok":
            return self._issue(emission)
        if behaviour == "pending":
            return self._issue(emission, "pending")
        if behaviour == "reject":
            raise Rejected(
                "validation failed",
                code="422",
                errors=[ProviderError(code="FAD06", message="NIT del adquiriente no válido")],
                http_status=422,
            )
        if behaviour == "down":
            raise Unavailable("503 service unavailable", http_status=503)
        if behaviour == "quota":
            raise Unavailable("429 quota", http_status=429, retry_after=b.retry_after)
        if behaviour == "misconfigured":
            raise Misconfigured("401 bad token", http_status=401)
        if behaviour == "timeout":
            self._issue(emission)
            raise Ambiguous("read timeout after sending", code="timeout")
        if behaviour == "lost":
            raise Ambiguous("connection reset after sending", code="timeout")
        if behaviour == "hang":
            self._issue(emission)
            await asyncio.sleep(b.hang_s)
            raise Ambiguous("hung", code="timeout")
        raise AssertionError(behaviour)

    async def status(self, ref: ProviderRef) -> Outcome:
        b = self.book
        b.status_calls += 1
        if b.status_refused:
            raise Rejected("404 Not Found", http_status=404)
        if b.status_calls <= b.unlisted_polls:
            return Outcome(status="not_found")
        for outcome in b.ledger.values():
            if ref.provider_reference and outcome.provider_reference == ref.provider_reference:
                break
            if ref.fiscal_id and outcome.fiscal_id == ref.fiscal_id:
                break
            if self.numbering == "ours" and ref.number and outcome.number == ref.number:
                break
        else:
            return Outcome(status="not_found")
        if outcome.status == "pending" and b.status_calls > b.pending_polls:
            outcome.status = "accepted"
            outcome.authority = Authority(code="00", message="aceptado")
        return msgspec.structs.replace(outcome)

    async def find(self, emission: Emission) -> ProviderRef | None:
        if not self.book.searchable:
            raise NotSearchable
        outcome = self.book.ledger.get(emission.reference)
        return outcome.ref if outcome else None

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        return f"<Invoice><ID>{ref.number}</ID></Invoice>".encode()


class FakeOurNumbering(FakeSelfNumbering):
    name: ClassVar[str] = "fakeours"
    numbering: ClassVar[Literal["ours", "provider"]] = "ours"

    async def find(self, emission: Emission) -> ProviderRef | None:
        raise NotSearchable  # like DIAN: asked by number/CUFE, never searched

    async def fetch_attached(self, ref: ProviderRef) -> bytes | None:
        return f"<AttachedDocument><ID>{ref.number}</ID></AttachedDocument>".encode()


def install() -> None:
    register(FakeSelfNumbering)
    register(FakeOurNumbering)


install()
