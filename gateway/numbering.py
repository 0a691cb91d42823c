"""Numbering (ARCHITECTURE.md, Numbering): the next consecutive of a tenant's range, atomically.

Allocation is one `UPDATE ... SET next_value = next_value + 1 ... RETURNING` inside the same
transaction that inserts the document: two requests can never get the same number (the row is
locked until commit), and a document that fails to be created gives its number back (rollback),
so the range has no gaps. It is the creation's last write but the document's own insert, so the
counter row is held for two statements and the commit, not for the whole creation: on
PostgreSQL every process waits for that row (issue 14). The number is assigned once, before
dispatch (the document is committed with it before any provider call), and kept across retries
and fallbacks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from msgspec import Struct
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import NumberingRange
from gateway.store.schema import numbering_counters


class NumberingError(Exception):
    """No usable range: a 422 problem with a stable rule code."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


class Allocated(Struct, kw_only=True):
    range: NumberingRange
    consecutive: int
    number: str  # prefix + consecutive, e.g. SETP990000001
    remaining: int  # numbers left in the range after this one


def range_for(ranges: Sequence[NumberingRange], kind: str, issue_date: dt.date) -> NumberingRange:
    candidates = [r for r in ranges if kind in r.kinds]
    if not candidates:
        raise NumberingError("numbering-range-missing", f"no numbering range of this tenant covers {kind!r}")
    for r in candidates:
        if (r.valid_from is None or r.valid_from <= issue_date) and (
            r.valid_to is None or issue_date <= r.valid_to
        ):
            return r
    r = candidates[0]
    raise NumberingError(
        "numbering-range-expired",
        f"numbering range {r.name!r} is valid {r.valid_from} to {r.valid_to}, not on {issue_date}",
    )


async def seed(conn: AsyncConnection, tenant_id: str, ranges: Sequence[NumberingRange]) -> None:
    """Create each range's counter at its `from`; an existing counter keeps its position."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for r in ranges:
        await conn.execute(
            insert(numbering_counters)
            .values(tenant_id=tenant_id, range_name=r.name, next_value=r.from_)
            .on_conflict_do_nothing(index_elements=["tenant_id", "range_name"])
        )


async def allocate(
    conn: AsyncConnection, tenant_id: str, ranges: Sequence[NumberingRange], kind: str, issue_date: dt.date
) -> Allocated:
    r = range_for(ranges, kind, issue_date)
    result = await conn.execute(
        numbering_counters.update()
        .where(
            numbering_counters.c.tenant_id == tenant_id,
            numbering_counters.c.range_name == r.name,
            numbering_counters.c.next_value <= r.to,
        )
        .values(next_value=numbering_counters.c.next_value + 1)
        .returning(numbering_counters.c.next_value)
    )
    next_value = result.scalar()
    if next_value is None:
        raise NumberingError(
            "numbering-range-exhausted", f"numbering range {r.name!r} is used up (to {r.to})"
        )
    consecutive = int(next_value) - 1
    return Allocated(
        range=r, consecutive=consecutive, number=f"{r.prefix}{consecutive}", remaining=r.to - consecutive
    )


async def peek(conn: AsyncConnection, tenant_id: str, r: NumberingRange) -> int:
    """The consecutive the next allocation would get (preview shows it without taking it)."""
    query = sa.select(numbering_counters.c.next_value).where(
        numbering_counters.c.tenant_id == tenant_id, numbering_counters.c.range_name == r.name
    )
    return int((await conn.execute(query)).scalar() or r.from_)


def low_watermark(r: NumberingRange) -> int:
    """`numbering.low` fires once, when exactly this many numbers are left."""
    return max(1, min(1000, (r.to - r.from_ + 1) // 10))
