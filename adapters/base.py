"""The adapter protocol (pinned in ARCHITECTURE.md): what every provider module implements.

Adapters are translators: canonical `Emission` in, provider payload out, provider answer back as an
`Outcome` or one of four failure classes. They never retry and never sleep: dispatch owns time.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import msgspec
from msgspec import Struct, field

from canonical.document import Document, Issuer
from canonical.totals import Totals

log = logging.getLogger(__name__)

Environment = Literal["test", "production"]
OutcomeStatus = Literal["accepted", "pending", "rejected", "not_found"]


class NumberingRange(Struct, kw_only=True):
    """A tenant's authorised numbering range (DIAN resolution) for some kinds."""

    name: str
    kinds: list[str]
    prefix: str = ""
    from_: int = field(name="from", default=1)
    to: int = 99_999_999
    resolution: str | None = None
    resolution_date: dt.date | None = None  # the buyer's copy prints it (DIAN: resolution number and date)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    technical_key: str | None = None


class AccountRange(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The DIAN range a provider that numbers itself uses for this account (set up in the
    provider's portal): its prefix, and its consecutives where known. Two self-numbering accounts
    of one chain must not share one: a fallback between them would issue one number twice."""

    prefix: str
    from_: int | None = field(name="from", default=None)
    to: int | None = None

    def overlaps(self, other: AccountRange) -> bool:
        """Same prefix and consecutives in common (an open bound reaches as far as it can)."""
        low = max(self.from_ or 0, other.from_ or 0)
        high = min(self.to if self.to is not None else 2**63, other.to if other.to is not None else 2**63)
        return self.prefix == other.prefix and low <= high


class Account(Struct, kw_only=True):
    """A tenant's account at one provider: what an adapter instance is built from."""

    name: str
    provider: str
    base_url: str
    environment: Environment = "test"
    # the adapter's Credentials Struct decodes it: mostly secrets, some per-account tables (Koywe)
    credentials: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 10.0
    transmitter_code: str | None = None  # SmartBill: the P### part of numeroControl
    contingency: bool = False  # Hacienda: issue in MH's contingency model while MH is unreachable
    enabled: bool = True
    range: AccountRange | None = None  # providers that number themselves: the range they use


class Emission(Struct, kw_only=True):
    """Everything an adapter needs to emit one document, identical across retries and fallbacks."""

    document: Document
    totals: Totals
    issuer: Issuer
    reference: str  # our stable document id: the same across retries, fallbacks and corrections
    number: str | None = None  # prefix + consecutive, where we number (DIAN, APIDIAN)
    consecutive: int | None = None
    numbering: NumberingRange | None = None
    environment: Environment = "test"
    deadline: dt.datetime | None = None
    fiscal_id: str | None = None  # set on a resend of a document that already has its CUFE


class ProviderError(Struct, kw_only=True):
    code: str
    message: str
    path: str | None = None  # canonical path, where the provider's error maps back to one


class Authority(Struct, kw_only=True, omit_defaults=True):
    """What the tax authority said (DIAN StatusCode/rules; MH selloRecibido/observaciones)."""

    code: str | None = None
    message: str | None = None
    seal: str | None = None
    errors: list[ProviderError] = field(default_factory=list)


class ProviderRef(Struct, kw_only=True, omit_defaults=True):
    """How to find an emitted document again at its provider."""

    provider_reference: str | None = None
    fiscal_id: str | None = None
    number: str | None = None
    issue_date: dt.date | None = None
    # the signed document as stored, where an operation restates it (MH invalidación, contingency)
    document: bytes | None = None


class Outcome(Struct, kw_only=True, omit_defaults=True):
    status: OutcomeStatus
    provider_reference: str | None = None
    number: str | None = None
    fiscal_id: str | None = None
    authority: Authority = field(default_factory=Authority)
    links: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    raw: Any = None  # the provider's response, secrets redacted
    xml: bytes | None = None  # the signed document, where the adapter built it (direct DIAN)

    @property
    def ref(self) -> ProviderRef:
        return ProviderRef(
            provider_reference=self.provider_reference, fiscal_id=self.fiscal_id, number=self.number
        )


class ProviderFailure(Exception):
    """Base of the four failure classes; keeps the provider's own words."""

    kind: ClassVar[str] = "failure"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: list[ProviderError] | None = None,
        retry_after: float | None = None,
        raw: Any = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.errors = errors or []
        self.retry_after = retry_after
        self.raw = raw
        self.http_status = http_status


class Unavailable(ProviderFailure):
    """The provider did not take the document: retry, then fall back."""

    kind = "unavailable"


class Rejected(ProviderFailure):
    """The provider or authority refused the data: stop, no fallback."""

    kind = "rejected"


class Ambiguous(ProviderFailure):
    """The document may have been taken (timeout after send, 500): reconcile before anything else."""

    kind = "ambiguous"


class Misconfigured(ProviderFailure):
    """Credentials, certificate, permissions or resolution are wrong: fall back and alert."""

    kind = "misconfigured"


class NotSearchable(Exception):
    """The provider offers no way to find this document again (no search route, or no reference to
    query by). Reconciliation then leaves an `unknown` document to an operator: never a guess."""


class UnsupportedIssue(Struct, kw_only=True):
    path: str
    rule: str
    message: str


class Unsupported(Exception):
    """Canonical content this provider cannot express faithfully: refused at preview and emit."""

    def __init__(self, issues: list[UnsupportedIssue]) -> None:
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))
        self.issues = issues


@runtime_checkable
class Adapter(Protocol):
    name: ClassVar[str]
    countries: ClassVar[frozenset[str]]
    kinds: ClassVar[frozenset[str]]
    numbering: ClassVar[Literal["ours", "provider"]]
    Credentials: ClassVar[type[msgspec.Struct]]

    def __init__(self, account: Account) -> None: ...
    def build_payload(self, emission: Emission) -> Any: ...
    async def emit(self, emission: Emission) -> Outcome: ...
    async def status(self, ref: ProviderRef) -> Outcome: ...
    async def find(self, emission: Emission) -> ProviderRef | None: ...
    async def fetch_xml(self, ref: ProviderRef) -> bytes | None: ...
    async def fetch_pdf(self, ref: ProviderRef) -> bytes | None: ...


def load_credentials(adapter: type[Adapter], account: Account) -> Any:
    """Decode an account's credentials into the adapter's Credentials Struct, or Misconfigured."""
    try:
        return msgspec.convert(account.credentials, adapter.Credentials)
    except msgspec.ValidationError as exc:
        raise Misconfigured(f"account {account.name!r} credentials: {exc}", code="credentials") from None


def unsupported_if(issues: list[UnsupportedIssue]) -> None:
    if issues:
        raise Unsupported(issues)


def money(value: Decimal) -> str:
    """Amounts on the wire are decimal strings; never floats."""
    return format(value, "f")


GROUP = "pasarela.adapters"
_registry: dict[str, type[Adapter]] = {}


def register(adapter: type[Adapter]) -> type[Adapter]:
    """Register an adapter class directly (tests, plugins loaded without packaging)."""
    _registry[adapter.name] = adapter
    return adapter


def adapter_class(name: str) -> type[Adapter]:
    if name not in _registry:
        for ep in entry_points(group=GROUP, name=name):
            _registry[name] = ep.load()
            break
        else:
            raise KeyError(f"no adapter named {name!r} (entry-point group {GROUP})")
    return _registry[name]


def adapter_classes() -> dict[str, type[Adapter]]:
    """Every installed adapter; one that fails to import is logged and left out, not fatal."""
    for ep in entry_points(group=GROUP):
        if ep.name not in _registry:
            try:
                _registry[ep.name] = ep.load()
            except Exception as exc:  # a third-party plugin must not take the gateway down
                log.warning("adapter %s failed to load: %s", ep.name, exc)
    return dict(sorted(_registry.items()))
