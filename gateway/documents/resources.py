"""What the API answers (ARCHITECTURE.md, document resource): store rows → msgspec Structs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from msgspec import Struct, field

from adapters.base import Authority, ProviderRef
from canonical.totals import Totals
from gateway.store.records import (
    AttemptRecord,
    Delivery,
    DocumentRecord,
    authority_of,
    delivery_of,
    totals_of,
)

DocumentStatus = Literal["queued", "pending", "accepted", "rejected", "unknown", "failed"]


class AttemptView(Struct, kw_only=True, omit_defaults=True):
    account: str
    provider: str
    outcome: str
    at: dt.datetime
    error: str | None = None
    latency_ms: int | None = None


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
        authority=authority_of(row),
        totals=totals_of(row),
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
        needs_attention=row.needs_attention,
        created_at=timestamp(row.created_at),
        updated_at=timestamp(row.updated_at),
        voided_by=row.voided_by,
        voids=row.voids,
        delivery=delivery_of(row),
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
