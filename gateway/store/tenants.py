"""Tenants and their routing rules: the rows the tenants file seeds and the administration API
changes. `revision` moves with every admin change, so other processes reload the tenant
(gateway.tenants.tenancy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from canonical.document import Issuer
from gateway.store import dialect, tenant_records
from gateway.store.schema import routing_rules, tenants
from gateway.store.tenant_records import Dispatch, Route, TenantRecord  # (tenants' types: one importer)


async def get(conn: AsyncConnection, tenant_id: str) -> TenantRecord | None:
    row = (await conn.execute(sa.select(tenants).where(tenants.c.id == tenant_id))).first()
    return None if row is None else tenant_records.tenant(row)


async def all_rows(conn: AsyncConnection) -> list[TenantRecord]:
    """Every tenant, by id."""
    return [
        tenant_records.tenant(row)
        for row in (await conn.execute(sa.select(tenants).order_by(tenants.c.id))).all()
    ]


async def ids(conn: AsyncConnection) -> Sequence[str]:
    return (await conn.execute(sa.select(tenants.c.id))).scalars().all()


async def revision(conn: AsyncConnection, tenant_id: str) -> int:
    """The tenant's revision (0: none stored)."""
    value = (await conn.execute(sa.select(tenants.c.revision).where(tenants.c.id == tenant_id))).scalar()
    return int(value or 0)


async def bump(conn: AsyncConnection, tenant_id: str, now: float) -> None:
    await conn.execute(
        tenants.update()
        .where(tenants.c.id == tenant_id)
        .values(revision=tenants.c.revision + 1, updated_at=now)
    )


async def seed_from_file(conn: AsyncConnection, tenant_id: str, name: str, now: float) -> None:
    """The file's tenant: created, or its name refreshed."""
    await conn.execute(
        dialect.insert(conn, tenants)
        .values(id=tenant_id, name=name, updated_at=now)
        .on_conflict_do_update(index_elements=["id"], set_={"name": name, "updated_at": now})
    )


async def create(
    conn: AsyncConnection, tenant_id: str, name: str, issuer: Issuer, dispatch: Dispatch, now: float
) -> bool:
    """A tenant made through the API (revision 1), with empty routing rules; False: the id exists."""
    result = await conn.execute(
        dialect.insert(conn, tenants)
        .values(
            id=tenant_id,
            name=name,
            **tenant_records.columns({"issuer": issuer, "dispatch": dispatch}),
            source="api",
            revision=1,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount == 1)


async def routing(conn: AsyncConnection, tenant_id: str) -> list[Route] | None:
    """The tenant's routing rules, or None: none stored."""
    query = sa.select(routing_rules.c.rules).where(routing_rules.c.tenant_id == tenant_id)
    return tenant_records.routes((await conn.execute(query)).scalar())


async def routing_source_hash(conn: AsyncConnection, tenant_id: str) -> str | None:
    """The hash of the file's rules when they were last seeded, or None: no rules stored."""
    query = sa.select(routing_rules.c.source_hash).where(routing_rules.c.tenant_id == tenant_id)
    value = (await conn.execute(query)).scalar()
    return None if value is None else str(value)


async def insert_routing(
    conn: AsyncConnection, tenant_id: str, rules: Sequence[Route], source_hash: str, now: float
) -> None:
    await conn.execute(
        routing_rules.insert().values(
            tenant_id=tenant_id,
            source_hash=source_hash,
            updated_at=now,
            **tenant_records.columns({"rules": list(rules)}),
        )
    )


async def set_routing(
    conn: AsyncConnection,
    tenant_id: str,
    rules: Sequence[Route],
    now: float,
    *,
    source_hash: str | None = None,
) -> None:
    """Replace the rules; with `source_hash`, as the file's rules (the hash kept for the next start)."""
    values: dict[str, Any] = {"rules": list(rules), "updated_at": now}
    if source_hash is not None:
        values["source_hash"] = source_hash
    await conn.execute(
        routing_rules.update()
        .where(routing_rules.c.tenant_id == tenant_id)
        .values(**tenant_records.columns(values))
    )
