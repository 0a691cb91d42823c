"""The adapter contract (pinned in ARCHITECTURE.md): what every provider module implements.

Adapters are translators: canonical `Emission` in, provider payload out, provider answer back as an
`Outcome` or one of four failure classes. They never retry and never sleep: dispatch owns time.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, ClassVar, Final, Literal

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


def certificate_version(path: str) -> int:
    """The certificate file's modification time: loaders cache by (path, version, password), so a
    replaced file is read again. Misconfigured (never the password) when the file is unreadable."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError as exc:
        raise Misconfigured(f"certificate file not readable: {exc.strerror}", code="certificate") from None


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


class NotOffered(Exception):
    """The provider has no route for an optional capability (no invalidation, no range import).
    Callers ask `capabilities` first; a call that did not ask gets this typed error, not an
    AttributeError."""


class Health(Struct, kw_only=True):
    """What `pasarela tenants accounts test` shows of a successful health probe."""

    message: str
    detail: dict[str, str | int | float | bool | None] = field(default_factory=dict)


# A reference no provider holds: the default health probe asks its status (an answer, even "not
# found", means the provider let us in). Shaped like an SV codigoGeneracion.
PROBE_REFERENCE: Final = "00000000-0000-4000-8000-000000000000"

# The optional capabilities: an adapter has one when it overrides the base's method (computed, so
# the declaration cannot drift from the code). `capabilities` is the set; callers never use hasattr.
OPTIONAL: Final = ("invalidate", "fetch_xml", "fetch_pdf", "fetch_attached", "numbering_ranges")


class _Capabilities:
    """`Adapter.capabilities`, read on the class or an instance: the OPTIONAL methods the class
    overrides, asked each time (a method a plugin or test adds later counts at once)."""

    def __get__(self, instance: object, owner: type[Adapter]) -> frozenset[str]:
        return frozenset(m for m in OPTIONAL if getattr(owner, m) is not getattr(Adapter, m))


class Adapter(ABC):
    """The adapter contract (pinned in ARCHITECTURE.md): what every provider module implements.

    Required: the class attributes below, `build_payload`, `emit`, `status` and `find`. Everything
    else has a default here that says "not offered" in a way the gateway handles (None, an empty
    list, `NotOffered`), and `capabilities` names the optional methods a provider does implement.
    Refusals that follow from the declarations (country, kind, currency) are built once, by
    `adapters.capabilities.declared_refusals`; an adapter adds only its own (fiscal content it cannot
    carry). Adapters never retry or sleep: dispatch owns time.
    """

    name: ClassVar[str]  # the entry-point name, and the prefix of every rule code it raises
    countries: ClassVar[frozenset[str]]  # routing and refusals: which `Document.country` it issues
    kinds: ClassVar[frozenset[str]]  # which `Document.kind` it emits (see `emits` for notes)
    # None: whatever the country's own currency is; otherwise the only currencies it can state
    currencies: ClassVar[frozenset[str] | None] = None
    # the provider's own words for a declared refusal ("country", "kind", "currency"), where it has them
    refusals: ClassVar[Mapping[str, str]] = {}
    # "ours": the gateway takes the number from the tenant's range; "provider": the provider numbers
    numbering: ClassVar[Literal["ours", "provider"]]
    Credentials: ClassVar[type[msgspec.Struct]]  # decodes `Account.credentials` (load_credentials)
    health_probe: ClassVar[str] = "status"  # the call `health` makes, shown by `accounts test`
    capabilities: ClassVar[_Capabilities] = _Capabilities()  # the OPTIONAL methods it implements

    def __init__(self, account: Account) -> None:
        """Decode the credentials (Misconfigured when they do not fit) and send nothing: the runtime
        builds one instance per account and keeps it until the account changes."""
        self.account = account
        self.credentials: Any = load_credentials(type(self), account)

    @classmethod
    def emits(cls, document: Document) -> bool:
        """Whether the document's kind is one this provider emits. A Colombian note is of its
        document's family (DIAN 94 on a POS document, 95 on a support document): only a provider
        that emits the corrected document emits its notes. An adapter whose notes depend on the
        referenced kind in another way overrides this (APIDIAN)."""
        referenced = document.reference.kind if document.reference is not None else None
        return document.kind in cls.kinds and (
            document.country != "CO" or referenced in (None, "invoice") or referenced in cls.kinds
        )

    @abstractmethod
    def build_payload(self, emission: Emission) -> Any:
        """The exact payload `emit` would send, sending nothing: preview shows it and the contract
        goldens freeze it. Raises Unsupported (every issue at once) or Misconfigured."""

    def warnings(self, emission: Emission) -> list[str]:
        """Canonical content the provider has no field for and that is not fiscal, so it is dropped
        rather than refused. Preview shows them before sending; `emit` adds them to the Outcome."""
        return []

    @abstractmethod
    async def emit(self, emission: Emission) -> Outcome:
        """Send once. Raise one of the four failure classes; never retry (dispatch does). The same
        `emission.reference` may arrive again after an ambiguous failure: answer a duplicate with
        the document already held, never a second one."""

    @abstractmethod
    async def status(self, ref: ProviderRef) -> Outcome:
        """The document's state now (polling of `pending`, reconciliation); `not_found` when the
        provider does not know it."""

    @abstractmethod
    async def find(self, emission: Emission) -> ProviderRef | None:
        """Look for a document this emission may have created (after an ambiguous failure): None
        when there is none; raise NotSearchable when the provider cannot be searched."""

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        """The signed document (`GET /v1/documents/{id}/xml`); None when the provider has no route."""
        return None

    async def fetch_pdf(self, ref: ProviderRef) -> bytes | None:
        """The provider's printout (`GET /v1/documents/{id}/pdf`) where the gateway cannot print
        its own; None when the provider has no route."""
        return None

    async def fetch_attached(self, ref: ProviderRef) -> bytes | None:
        """DIAN's AttachedDocument (the signed invoice with DIAN's ApplicationResponse), which email
        delivery sends to the buyer; None when the provider cannot produce it."""
        return None

    async def invalidate(self, ref: ProviderRef, reason: str | None = None) -> Outcome:
        """Void an accepted document at the authority (El Salvador's invalidación), for `POST
        /v1/documents/{id}/void` where the country voids without a credit note."""
        raise NotOffered(f"{self.name} offers no invalidation route")

    async def numbering_ranges(self, issuer_nit: str) -> list[NumberingRange]:
        """The numbering ranges the authority authorised for this issuer (DIAN GetNumberingRange):
        imported by the admin API, and compared with the counters when `serve` starts."""
        raise NotOffered(f"{self.name} cannot list the authorised numbering ranges")

    async def health(self, issuer_nit: str) -> Health:
        """The cheapest call that needs the credentials, for `pasarela tenants accounts test` (the
        tenant's NIT, for providers that are asked per issuer). By
        default the status of a reference nobody holds: a refusal of it still proves the provider
        took the credentials, while a 401/403 raises Misconfigured."""
        try:
            await self.status(ProviderRef(provider_reference=PROBE_REFERENCE, fiscal_id=PROBE_REFERENCE))
        except Rejected as exc:
            return Health(message=f"the provider refused the probe reference: {exc.message}")
        return Health(message="the provider answered a status call with these credentials")

    def check_offline(self) -> None:
        """`pasarela tenants check`: open what this adapter signs with (certificate, key) and raise
        Misconfigured when it cannot, so a wrong password shows before the first invoice."""
        return None

    def certificate_expiry(self) -> dt.datetime | None:
        """When the certificate it signs with expires (an alert 30 days before); None if it signs
        with none of the tenant's."""
        return None

    async def aclose(self) -> None:
        """Release connections; called when the account changes and when the gateway stops."""
        return None


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
