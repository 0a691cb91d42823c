"""The live tenant: the tenants file overlaid with what the administration API stored.

The file stays the bootstrap; API changes are rows in the store that win over the file for what
they touch (an account, a numbering range, a webhook endpoint, a key's revocation). Every admin
change bumps the tenant's `revision`; a process notices a newer revision on the next request
authenticated for that tenant and rebuilds its copy, so several gateway processes agree without
restarting. API keys are checked against the store on every request: a revoked key stops working
at once, in every process.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import msgspec
from msgspec.structs import replace

from adapters.base import Account, NumberingRange
from canonical.document import Issuer
from gateway.store import Conn, keys, overlay
from gateway.store import tenants as tenants_store
from gateway.store.tenant_records import AccountRecord, EndpointRecord, RangeRecord
from gateway.tenants.auth import key_hash
from gateway.tenants.config import Dispatch, Tenant, Webhook
from gateway.tenants.runtime import Runtime
from gateway.tenants.secrets import unseal

_revisions: weakref.WeakKeyDictionary[Runtime, dict[str, int]] = weakref.WeakKeyDictionary()


class SecretKeyMissing(Exception):
    """Secrets can only be stored sealed: the server needs `PASARELA_SECRET_KEY`."""


def _cached(rt: Runtime) -> dict[str, int]:
    return _revisions.setdefault(rt, {})


async def authenticate(rt: Runtime, authorization: str | None) -> Tenant | None:
    """The live tenant of a `Bearer` key that is known, not revoked and not past its overlap."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    digest = key_hash(authorization[7:].strip())
    async with rt.reader.connect() as conn:
        row = await keys.by_digest(conn, digest)
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= rt.clock():
        return None
    return await live(rt, row.tenant_id, row.revision)


async def live(rt: Runtime, tenant_id: str, revision: int | None = None) -> Tenant:
    """The tenant as this process should see it; reloaded when the store's revision moved on."""
    if revision is None:
        async with rt.reader.connect() as conn:
            revision = await tenants_store.revision(conn, tenant_id)
    if _cached(rt).get(tenant_id) != revision or tenant_id not in rt.tenants:
        await reload(rt, tenant_id)
    return rt.tenants[tenant_id]


async def reload(rt: Runtime, tenant_id: str) -> Tenant:
    async with rt.reader.connect() as conn:
        tenant, revision = await _compose(rt, conn, tenant_id)
    previous = rt.tenants.get(tenant_id)
    if previous is not None:
        await _forget_changed_adapters(rt, previous, tenant)
    rt.tenants[tenant_id] = tenant
    _cached(rt)[tenant_id] = revision
    return tenant


async def load_all(rt: Runtime) -> None:
    """At start: every tenant in the store (file and API ones) as the store says."""
    async with rt.reader.connect() as conn:
        ids = await tenants_store.ids(conn)
    for tenant_id in ids:
        await reload(rt, tenant_id)


async def bump(conn: Conn, tenant_id: str, now: float) -> None:
    """Part of every admin change's transaction: other processes reload on their next request."""
    await tenants_store.bump(conn, tenant_id, now)


async def _compose(rt: Runtime, conn: Conn, tenant_id: str) -> tuple[Tenant, int]:
    row = await tenants_store.get(conn, tenant_id)
    if row is None:
        raise KeyError(tenant_id)
    base = rt.config.tenant(tenant_id)
    if base is None:  # created through the API
        base = Tenant(
            id=row.id,
            name=row.name,
            issuer=row.issuer or msgspec.convert({}, Issuer),
            dispatch=row.dispatch or Dispatch(),
        )
    account_rows = await overlay.accounts_of(conn, tenant_id)
    range_rows = await overlay.ranges_of(conn, tenant_id)
    hook_rows = await overlay.endpoints_of(conn, tenant_id)
    secret_key = rt.config.server.secret_key
    tenant = replace(
        base,
        accounts=_accounts(base, account_rows, secret_key),
        numbering=_ranges(base, range_rows),
        webhooks=_webhooks(base, hook_rows, secret_key),
    )
    return tenant, int(row.revision or 0)


def _accounts(base: Tenant, rows: Sequence[AccountRecord], secret_key: str | None) -> list[Account]:
    merged = {a.name: a for a in base.accounts}
    for row in rows:
        if row.source != "api":
            continue
        file_account = merged.get(row.name)
        if row.credentials and secret_key:
            credentials = msgspec.json.decode(unseal(secret_key, row.credentials))
        else:  # disabled or enabled through the API without a secret key: the file keeps the secrets
            credentials = file_account.credentials if file_account else {}
        merged[row.name] = Account(
            name=row.name,
            provider=row.provider,
            base_url=row.base_url,
            environment=row.environment,
            credentials=credentials,
            timeout_s=row.timeout_s or (file_account.timeout_s if file_account else 10.0),
            transmitter_code=row.transmitter_code
            or (file_account.transmitter_code if file_account else None),
            enabled=row.enabled,
            range=row.own_range,
        )
    return list(merged.values())


def _ranges(base: Tenant, rows: Sequence[RangeRecord]) -> list[NumberingRange]:
    merged = {r.name: r for r in base.numbering}
    for row in rows:
        # A retired range allocates nothing more, but still describes the numbers it gave: a resend
        # or correction of those documents needs its resolution and technical key.
        merged[row.name] = replace(row.definition, kinds=[]) if row.retired else row.definition
    return list(merged.values())


def _webhooks(base: Tenant, rows: Sequence[EndpointRecord], secret_key: str | None) -> list[Webhook]:
    merged = {h.url: h for h in base.webhooks}
    for row in rows:
        merged.pop(row.url, None)
        if row.enabled and secret_key:
            merged[row.url] = Webhook(
                url=row.url,
                secret=unseal(secret_key, row.secret).decode(),
                events=row.events,
                previous_secret=unseal(secret_key, row.previous_secret).decode()
                if row.previous_secret
                else None,
                previous_until=row.previous_until,
            )
    return list(merged.values())


async def _forget_changed_adapters(rt: Runtime, old: Tenant, new: Tenant) -> None:
    """An account whose settings changed gets a new adapter instance (new credentials, URL)."""
    current = {a.name: a for a in new.accounts}
    for account in old.accounts:
        if current.get(account.name) != account:
            await rt.forget_adapter(old.id, account.name)
