"""What the store returns of a tenant's configuration: the tenant row, its API keys, and what the
administration API stored over the tenants file (accounts, numbering ranges, webhook endpoints).
Their JSON columns are decoded here, once, into the types the tenants file uses, and encoded here
from those types on writes (`columns`), so the shape of each column is known in one place
(gateway.tenants.tenancy composes the live tenant from them).

Fields are in the tables' column order (a record is built positionally from the row);
secrets stay sealed: only gateway.tenants.secrets opens them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from adapters.base import AccountRange, NumberingRange
from canonical.document import Issuer
from gateway.tenants.config import Dispatch
from gateway.tenants.routing import Route

_issuer: Final = msgspec.json.Decoder(Issuer).decode
_dispatch: Final = msgspec.json.Decoder(Dispatch).decode
_own_range: Final = msgspec.json.Decoder(AccountRange).decode
_definition: Final = msgspec.json.Decoder(NumberingRange).decode
_events: Final = msgspec.json.Decoder(list[str]).decode
_routes: Final = msgspec.json.Decoder(list[Route]).decode
_encode: Final = msgspec.json.Encoder().encode


class TenantRecord(msgspec.Struct):
    """A row of `tenants`; `issuer` and `dispatch` are set for tenants made through the API."""

    id: str
    name: str
    updated_at: float
    issuer: Issuer | None
    dispatch: Dispatch | None
    source: str  # file | api
    revision: int


class KeyGrant(msgspec.Struct):
    """What authenticating a request reads of its API key (on every request: four columns)."""

    tenant_id: str
    expires_at: float | None
    revoked_at: float | None
    revision: int


class KeyRecord(msgspec.Struct):
    """A row of `api_keys` (the key's digest, never the key)."""

    key_hash: str
    tenant_id: str
    key_id: str | None
    label: str | None
    prefix: str | None
    created_at: float | None
    expires_at: float | None
    revoked_at: float | None


class AccountRecord(msgspec.Struct):
    """A row of `accounts`; `credentials` stays sealed (or JSON of ${ENV} references)."""

    tenant_id: str
    name: str
    provider: str
    base_url: str
    environment: str
    credentials: str
    enabled: bool
    updated_at: float
    source: str  # file | api
    timeout_s: float | None
    transmitter_code: str | None
    own_range: AccountRange | None


class RangeRecord(msgspec.Struct):
    """A row of `numbering_ranges`: a range the API stored, maybe retired."""

    tenant_id: str
    name: str
    definition: NumberingRange
    retired: bool
    updated_at: float


class EndpointRecord(msgspec.Struct):
    """A row of `webhook_endpoints`; `secret` and `previous_secret` stay sealed."""

    id: str
    tenant_id: str
    url: str
    secret: str
    events: list[str]
    enabled: bool
    created_at: float
    updated_at: float
    previous_secret: str | None
    previous_until: float | None


def _decoded(row: Sequence[Any], decoders: dict[int, Any]) -> list[Any]:
    """The row's fields, its JSON columns decoded (an empty or NULL column: None)."""
    fields = list(row)
    for index, decode in decoders.items():
        fields[index] = decode(fields[index]) if fields[index] else None
    return fields


def _at(struct: type[msgspec.Struct], **decoders: Any) -> dict[int, Any]:
    return {struct.__struct_fields__.index(name): decode for name, decode in decoders.items()}


_TENANT: Final = _at(TenantRecord, issuer=_issuer, dispatch=_dispatch)
_ACCOUNT: Final = _at(AccountRecord, own_range=_own_range)
_RANGE: Final = _at(RangeRecord, definition=_definition)
_ENDPOINT: Final = _at(EndpointRecord, events=_events)


def tenant(row: Sequence[Any]) -> TenantRecord:
    return TenantRecord(*_decoded(row, _TENANT))


def key(row: Sequence[Any]) -> KeyRecord:
    return KeyRecord(*row)


def account(row: Sequence[Any]) -> AccountRecord:
    return AccountRecord(*_decoded(row, _ACCOUNT))


def numbering_range(row: Sequence[Any]) -> RangeRecord:
    return RangeRecord(*_decoded(row, _RANGE))


def endpoint(row: Sequence[Any]) -> EndpointRecord:
    return EndpointRecord(*_decoded(row, _ENDPOINT))


def routes(rules: str | None) -> list[Route] | None:
    """A `routing_rules.rules` column (None: NULL or empty)."""
    return _routes(rules) if rules else None


# The JSON columns of the configuration tables (their names are unique across them).
_JSON: Final = frozenset({"issuer", "dispatch", "own_range", "definition", "events", "rules"})


def columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` of a write with the typed JSON columns encoded (None stays NULL): callers pass
    the Issuer, Dispatch, AccountRange, NumberingRange, event list or Route list itself."""
    return {
        name: _encode(value).decode() if name in _JSON and value is not None else value
        for name, value in values.items()
    }
