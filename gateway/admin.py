"""Tenant administration without editing files or restarting: API keys, provider accounts,
numbering ranges, webhook endpoints; and, with the separate admin key, tenants themselves.

Every change is one store transaction that also bumps the tenant's revision (gateway.tenancy), then
this process reloads the tenant at once and the others on their next request. Secrets are revealed
once (a new API key, a new webhook secret) and otherwise never leave: API keys are stored as
SHA-256 digests; provider credentials and webhook secrets are sealed with the server secret key
(`PASARELA_SECRET_KEY`, Fernet) and answered only as the names of their fields.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
import sqlalchemy as sa
from msgspec import Struct, field
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import (
    Account,
    Environment,
    Misconfigured,
    NumberingRange,
    ProviderFailure,
    ProviderRef,
    adapter_class,
    load_credentials,
)
from canonical.document import Issuer
from gateway import alerts, numbering, tenancy
from gateway.auth import key_hash
from gateway.config import WEBHOOK_EVENTS, Dispatch, Tenant
from gateway.resources import timestamp
from gateway.runtime import Runtime
from gateway.secrets import seal
from gateway.store import jobs
from gateway.store.schema import (
    accounts,
    admin_keys,
    api_keys,
    numbering_counters,
    numbering_ranges,
    routing_rules,
    tenants,
    webhook_deliveries,
    webhook_endpoints,
)

TENANT_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
DEFAULT_OVERLAP_S: Final = 3600.0  # a rotated key keeps working this long, so clients can switch
# A reference no provider holds: a status call with it proves the credentials (an answer, even
# "not found", means the provider let us in). Shaped like an SV codigoGeneracion.
PROBE_REFERENCE: Final = "00000000-0000-4000-8000-000000000000"
_encoder = msgspec.json.Encoder()


class AdminRefusal(Exception):
    """A request the administration API refuses: `status` (404, 409, 422) and a stable `rule`."""

    def __init__(self, status: int, rule: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.status, self.rule, self.message, self.path = status, rule, message, path


# -- views and requests (secrets only in the *Revealed views, answered once) ------------------------


class ApiKeyRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    label: str | None = None
    expires_in_s: float | None = None


class RotateRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    overlap_s: float = DEFAULT_OVERLAP_S  # how long the old key keeps working


class ApiKeyView(Struct, kw_only=True):
    id: str
    label: str | None
    prefix: str | None  # the key's first characters, to tell keys apart
    active: bool
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class ApiKeyRevealed(ApiKeyView, kw_only=True):
    key: str  # shown once: only its SHA-256 is stored


class AccountRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    provider: str
    base_url: str
    environment: Environment = "test"
    credentials: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    transmitter_code: str | None = None
    enabled: bool = True


class AccountPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields given change; `credentials` are merged over the current ones."""

    base_url: str | None = None
    environment: Environment | None = None
    credentials: dict[str, str] | None = None
    timeout_s: float | None = None
    transmitter_code: str | None = None
    enabled: bool | None = None


class AccountView(Struct, kw_only=True):
    name: str
    provider: str
    base_url: str
    environment: str
    enabled: bool
    timeout_s: float
    transmitter_code: str | None
    credential_fields: list[str]  # names only: values never leave the gateway
    source: str  # file | api


class AccountTest(Struct, kw_only=True):
    account: str
    provider: str
    ok: bool
    outcome: str  # ok | misconfigured | unavailable | rejected
    probe: str  # which call was made
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class RangeView(Struct, kw_only=True):
    range: NumberingRange
    next: int
    used: int
    remaining: int
    retired: bool
    source: str


class ImportRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    account: str  # a direct-DIAN account: GetNumberingRange with its software


class WebhookRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    events: list[str] = field(default_factory=lambda: sorted(WEBHOOK_EVENTS))


class WebhookView(Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    source: str


class WebhookRevealed(WebhookView, kw_only=True):
    secret: str  # shown once (Standard Webhooks `whsec_` key)


class DeliveryView(Struct, kw_only=True):
    id: str
    event_id: str
    event_type: str
    url: str
    state: str
    tries: int
    last_status: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class TenantRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    issuer: Issuer
    dispatch: Dispatch = field(default_factory=Dispatch)


class TenantView(Struct, kw_only=True):
    id: str
    name: str
    country: str
    source: str


class TenantCreated(TenantView, kw_only=True):
    api_key: ApiKeyRevealed


# -- helpers -------------------------------------------------------------------------------------------


def _insert(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def new_api_key() -> str:
    return "psk_" + secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def file_webhook_id(url: str) -> str:
    return "wh_" + key_hash(url)[:16]


def _key_view(row: Any, now: float, key_id: str) -> ApiKeyView:
    active = row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    return ApiKeyView(
        id=key_id,
        label=row.label,
        prefix=row.prefix,
        active=active,
        created_at=timestamp(row.created_at) if row.created_at else None,
        expires_at=timestamp(row.expires_at) if row.expires_at else None,
        revoked_at=timestamp(row.revoked_at) if row.revoked_at else None,
    )


def _account_view(account: Account, source: str) -> AccountView:
    return AccountView(
        name=account.name,
        provider=account.provider,
        base_url=account.base_url,
        environment=account.environment,
        enabled=account.enabled,
        timeout_s=account.timeout_s,
        transmitter_code=account.transmitter_code,
        credential_fields=sorted(account.credentials),
        source=source,
    )


def _check_account(tenant: Tenant, account: Account) -> None:
    """The tenants file's checks, for one account, plus its credentials' shape."""
    try:
        adapter = adapter_class(account.provider)
    except (KeyError, ImportError):
        raise AdminRefusal(
            422, "account-provider-unknown", f"adapter {account.provider!r} is not installed", "provider"
        ) from None
    if tenant.issuer.country not in adapter.countries:
        raise AdminRefusal(
            422,
            "account-country",
            f"{account.provider} serves {sorted(adapter.countries)}, not {tenant.issuer.country}",
            "provider",
        )
    if not account.base_url.startswith(("http://", "https://")):
        raise AdminRefusal(422, "account-base-url", "base_url must be an http(s) URL", "base_url")
    if account.timeout_s <= 0:
        raise AdminRefusal(422, "account-timeout", "timeout_s must be > 0", "timeout_s")
    try:
        load_credentials(adapter, account)  # type: ignore[arg-type]
    except Misconfigured as exc:
        raise AdminRefusal(422, "account-credentials", exc.message, "credentials") from None


def _check_range(r: NumberingRange) -> None:
    if not r.name:
        raise AdminRefusal(422, "numbering-name", "a range needs a name", "name")
    if r.from_ < 0 or r.to < r.from_:
        raise AdminRefusal(
            422, "numbering-bounds", f"`from` ({r.from_}) must be >= 0 and <= `to` ({r.to})", "from"
        )
    if r.valid_from and r.valid_to and r.valid_to < r.valid_from:
        raise AdminRefusal(422, "numbering-dates", "valid_to is before valid_from", "valid_to")
    if not r.kinds:
        raise AdminRefusal(422, "numbering-kinds", "name at least one kind", "kinds")


# Which call proves an account works, by what the adapter offers (first match wins); otherwise a
# status call for a reference nobody holds.
PROBES: Final[tuple[tuple[str, Callable[[Any, Tenant], Awaitable[Any]]], ...]] = (
    ("health", lambda adapter, tenant: adapter.health()),  # FacEPro GET /me
    ("numbering_ranges", lambda adapter, tenant: adapter.numbering_ranges(tenant.issuer.id_number)),  # DIAN
    ("token", lambda adapter, tenant: adapter.token()),  # Koywe: authenticate
)


def _probe_detail(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if isinstance(v, str | int | float | bool | None)}
    if isinstance(result, list):
        return {"items": len(result)}
    return {}


class AdminService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def _commit(
        self, tenant_id: str, change: Callable[[AsyncConnection, float], Awaitable[Any]]
    ) -> Any:
        """One transaction: the change and the revision bump; then this process reloads."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            result = await change(conn, now)
            await tenancy.bump(conn, tenant_id, now)
        await tenancy.reload(self.rt, tenant_id)
        return result

    def _secret_key(self) -> str:
        key = self.rt.config.server.secret_key
        if not key:
            raise AdminRefusal(
                409,
                "secret-key-missing",
                "secrets are stored sealed: start the gateway with PASARELA_SECRET_KEY",
            )
        return key

    # -- API keys ---------------------------------------------------------------------------------

    async def list_keys(self, tenant: Tenant) -> list[ApiKeyView]:
        async with self.rt.reader.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(api_keys)
                    .where(api_keys.c.tenant_id == tenant.id)
                    .order_by(api_keys.c.created_at)
                )
            ).all()
        now = self.rt.clock()
        return [_key_view(r, now, r.key_id or "key_" + r.key_hash[:16]) for r in rows]

    async def _key_row(self, conn: AsyncConnection, tenant: Tenant, key_id: str) -> Any:
        query = sa.select(api_keys).where(api_keys.c.tenant_id == tenant.id)
        if key_id.startswith("key_") and len(key_id) == 20:  # a file key: its id is its digest's start
            query = query.where(
                sa.or_(api_keys.c.key_id == key_id, api_keys.c.key_hash.like(key_id[4:] + "%"))
            )
        else:
            query = query.where(api_keys.c.key_id == key_id)
        row = (await conn.execute(query)).first()
        if row is None:
            raise AdminRefusal(404, "api-key-unknown", f"no API key {key_id!r} for this tenant")
        return row

    async def _insert_key(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        label: str | None,
        now: float,
        expires_at: float | None = None,
    ) -> ApiKeyRevealed:
        key = new_api_key()
        key_id = "key_" + secrets.token_hex(10)
        await conn.execute(
            api_keys.insert().values(
                key_hash=key_hash(key),
                tenant_id=tenant_id,
                key_id=key_id,
                label=label,
                prefix=key[:10],
                created_at=now,
                expires_at=expires_at,
            )
        )
        return ApiKeyRevealed(
            id=key_id,
            label=label,
            prefix=key[:10],
            active=True,
            created_at=timestamp(now),
            expires_at=timestamp(expires_at) if expires_at else None,
            key=key,
        )

    async def create_key(self, tenant: Tenant, request: ApiKeyRequest) -> ApiKeyRevealed:
        async def change(conn: AsyncConnection, now: float) -> ApiKeyRevealed:
            expires = now + request.expires_in_s if request.expires_in_s else None
            return await self._insert_key(conn, tenant.id, request.label, now, expires)

        return await self._commit(tenant.id, change)

    async def revoke_key(self, tenant: Tenant, key_id: str) -> ApiKeyView:
        async def change(conn: AsyncConnection, now: float) -> ApiKeyView:
            row = await self._key_row(conn, tenant, key_id)
            await conn.execute(
                api_keys.update()
                .where(api_keys.c.key_hash == row.key_hash)
                .values(revoked_at=row.revoked_at or now)
            )
            row = await self._key_row(conn, tenant, key_id)
            return _key_view(row, now, key_id)

        return await self._commit(tenant.id, change)

    async def rotate_key(self, tenant: Tenant, key_id: str, request: RotateRequest) -> ApiKeyRevealed:
        """A new key now; the old one keeps working for `overlap_s`, then stops."""
        if request.overlap_s < 0:
            raise AdminRefusal(422, "api-key-overlap", "overlap_s must be >= 0", "overlap_s")

        async def change(conn: AsyncConnection, now: float) -> ApiKeyRevealed:
            old = await self._key_row(conn, tenant, key_id)
            if old.revoked_at is not None:
                raise AdminRefusal(409, "api-key-revoked", f"API key {key_id!r} is revoked")
            ends = now + request.overlap_s
            if old.expires_at is not None:
                ends = min(ends, old.expires_at)
            await conn.execute(
                api_keys.update().where(api_keys.c.key_hash == old.key_hash).values(expires_at=ends)
            )
            return await self._insert_key(conn, tenant.id, old.label, now)

        return await self._commit(tenant.id, change)

    # -- provider accounts ---------------------------------------------------------------------------

    async def _sources(self, tenant_id: str) -> dict[str, str]:
        async with self.rt.reader.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(accounts.c.name, accounts.c.source).where(accounts.c.tenant_id == tenant_id)
                )
            ).all()
        return {name: source for name, source in rows}

    async def list_accounts(self, tenant: Tenant) -> list[AccountView]:
        sources = await self._sources(tenant.id)
        return [_account_view(a, sources.get(a.name, "file")) for a in tenant.accounts]

    async def _store_account(self, tenant: Tenant, account: Account, *, sealed: bool) -> AccountView:
        credentials = seal(self._secret_key(), _encoder.encode(account.credentials)) if sealed else ""
        values = {
            "provider": account.provider,
            "base_url": account.base_url,
            "environment": account.environment,
            "credentials": credentials,
            "enabled": account.enabled,
            "timeout_s": account.timeout_s,
            "transmitter_code": account.transmitter_code,
            "source": "api",
        }

        async def change(conn: AsyncConnection, now: float) -> None:
            await conn.execute(
                _insert(conn)(accounts)
                .values(tenant_id=tenant.id, name=account.name, updated_at=now, **values)
                .on_conflict_do_update(
                    index_elements=["tenant_id", "name"], set_={**values, "updated_at": now}
                )
            )
            await alerts.clear(conn, tenant.id, "account.misconfigured", account.name, now)

        await self._commit(tenant.id, change)
        return _account_view(self.rt.tenants[tenant.id].account(account.name) or account, "api")

    async def create_account(self, tenant: Tenant, request: AccountRequest) -> AccountView:
        if tenant.account(request.name) is not None:
            raise AdminRefusal(409, "account-exists", f"account {request.name!r} exists; PATCH it", "name")
        self._secret_key()
        account = msgspec.convert(msgspec.to_builtins(request), Account)
        _check_account(tenant, account)
        return await self._store_account(tenant, account, sealed=True)

    async def update_account(self, tenant: Tenant, name: str, patch: AccountPatch) -> AccountView:
        current = tenant.account(name)
        if current is None:
            raise AdminRefusal(404, "account-unknown", f"no account {name!r} for this tenant")
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not None}
        if "credentials" in changes:
            changes["credentials"] = {**current.credentials, **changes["credentials"]}
        account = msgspec.structs.replace(current, **changes)
        _check_account(tenant, account)
        # without a secret key only `enabled` may change: the file then keeps the credentials
        sealed = bool(self.rt.config.server.secret_key) or set(changes) - {"enabled"} != set()
        return await self._store_account(tenant, account, sealed=sealed)

    async def test_account(self, tenant: Tenant, name: str) -> AccountTest:
        """Call the provider the cheapest way that needs the credentials; a 401/403 raises the
        `account.misconfigured` alert (once), a success clears it."""
        account = tenant.account(name)
        if account is None:
            raise AdminRefusal(404, "account-unknown", f"no account {name!r} for this tenant")
        probe = "status"
        result = AccountTest(account=name, provider=account.provider, ok=False, outcome="ok", probe=probe)
        try:
            adapter = self.rt.adapter(tenant.id, account)
            call = next(((p, c) for p, c in PROBES if hasattr(adapter, p)), None)
            if call is None:
                await adapter.status(
                    ProviderRef(provider_reference=PROBE_REFERENCE, fiscal_id=PROBE_REFERENCE)
                )
                result.message = "the provider answered a status call with these credentials"
            else:
                result.probe = call[0]
                result.detail = _probe_detail(await call[1](adapter, tenant))
                result.message = f"{call[0]} answered"
            result.ok = True
        except ProviderFailure as exc:
            result.outcome, result.message = exc.kind, exc.message
            # a refusal of the unknown probe reference still proves the credentials were taken
            result.ok = exc.kind == "rejected" and result.probe == "status"
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            if result.outcome == "misconfigured":
                await alerts.raise_alert(
                    conn,
                    tenant,
                    "account.misconfigured",
                    name,
                    alerts.misconfigured_data(account, result.message, "test"),
                    now,
                )
            elif result.ok:
                await alerts.clear(conn, tenant.id, "account.misconfigured", name, now)
        return result

    # -- numbering ranges ----------------------------------------------------------------------------

    async def list_ranges(self, tenant: Tenant) -> list[RangeView]:
        async with self.rt.reader.connect() as conn:
            stored = {
                r.name: r
                for r in (
                    await conn.execute(
                        sa.select(numbering_ranges).where(numbering_ranges.c.tenant_id == tenant.id)
                    )
                ).all()
            }
            counters = dict(
                (
                    await conn.execute(
                        sa.select(numbering_counters.c.range_name, numbering_counters.c.next_value).where(
                            numbering_counters.c.tenant_id == tenant.id
                        )
                    )
                ).all()
            )
        views = []
        for r in tenant.numbering:
            row = stored.get(r.name)
            definition = msgspec.json.decode(row.definition, type=NumberingRange) if row else r
            next_value = int(counters.get(r.name, r.from_))
            views.append(
                RangeView(
                    range=definition,
                    next=next_value,
                    used=max(0, next_value - definition.from_),
                    remaining=max(0, definition.to - next_value + 1),
                    retired=bool(row.retired) if row else False,
                    source="api" if row else "file",
                )
            )
        return views

    async def _store_ranges(
        self, tenant: Tenant, ranges: list[NumberingRange], *, retired: bool = False
    ) -> None:
        async def change(conn: AsyncConnection, now: float) -> None:
            for r in ranges:
                values = {"definition": _encoder.encode(r).decode(), "retired": retired, "updated_at": now}
                await conn.execute(
                    _insert(conn)(numbering_ranges)
                    .values(tenant_id=tenant.id, name=r.name, **values)
                    .on_conflict_do_update(index_elements=["tenant_id", "name"], set_=values)
                )
            await numbering.seed(conn, tenant.id, ranges)

        await self._commit(tenant.id, change)

    async def create_range(self, tenant: Tenant, r: NumberingRange) -> RangeView:
        _check_range(r)
        if any(existing.name == r.name for existing in tenant.numbering):
            raise AdminRefusal(
                409, "numbering-exists", f"range {r.name!r} exists (ranges are retired, not edited)", "name"
            )
        await self._store_ranges(tenant, [r])
        return next(v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name == r.name)

    async def retire_range(self, tenant: Tenant, name: str) -> RangeView:
        views = {v.range.name: v for v in await self.list_ranges(tenant)}
        if name not in views:
            raise AdminRefusal(404, "numbering-unknown", f"no numbering range {name!r} for this tenant")
        await self._store_ranges(tenant, [views[name].range], retired=True)
        return next(v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name == name)

    async def import_ranges(self, tenant: Tenant, request: ImportRequest) -> list[RangeView]:
        """DIAN's GetNumberingRange for a direct-DIAN account: the ranges DIAN authorised, with their
        technical keys (which the CUFE needs and nobody should type by hand)."""
        account = tenant.account(request.account)
        if account is None:
            raise AdminRefusal(
                404, "account-unknown", f"no account {request.account!r} for this tenant", "account"
            )
        adapter = self.rt.adapter(tenant.id, account)
        if not hasattr(adapter, "numbering_ranges"):
            raise AdminRefusal(
                422, "numbering-import-unsupported", f"{account.provider} has no GetNumberingRange", "account"
            )
        try:
            ranges: list[NumberingRange] = await adapter.numbering_ranges(tenant.issuer.id_number)
        except ProviderFailure as exc:
            raise AdminRefusal(
                409 if exc.kind == "misconfigured" else 502, f"numbering-import-{exc.kind}", exc.message
            ) from None
        existing = {r.name for r in tenant.numbering}
        fresh = [r for r in ranges if r.name and r.name not in existing]
        if fresh:
            await self._store_ranges(tenant, fresh)
        names = {r.name for r in ranges}
        return [v for v in await self.list_ranges(self.rt.tenants[tenant.id]) if v.range.name in names]

    # -- webhooks ------------------------------------------------------------------------------------

    async def list_webhooks(self, tenant: Tenant) -> list[WebhookView]:
        async with self.rt.reader.connect() as conn:
            stored = {
                r.url: r.id
                for r in (
                    await conn.execute(
                        sa.select(webhook_endpoints.c.url, webhook_endpoints.c.id).where(
                            webhook_endpoints.c.tenant_id == tenant.id, webhook_endpoints.c.enabled.is_(True)
                        )
                    )
                ).all()
            }
        return [
            WebhookView(
                id=stored.get(h.url, file_webhook_id(h.url)),
                url=h.url,
                events=list(h.events),
                source="api" if h.url in stored else "file",
            )
            for h in tenant.webhooks
        ]

    async def _store_webhook(
        self, tenant: Tenant, url: str, events: list[str], *, enabled: bool = True
    ) -> WebhookRevealed:
        secret_key = self._secret_key()
        secret = new_webhook_secret()

        async def change(conn: AsyncConnection, now: float) -> str:
            existing = (
                await conn.execute(
                    sa.select(webhook_endpoints.c.id).where(
                        webhook_endpoints.c.tenant_id == tenant.id, webhook_endpoints.c.url == url
                    )
                )
            ).scalar()
            values = {
                "secret": seal(secret_key, secret.encode()),
                "events": _encoder.encode(events).decode(),
                "enabled": enabled,
                "updated_at": now,
            }
            if existing is not None:
                await conn.execute(
                    webhook_endpoints.update().where(webhook_endpoints.c.id == existing).values(**values)
                )
                return str(existing)
            hook_id = "wh_" + secrets.token_hex(10)
            await conn.execute(
                webhook_endpoints.insert().values(
                    id=hook_id, tenant_id=tenant.id, url=url, created_at=now, **values
                )
            )
            return hook_id

        hook_id = await self._commit(tenant.id, change)
        return WebhookRevealed(id=hook_id, url=url, events=events, source="api", secret=secret)

    async def create_webhook(self, tenant: Tenant, request: WebhookRequest) -> WebhookRevealed:
        if not request.url.startswith(("http://", "https://")):
            raise AdminRefusal(422, "webhook-url", "url must be an http(s) URL", "url")
        unknown = [e for e in request.events if e not in WEBHOOK_EVENTS]
        if unknown or not request.events:
            raise AdminRefusal(
                422, "webhook-events", f"unknown events {unknown}; known: {sorted(WEBHOOK_EVENTS)}", "events"
            )
        if any(h.url == request.url for h in tenant.webhooks):
            raise AdminRefusal(
                409, "webhook-exists", "this URL is subscribed already; rotate its secret instead", "url"
            )
        return await self._store_webhook(tenant, request.url, request.events)

    def _webhook(self, tenant: Tenant, views: list[WebhookView], hook_id: str) -> WebhookView:
        view = next((v for v in views if v.id == hook_id), None)
        if view is None:
            raise AdminRefusal(404, "webhook-unknown", f"no webhook endpoint {hook_id!r} for this tenant")
        return view

    async def rotate_webhook_secret(self, tenant: Tenant, hook_id: str) -> WebhookRevealed:
        view = self._webhook(tenant, await self.list_webhooks(tenant), hook_id)
        return await self._store_webhook(tenant, view.url, view.events)

    async def delete_webhook(self, tenant: Tenant, hook_id: str) -> WebhookView:
        """Unsubscribe (a file endpoint too: the store's disabled row hides it)."""
        view = self._webhook(tenant, await self.list_webhooks(tenant), hook_id)
        await self._store_webhook(tenant, view.url, view.events, enabled=False)
        return view

    async def deliveries(self, tenant: Tenant, state: str | None, limit: int) -> list[DeliveryView]:
        query = sa.select(webhook_deliveries).where(webhook_deliveries.c.tenant_id == tenant.id)
        if state:
            query = query.where(webhook_deliveries.c.state == state)
        query = query.order_by(webhook_deliveries.c.created_at.desc()).limit(limit)
        async with self.rt.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_delivery_view(r) for r in rows]

    async def redeliver(self, tenant: Tenant, delivery_id: str) -> DeliveryView:
        """Send an event again (same `webhook-id`, so receivers still deduplicate)."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            result = await conn.execute(
                webhook_deliveries.update()
                .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.tenant_id == tenant.id)
                .values(state="pending", tries=0, last_error=None)
            )
            if result.rowcount != 1:
                raise AdminRefusal(404, "delivery-unknown", f"no delivery {delivery_id!r} for this tenant")
            await jobs.enqueue(conn, "webhook", delivery_id, tenant.id, now)
            row = (
                await conn.execute(
                    sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
                )
            ).first()
        return _delivery_view(row)

    # -- tenants (admin key) -------------------------------------------------------------------------

    async def seed_admin_key(self) -> None:
        """The configured admin key's digest into the store (the key itself is never stored)."""
        key = self.rt.config.server.admin_key
        if not key:
            return
        async with self.rt.engine.begin() as conn:
            await conn.execute(
                _insert(conn)(admin_keys)
                .values(key_hash=key_hash(key), created_at=self.rt.clock())
                .on_conflict_do_nothing()
            )

    async def is_admin(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        presented = key_hash(authorization[7:].strip())
        async with self.rt.reader.connect() as conn:
            digests = (await conn.execute(sa.select(admin_keys.c.key_hash))).scalars().all()
        return any(hmac.compare_digest(d, presented) for d in digests)

    async def list_tenants(self) -> list[TenantView]:
        async with self.rt.reader.connect() as conn:
            rows = (await conn.execute(sa.select(tenants).order_by(tenants.c.id))).all()
        return [
            TenantView(
                id=r.id,
                name=r.name,
                country=self.rt.tenants[r.id].issuer.country if r.id in self.rt.tenants else "",
                source=r.source,
            )
            for r in rows
        ]

    async def create_tenant(self, request: TenantRequest) -> TenantCreated:
        if not TENANT_ID.match(request.id):
            raise AdminRefusal(
                422, "tenant-id", "id: 2–64 of a-z 0-9 _ -, starting with a letter or digit", "id"
            )
        if request.issuer.country not in ("CO", "SV"):
            raise AdminRefusal(422, "tenant-country", "issuer.country must be CO or SV", "issuer.country")
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            result = await conn.execute(
                _insert(conn)(tenants)
                .values(
                    id=request.id,
                    name=request.name,
                    issuer=_encoder.encode(request.issuer).decode(),
                    dispatch=_encoder.encode(request.dispatch).decode(),
                    source="api",
                    revision=1,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
            if result.rowcount != 1:
                raise AdminRefusal(409, "tenant-exists", f"tenant {request.id!r} exists", "id")
            await conn.execute(
                routing_rules.insert().values(
                    tenant_id=request.id, rules="[]", source_hash=key_hash("[]"), updated_at=now
                )
            )
            key = await self._insert_key(conn, request.id, "initial", now)
        await tenancy.reload(self.rt, request.id)
        return TenantCreated(
            id=request.id, name=request.name, country=request.issuer.country, source="api", api_key=key
        )


def _delivery_view(r: Any) -> DeliveryView:
    return DeliveryView(
        id=r.id,
        event_id=r.event_id,
        event_type=r.event_type,
        url=r.url,
        state=r.state,
        tries=r.tries,
        last_status=r.last_status,
        last_error=r.last_error,
        created_at=timestamp(r.created_at),
        delivered_at=timestamp(r.delivered_at) if r.delivered_at else None,
    )
