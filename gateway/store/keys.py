"""API keys and admin keys, stored as SHA-256 digests (the keys themselves never are).

`_KEY` runs on every authenticated request: built once (gateway.store.documents says why)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import dialect, tenant_records
from gateway.store.prepared import Prepared
from gateway.store.schema import admin_keys, api_keys, tenants
from gateway.store.tenant_records import KeyGrant, KeyRecord

_KEY: Final = Prepared(
    sa.select(api_keys.c.tenant_id, api_keys.c.expires_at, api_keys.c.revoked_at, tenants.c.revision)
    .join(tenants, tenants.c.id == api_keys.c.tenant_id)
    .where(api_keys.c.key_hash == sa.bindparam("w_digest"))
)


async def by_digest(conn: AsyncConnection, digest: str) -> KeyGrant | None:
    """What the key with this digest grants, or None: unknown."""
    row = (await _KEY.execute(conn, {"w_digest": digest})).first()
    return None if row is None else KeyGrant(*row)


async def seed(conn: AsyncConnection, digest: str, tenant_id: str) -> None:
    """A file's key (no id, label or prefix); an existing one stays as it is."""
    await conn.execute(
        dialect.insert(conn, api_keys).values(key_hash=digest, tenant_id=tenant_id).on_conflict_do_nothing()
    )


async def of_tenant(conn: AsyncConnection, tenant_id: str) -> list[KeyRecord]:
    """The tenant's keys, oldest first."""
    query = sa.select(api_keys).where(api_keys.c.tenant_id == tenant_id).order_by(api_keys.c.created_at)
    return [tenant_records.key(row) for row in (await conn.execute(query)).all()]


async def find(
    conn: AsyncConnection, tenant_id: str, key_id: str, *, digest_prefix: str | None = None
) -> KeyRecord | None:
    """The tenant's key by id, or (a file key, which has none) by the start of its digest."""
    query = sa.select(api_keys).where(api_keys.c.tenant_id == tenant_id)
    if digest_prefix is not None:
        query = query.where(
            sa.or_(api_keys.c.key_id == key_id, api_keys.c.key_hash.like(digest_prefix + "%"))
        )
    else:
        query = query.where(api_keys.c.key_id == key_id)
    row = (await conn.execute(query)).first()
    return None if row is None else tenant_records.key(row)


async def insert(
    conn: AsyncConnection,
    digest: str,
    tenant_id: str,
    key_id: str,
    label: str | None,
    prefix: str,
    now: float,
    expires_at: float | None,
) -> None:
    await conn.execute(
        api_keys.insert().values(
            key_hash=digest,
            tenant_id=tenant_id,
            key_id=key_id,
            label=label,
            prefix=prefix,
            created_at=now,
            expires_at=expires_at,
        )
    )


async def update(conn: AsyncConnection, digest: str, **values: Any) -> None:
    """Set `revoked_at` or `expires_at` of the key with this digest."""
    await conn.execute(api_keys.update().where(api_keys.c.key_hash == digest).values(**values))


async def seed_admin(conn: AsyncConnection, digest: str, now: float) -> None:
    await conn.execute(
        dialect.insert(conn, admin_keys).values(key_hash=digest, created_at=now).on_conflict_do_nothing()
    )


async def admin_digests(conn: AsyncConnection) -> Sequence[str]:
    return (await conn.execute(sa.select(admin_keys.c.key_hash))).scalars().all()
