"""Failed authentications per client address, over a sliding window (gateway.tenants.throttle's count)."""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.engine import reader
from gateway.store.prepared import Prepared
from gateway.store.schema import auth_failures

# The `skip+1`-th most recent failure within the window (built once, executed with parameters:
# gateway.store.documents says why).
_NTH_RECENT: Final = Prepared(
    sa.select(auth_failures.c.at)
    .where(auth_failures.c.client == sa.bindparam("w_client"), auth_failures.c.at > sa.bindparam("w_since"))
    .order_by(auth_failures.c.at.desc())
    .limit(1)
    .offset(sa.bindparam("w_skip"))
)
_RECORD: Final = Prepared(auth_failures.insert())
_FORGET: Final = Prepared(auth_failures.delete().where(auth_failures.c.at <= sa.bindparam("w_before")))


async def nth_recent(engine: AsyncEngine, client: str, since: float, skip: int) -> float | None:
    """When the client's `skip+1`-th most recent failure after `since` happened, or None."""
    async with reader(engine).connect() as conn:
        row = (
            await _NTH_RECENT.execute(conn, {"w_client": client, "w_since": since, "w_skip": skip})
        ).first()
    return None if row is None else float(row.at)


async def record(engine: AsyncEngine, client: str, now: float, forget_before: float) -> None:
    """Count one failure; every client's failures up to `forget_before` are forgotten."""
    async with engine.begin() as conn:
        await _FORGET.execute(conn, {"w_before": forget_before})
        await _RECORD.execute(conn, {"client": client[:64], "at": now})
