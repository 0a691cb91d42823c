"""`pasarela store copy`: a whole store into an empty one (SQLite to PostgreSQL, typically).

Moving a tenant to PostgreSQL must never reissue a number: the numbering counters travel with the
documents that hold their numbers, in the same copy, and the target is checked afterwards the way
`serve` checks it (gateway.documents.numbering_guard). Rules:
- the target must be empty (no documents, no counters): merging two stores could put one number on
  two documents;
- both stores are brought to the latest schema first, then every table is copied as it is, in
  pages; PostgreSQL's id sequences then continue after the copied ids;
- run it with the gateway stopped: a document created meanwhile would not be copied.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import dialect
from gateway.store.migrations import upgrade
from gateway.store.schema import documents, metadata, numbering_counters

PAGE: Final = 500


class CopyRefused(Exception):
    """The target already holds data, or the copy left a counter behind its documents."""


async def copy_store(source: AsyncEngine, target: AsyncEngine) -> dict[str, int]:
    """Copy every table of `source` into the empty `target`; rows copied per table."""
    await upgrade(source)
    await upgrade(target)
    async with target.connect() as conn:
        for table in (documents, numbering_counters):
            if (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar():
                raise CopyRefused(f"the target store already holds {table.name}: copy into an empty store")
    copied: dict[str, int] = {}
    async with source.connect() as reading, target.begin() as writing:
        for table in metadata.sorted_tables:
            await writing.execute(table.delete())  # rows its migrations seeded (none today)
            count = 0
            order = list(table.primary_key.columns) or list(table.columns)
            result = await reading.stream(sa.select(table).order_by(*order))
            async for page in result.partitions(PAGE):
                await writing.execute(table.insert(), [dict(row._mapping) for row in page])
                count += len(page)
            copied[table.name] = count
        if dialect.is_postgresql(writing):
            await _continue_sequences(writing)
    await _check_counters(target)
    return copied


async def _continue_sequences(conn: sa.ext.asyncio.AsyncConnection) -> None:
    """Serial ids were copied explicitly: their sequences must continue after the largest one."""
    for table in metadata.sorted_tables:
        column = next((c for c in table.primary_key.columns if c.autoincrement is True), None)
        if column is None:
            continue
        await conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"
            )
        )


async def _check_counters(target: AsyncEngine) -> None:
    """Every range a document was numbered from has a counter past that document's number."""
    query = (
        sa.select(
            documents.c.tenant_id,
            documents.c.numbering_range,
            sa.func.max(documents.c.consecutive).label("highest"),
            numbering_counters.c.next_value,
        )
        .select_from(
            documents.outerjoin(
                numbering_counters,
                sa.and_(
                    numbering_counters.c.tenant_id == documents.c.tenant_id,
                    numbering_counters.c.range_name == documents.c.numbering_range,
                ),
            )
        )
        .where(documents.c.consecutive.is_not(None))
        .group_by(documents.c.tenant_id, documents.c.numbering_range, numbering_counters.c.next_value)
    )
    async with target.connect() as conn:
        rows = (await conn.execute(query)).all()
    behind = [r for r in rows if r.next_value is None or r.next_value <= r.highest]
    if behind:
        raise CopyRefused(
            "after the copy, counters are behind their documents: "
            + ", ".join(f"{r.tenant_id}/{r.numbering_range} (highest {r.highest})" for r in behind)
        )
