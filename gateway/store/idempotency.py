"""Idempotency records, one per (tenant, key). Every change to an existing record is conditional
on the record as it was read (gateway.documents.idempotency says why): the functions that change one return
whether they did, and the caller treats "no" as "another request got there first"."""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store import Conflict
from gateway.store.records import IdempotencyRecord
from gateway.store.schema import idempotency

# How long a key is remembered (the IETF draft leaves it to the server; 24 h covers any client's
# retry schedule). The retention sweep deletes older records.
RETENTION_S: Final = 24 * 3600

_RECORD: Final = sa.select(idempotency).where(
    idempotency.c.tenant_id == sa.bindparam("w_tenant"), idempotency.c.key == sa.bindparam("w_key")
)


async def get(conn: AsyncConnection, tenant_id: str, key: str) -> IdempotencyRecord | None:
    row = (await conn.execute(_RECORD, {"w_tenant": tenant_id, "w_key": key})).first()
    return None if row is None else IdempotencyRecord(*row)


async def insert(
    conn: AsyncConnection, tenant_id: str, key: str, fingerprint: str, owner: str, now: float
) -> None:
    """A new in-flight record; Conflict when a concurrent request inserted the same key first."""
    try:
        await conn.execute(
            idempotency.insert().values(
                tenant_id=tenant_id,
                key=key,
                fingerprint=fingerprint,
                state="in_flight",
                owner=owner,
                created_at=now,
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"idempotency key {key!r} of {tenant_id}") from exc


def _this(row: IdempotencyRecord, statement: Any) -> Any:
    """`statement` on the record only as it was read: nobody took it over, linked or finished it."""
    return statement.where(
        idempotency.c.tenant_id == row.tenant_id,
        idempotency.c.key == row.key,
        idempotency.c.state == row.state,
        idempotency.c.created_at == row.created_at,
        idempotency.c.owner == row.owner if row.owner is not None else idempotency.c.owner.is_(None),
        idempotency.c.document_id.is_(None)
        if row.document_id is None
        else idempotency.c.document_id == row.document_id,
    )


async def delete_unchanged(conn: AsyncConnection, row: IdempotencyRecord) -> bool:
    """Delete the record if it is still as read."""
    return bool((await conn.execute(_this(row, idempotency.delete()))).rowcount == 1)


async def take_over_unchanged(conn: AsyncConnection, row: IdempotencyRecord, owner: str, now: float) -> bool:
    """Make the record `owner`'s, created now, if it is still as read."""
    result = await conn.execute(_this(row, idempotency.update()).values(owner=owner, created_at=now))
    return bool(result.rowcount == 1)


async def link_document(
    conn: AsyncConnection, tenant_id: str, key: str, owner: str, document_id: str
) -> bool:
    """Link the document if the record is still `owner`'s, in flight and without one."""
    result = await conn.execute(
        idempotency.update()
        .where(
            idempotency.c.tenant_id == tenant_id,
            idempotency.c.key == key,
            idempotency.c.owner == owner,
            idempotency.c.state == "in_flight",
            idempotency.c.document_id.is_(None),
        )
        .values(document_id=document_id)
    )
    return bool(result.rowcount == 1)


async def finish(engine: AsyncEngine, tenant_id: str, key: str, status_code: int, body: bytes) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.update()
            .where(idempotency.c.tenant_id == tenant_id, idempotency.c.key == key)
            .values(state="done", status_code=status_code, response=body)
        )


async def abandon(engine: AsyncEngine, tenant_id: str, key: str, owner: str) -> None:
    """Delete the record if it is still `owner`'s and in flight."""
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.delete().where(
                idempotency.c.tenant_id == tenant_id,
                idempotency.c.key == key,
                idempotency.c.owner == owner,
                idempotency.c.state == "in_flight",
            )
        )
