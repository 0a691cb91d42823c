"""Preview: the payload each eligible account would receive, with `unsupported` errors, sending
nothing. Used by `POST /v1/documents/preview`, by the emit pre-flight and by `pasarela preview`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec import Struct, field

from adapters.base import (
    Account,
    Adapter,
    Emission,
    ProviderFailure,
    Unsupported,
    UnsupportedIssue,
    adapter_class,
)
from canonical.document import Document
from canonical.totals import Totals
from gateway.documents.numbering import NumberingError, range_for
from gateway.tenants.config import Tenant, load_config
from gateway.tenants.routing import can_emit


class AccountPreview(Struct, kw_only=True, omit_defaults=True):
    account: str
    provider: str
    payload: Any = None
    number: str | None = None  # the number it would get (the next one of the range; not taken)
    unsupported: list[UnsupportedIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # content dropped, not fiscal (ARCHITECTURE.md)
    error: str | None = None  # the account cannot be used (credentials, certificate)


def _payload_json(payload: Any) -> Any:
    """XML payloads (direct DIAN) are shown as text."""
    return payload.decode() if isinstance(payload, bytes) else payload


def account_preview(
    adapter_for: Callable[[Account], Adapter],
    tenant: Tenant,
    account: Account,
    document: Document,
    totals: Totals,
    next_consecutive: Callable[[Any], int] | None = None,
    reference: str = "preview",
) -> AccountPreview:
    result = AccountPreview(account=account.name, provider=account.provider)
    try:
        adapter = adapter_for(account)
    except ProviderFailure as exc:
        result.error = exc.message
        return result
    numbering = consecutive = None
    if adapter.numbering == "ours":
        try:
            numbering = range_for(tenant.numbering, document.kind, document.issue_date)  # type: ignore[arg-type]
        except NumberingError as exc:
            result.error = exc.message
            return result
        consecutive = next_consecutive(numbering) if next_consecutive else numbering.from_
        result.number = f"{numbering.prefix}{consecutive}"
    emission = Emission(
        document=document,
        totals=totals,
        issuer=tenant.issuer,
        reference=reference,
        number=result.number,
        consecutive=consecutive,
        numbering=numbering,
        environment=account.environment,
    )
    try:
        result.payload = _payload_json(adapter.build_payload(emission))
    except Unsupported as exc:
        result.unsupported = exc.issues
    except ProviderFailure as exc:
        result.error = exc.message
    result.warnings = adapter.warnings(emission)
    return result


def eligible(tenant: Tenant, document: Document, provider: str | None) -> list[Account]:
    if provider is not None:
        return [a for a in tenant.accounts if a.name == provider]
    return [a for a in tenant.accounts if can_emit(a, document)]


def payloads_for(
    config_path: str, tenant_id: str | None, document: Document, totals: Totals, provider: str | None
) -> list[AccountPreview]:
    """Offline (the CLI): no store, so `number` shows the range's first number."""
    config = load_config(config_path)
    tenant = (
        config.tenant(tenant_id) if tenant_id else (config.tenants[0] if len(config.tenants) == 1 else None)
    )
    if tenant is None:
        raise SystemExit(f"pasarela preview: name a tenant with --tenant ({[t.id for t in config.tenants]})")
    if provider is not None and tenant.account(provider) is None:
        names = [a.name for a in tenant.accounts]
        raise SystemExit(
            f"pasarela preview: tenant {tenant.id} has no account {provider!r} (accounts: {names})"
        )
    return [
        account_preview(lambda a: adapter_class(a.provider)(a), tenant, account, document, totals)
        for account in eligible(tenant, document, provider)
    ]
