"""Numbering (ARCHITECTURE.md, Numbering): the next consecutive of a tenant's range, atomically.

A creation takes its number in the transaction that inserts the document: the lowest free *slot*
of the range that no other open transaction holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
serialises writers), deleted as it is taken. Two creations never get the same number (each holds
its slot's row), and one that rolls back, or whose process dies, leaves its slot free for the
next creation: no number is reused and none is lost. The number is committed with the document
before any provider call, and kept across retries and fallbacks.

Slots come from the range's counter `BLOCK` at a time, drawn by a creation that found none. The
counter row is the only row every creation would otherwise need: locked from allocation to commit,
it serialised every process at 57–68 documents/s (issue 14). Now one creation in `BLOCK` locks
it, and `next_value` runs up to `BLOCK - 1` numbers ahead of the last number issued (the free
slots; `positions` counts without them). Under concurrency numbers are committed in nearly, not
strictly, increasing order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final

from msgspec import Struct

from adapters.base import NumberingRange
from gateway.store import Conn
from gateway.store import numbering as store


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


async def seed(conn: Conn, tenant_id: str, ranges: Sequence[NumberingRange]) -> None:
    """Create each range's counter at its `from`; an existing counter keeps its position."""
    for r in ranges:
        await store.seed_counter(conn, tenant_id, r.name, r.from_)


BLOCK: Final = 16  # numbers drawn from the counter at once


async def allocate(
    conn: Conn, tenant_id: str, ranges: Sequence[NumberingRange], kind: str, issue_date: dt.date
) -> Allocated:
    """The number for a document inserted in `conn`'s transaction. Raises NumberingError."""
    r = range_for(ranges, kind, issue_date)
    consecutive = await _take_slot(conn, tenant_id, r)
    if consecutive is None:
        consecutive = await _draw(conn, tenant_id, r)
    return Allocated(
        range=r, consecutive=consecutive, number=f"{r.prefix}{consecutive}", remaining=r.to - consecutive
    )


async def _take_slot(conn: Conn, tenant_id: str, r: NumberingRange) -> int | None:
    """The lowest slot of the range no other open transaction holds, deleted (ours until commit)."""
    return await store.take_slot(conn, tenant_id, r.name)


async def _draw(conn: Conn, tenant_id: str, r: NumberingRange) -> int:
    """No free slot: lock the counter, and unless a creation that held it meanwhile left slots,
    draw the next `BLOCK` numbers, keep the first and leave the rest as slots. All of it in this
    creation's transaction: a rollback or a crash returns the whole block to the counter, and the
    creation that draws is sure to get a number (no retry to lose to others)."""
    before = await store.lock_counter(conn, tenant_id, r.name)
    left = await _take_slot(conn, tenant_id, r)
    if left is not None:
        return left
    if before is None or before > r.to:
        raise NumberingError(
            "numbering-range-exhausted", f"numbering range {r.name!r} is used up (to {r.to})"
        )
    after = min(before + BLOCK, r.to + 1)
    await store.set_counter(conn, tenant_id, r.name, after)
    await store.add_slots(conn, tenant_id, r.name, range(before + 1, after))
    return before


async def drop_free_slots(conn: Conn, tenant_id: str, range_name: str) -> None:
    """Forget the range's drawn but unused numbers, in the transaction that moves its counter (an
    operator's set-next, with the counter row locked first): left behind, they would be issued
    after the move. On PostgreSQL this waits for creations holding a slot to commit (their
    documents then count as held) or roll back (their slot is dropped too)."""
    await store.drop_slots(conn, tenant_id, range_name)


async def peek(conn: Conn, tenant_id: str, r: NumberingRange) -> int:
    """The consecutive the next allocation would get (preview shows it without taking it)."""
    free = await store.lowest_slot(conn, tenant_id, r.name)
    if free is not None:
        return free
    counter = await store.counter(conn, tenant_id, r.name)
    return r.from_ if not counter else counter


async def positions(conn: Conn, tenant_id: str | None = None) -> dict[tuple[str, str], int]:
    """Per (tenant, range): the counter less its free slots, i.e. `from` + the numbers issued, so
    `used` and `remaining` count exactly while slots are drawn ahead (admin view, alerts)."""
    return await store.positions(conn, tenant_id)


def low_watermark(r: NumberingRange) -> int:
    """`numbering.low` fires once, when exactly this many numbers are left."""
    return max(1, min(1000, (r.to - r.from_ + 1) // 10))
