"""Numbering counters and their free slots (numbers drawn ahead, not yet issued).

A slot is taken by deleting it (ours until commit; on PostgreSQL `SKIP LOCKED` lets concurrent
creations take different slots); the counter is moved with its row locked. gateway.documents.numbering
holds the policy (which range, how many drawn at once)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import dialect
from gateway.store.schema import numbering_counters, numbering_slots


def _counter(tenant_id: str, range_name: str) -> sa.ColumnElement[bool]:
    return (numbering_counters.c.tenant_id == tenant_id) & (numbering_counters.c.range_name == range_name)


def _slots(tenant_id: str, range_name: str) -> sa.ColumnElement[bool]:
    return (numbering_slots.c.tenant_id == tenant_id) & (numbering_slots.c.range_name == range_name)


async def seed_counter(conn: AsyncConnection, tenant_id: str, range_name: str, first: int) -> None:
    """Create the range's counter at `first`; an existing counter keeps its position."""
    await conn.execute(
        dialect.insert(conn, numbering_counters)
        .values(tenant_id=tenant_id, range_name=range_name, next_value=first)
        .on_conflict_do_nothing(index_elements=["tenant_id", "range_name"])
    )


async def take_slot(conn: AsyncConnection, tenant_id: str, range_name: str) -> int | None:
    """The lowest slot of the range no other open transaction holds, deleted (ours until commit)."""
    lowest = dialect.locked(
        sa.select(numbering_slots.c.consecutive)
        .where(_slots(tenant_id, range_name))
        .order_by(numbering_slots.c.consecutive)
        .limit(1),
        conn,
        skip_locked=True,
    )
    taken = await conn.execute(
        numbering_slots.delete()
        .where(_slots(tenant_id, range_name), numbering_slots.c.consecutive == lowest.scalar_subquery())
        .returning(numbering_slots.c.consecutive)
    )
    consecutive = taken.scalar()
    return None if consecutive is None else int(consecutive)


async def lock_counter(conn: AsyncConnection, tenant_id: str, range_name: str) -> int | None:
    """The counter's next value, its row locked until the transaction ends; None: no counter."""
    query = dialect.locked(
        sa.select(numbering_counters.c.next_value).where(_counter(tenant_id, range_name)), conn
    )
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def set_counter(conn: AsyncConnection, tenant_id: str, range_name: str, next_value: int) -> int:
    """Move the counter; how many counters moved (0: the range has none)."""
    result = await conn.execute(
        numbering_counters.update().where(_counter(tenant_id, range_name)).values(next_value=next_value)
    )
    return int(result.rowcount)


async def add_slots(
    conn: AsyncConnection, tenant_id: str, range_name: str, consecutives: Iterable[int]
) -> None:
    rows = [{"tenant_id": tenant_id, "range_name": range_name, "consecutive": n} for n in consecutives]
    if rows:
        await conn.execute(numbering_slots.insert(), rows)


async def drop_slots(conn: AsyncConnection, tenant_id: str, range_name: str) -> None:
    await conn.execute(numbering_slots.delete().where(_slots(tenant_id, range_name)))


async def lowest_slot(conn: AsyncConnection, tenant_id: str, range_name: str) -> int | None:
    free = (
        await conn.execute(
            sa.select(sa.func.min(numbering_slots.c.consecutive)).where(_slots(tenant_id, range_name))
        )
    ).scalar()
    return None if free is None else int(free)


async def counter(conn: AsyncConnection, tenant_id: str, range_name: str) -> int | None:
    query = sa.select(numbering_counters.c.next_value).where(_counter(tenant_id, range_name))
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def positions(conn: AsyncConnection, tenant_id: str | None = None) -> dict[tuple[str, str], int]:
    """Per (tenant, range): the counter less its free slots, i.e. `from` + the numbers issued."""
    counters = sa.select(
        numbering_counters.c.tenant_id, numbering_counters.c.range_name, numbering_counters.c.next_value
    )
    free = sa.select(numbering_slots.c.tenant_id, numbering_slots.c.range_name, sa.func.count()).group_by(
        numbering_slots.c.tenant_id, numbering_slots.c.range_name
    )
    if tenant_id is not None:
        counters = counters.where(numbering_counters.c.tenant_id == tenant_id)
        free = free.where(numbering_slots.c.tenant_id == tenant_id)
    unused = {(t, r): int(n) for t, r, n in (await conn.execute(free)).all()}
    return {(t, r): int(v) - unused.get((t, r), 0) for t, r, v in (await conn.execute(counters)).all()}
