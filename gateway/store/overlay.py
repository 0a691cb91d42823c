"""What the administration API stored over the tenants file: accounts, numbering ranges and
webhook endpoints, one row each, that win over the file's (gateway.tenants.tenancy composes them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import dialect, tenant_records
from gateway.store.schema import accounts, numbering_ranges, webhook_endpoints
from gateway.store.tenant_records import AccountRecord, EndpointRecord, RangeRecord


async def accounts_of(conn: AsyncConnection, tenant_id: str) -> list[AccountRecord]:
    query = sa.select(accounts).where(accounts.c.tenant_id == tenant_id)
    return [tenant_records.account(row) for row in (await conn.execute(query)).all()]


async def account_sources(conn: AsyncConnection, tenant_id: str) -> dict[str, str]:
    """Account name → `file` | `api`."""
    query = sa.select(accounts.c.name, accounts.c.source).where(accounts.c.tenant_id == tenant_id)
    return {name: source for name, source in (await conn.execute(query)).all()}


async def put_account(
    conn: AsyncConnection, tenant_id: str, name: str, values: Mapping[str, Any], *, from_file: bool = False
) -> None:
    """Create or replace the account's row. `from_file`: the tenants file's version, which never
    replaces one changed through the API (the store wins there)."""
    values = tenant_records.columns(values)
    await conn.execute(
        dialect.insert(conn, accounts)
        .values(tenant_id=tenant_id, name=name, **values)
        .on_conflict_do_update(
            index_elements=["tenant_id", "name"],
            set_=dict(values),
            where=accounts.c.source != "api" if from_file else None,
        )
    )


async def ranges_of(conn: AsyncConnection, tenant_id: str) -> list[RangeRecord]:
    query = sa.select(numbering_ranges).where(numbering_ranges.c.tenant_id == tenant_id)
    return [tenant_records.numbering_range(row) for row in (await conn.execute(query)).all()]


async def put_range(conn: AsyncConnection, tenant_id: str, name: str, values: Mapping[str, Any]) -> None:
    values = tenant_records.columns(values)
    await conn.execute(
        dialect.insert(conn, numbering_ranges)
        .values(tenant_id=tenant_id, name=name, **values)
        .on_conflict_do_update(index_elements=["tenant_id", "name"], set_=dict(values))
    )


async def endpoints_of(conn: AsyncConnection, tenant_id: str) -> list[EndpointRecord]:
    """The tenant's webhook endpoints, oldest first."""
    query = (
        sa.select(webhook_endpoints)
        .where(webhook_endpoints.c.tenant_id == tenant_id)
        .order_by(webhook_endpoints.c.created_at)
    )
    return [tenant_records.endpoint(row) for row in (await conn.execute(query)).all()]


async def enabled_endpoint_ids(conn: AsyncConnection, tenant_id: str) -> dict[str, str]:
    """URL → id of the tenant's enabled endpoints."""
    query = sa.select(webhook_endpoints.c.url, webhook_endpoints.c.id).where(
        webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.enabled.is_(True)
    )
    return {url: hook_id for url, hook_id in (await conn.execute(query)).all()}


async def endpoint_id(conn: AsyncConnection, tenant_id: str, url: str) -> str | None:
    query = sa.select(webhook_endpoints.c.id).where(
        webhook_endpoints.c.tenant_id == tenant_id, webhook_endpoints.c.url == url
    )
    value = (await conn.execute(query)).scalar()
    return None if value is None else str(value)


async def update_endpoint(conn: AsyncConnection, hook_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(
        webhook_endpoints.update()
        .where(webhook_endpoints.c.id == hook_id)
        .values(**tenant_records.columns(values))
    )


async def insert_endpoint(
    conn: AsyncConnection, hook_id: str, tenant_id: str, url: str, now: float, values: Mapping[str, Any]
) -> None:
    await conn.execute(
        webhook_endpoints.insert().values(
            id=hook_id, tenant_id=tenant_id, url=url, created_at=now, **tenant_records.columns(values)
        )
    )
