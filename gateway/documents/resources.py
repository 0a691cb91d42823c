"""What the API answers (ARCHITECTURE.md, document resource): store rows → msgspec Structs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import msgspec
from msgspec import Struct, field

from adapters.base import Authority, ProviderRef
from canonical.totals import Totals
from gateway.store.records import AttemptRecord, DocumentRecord

DocumentStatus = Literal["queued", "pending", "accepted", "rejected", "unknown", "failed"]


class AttemptView(Struct, kw_only=True, omit_defaults=True):
    account: str
    provider: str
    outcome: str
    at: dt.datetime
    error: str | None = None
    latency_ms: int | None = None


class Delivery(Struct, kw_only=True):
    """The buyer's copy sent by e-mail (direct DIAN, tenants with `[tenants.email]`)."""

    status: Literal["pending", "delivered", "failed"]
    to: list[str]
    at: dt.datetime | None = None  # when it was delivered, or last tried
    error: str | None = None  # the SMTP server's answer of the last failed try


class DocumentResource(Struct, kw_only=True):
    """One fiscal document as the gateway knows it."""

    id: str
    status: DocumentStatus
    country: str
    kind: str
    number: str | None
    account: str | None
    provider: str | None
    provider_reference: str | None
    fiscal_id: str | None
    authority: Authority
    totals: Totals
    attempts: list[AttemptView]
    warnings: list[str]
    links: dict[str, str]
    needs_attention: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    voided_by: str | None = None  # CO: the annulling credit note's id; SV: "invalidation"
    voids: str | None = None  # on an annulling credit note: the document it voids
    delivery: Delivery | None = None  # the buyer's copy by e-mail, where the gateway sends it


class DocumentPage(Struct, kw_only=True):
    items: list[DocumentResource]
    next_cursor: str | None = None


def timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


_totals_decoder = msgspec.json.Decoder(Totals)
_authority_decoder = msgspec.json.Decoder(Authority)
_delivery_decoder = msgspec.json.Decoder(Delivery)


def document_resource(row: DocumentRecord, attempts: Sequence[AttemptRecord] = ()) -> DocumentResource:
    return DocumentResource(
        id=row.id,
        status=row.status,
        country=row.country,
        kind=row.kind,
        number=row.number,
        account=row.account,
        provider=row.provider,
        provider_reference=row.provider_reference,
        fiscal_id=row.fiscal_id,
        authority=_authority_decoder.decode(row.authority) if row.authority else Authority(),
        totals=_totals_decoder.decode(row.totals),
        attempts=[
            AttemptView(
                account=a.account,
                provider=a.provider,
                outcome=a.outcome,
                error=a.error,
                latency_ms=a.latency_ms,
                at=timestamp(a.at),
            )
            for a in attempts
        ],
        warnings=row.warnings,
        links=row.links,
        needs_attention=bool(row.needs_attention),
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
        voided_by=getattr(row, "voided_by", None),
        voids=getattr(row, "voids", None),
        delivery=_delivery_decoder.decode(row.delivery) if getattr(row, "delivery", None) else None,
    )


class ProviderAccountView(Struct, kw_only=True):
    account: str
    provider: str
    environment: str
    enabled: bool
    installed: bool
    countries: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    numbering: str | None = None
    circuit: str = "closed"


def provider_ref(row: DocumentRecord) -> ProviderRef:
    return ProviderRef(
        provider_reference=row.provider_reference,
        fiscal_id=row.fiscal_id,
        number=row.number,
        issue_date=dt.date.fromisoformat(row.issue_date) if row.issue_date else None,
        document=row.xml,  # what we signed (a Hacienda contingency DTE is transmitted from it)
    )
