"""Circuit-breaker rows, one per (tenant, account): the statements gateway.dispatch.breaker's policy runs.

The probe UPDATE re-checks the deadline on the locked row, so of two processes only one moves the
circuit to `probing` (gateway.dispatch.breaker says why that matters)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store import dialect
from gateway.store.engine import reader
from gateway.store.prepared import Prepared
from gateway.store.records import BreakerRecord, Circuit
from gateway.store.schema import breakers

# Built once, executed with parameters (gateway.store.documents says why).
_STATE = Prepared(
    sa.select(breakers.c.state, breakers.c.opened_until, breakers.c.updated_at).where(
        breakers.c.tenant_id == sa.bindparam("w_tenant"), breakers.c.account == sa.bindparam("w_account")
    )
)
_RESET = Prepared(
    breakers.update()
    .where(
        breakers.c.tenant_id == sa.bindparam("w_tenant"),
        breakers.c.account == sa.bindparam("w_account"),
        sa.or_(breakers.c.failures > 0, breakers.c.state != "closed"),
    )
    .values(state="closed", failures=0, opened_until=None)
)


async def state(conn: AsyncConnection, tenant_id: str, account: str) -> Circuit | None:
    """The account's circuit, or None: never opened."""
    row = (await _STATE.execute(conn, {"w_tenant": tenant_id, "w_account": account})).first()
    return None if row is None else Circuit(*row)


async def take_probe(
    conn: AsyncConnection, tenant_id: str, account: str, now: float, cooldown_s: float
) -> bool:
    """Move a cooled-down circuit to `probing`; True for the one caller whose UPDATE did it."""
    probe = await conn.execute(
        breakers.update()
        .where(
            breakers.c.tenant_id == tenant_id,
            breakers.c.account == account,
            breakers.c.state != "closed",
            breakers.c.opened_until <= now,  # re-checked on the locked row: one winner
        )
        .values(state="probing", opened_until=now + cooldown_s, updated_at=now)
    )
    return probe.rowcount == 1


async def reset(conn: AsyncConnection, tenant_id: str, account: str, now: float) -> bool:
    """Close the circuit; touches the row only when there is something to reset (True when it did)."""
    result = await _RESET.execute(conn, {"w_tenant": tenant_id, "w_account": account, "updated_at": now})
    return bool(result.rowcount)


async def count_failure(conn: AsyncConnection, tenant_id: str, account: str, now: float) -> int:
    """One more consecutive failure (the row made if missing); the count after it."""
    await conn.execute(
        dialect.insert(conn, breakers)
        .values(tenant_id=tenant_id, account=account, state="closed", failures=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["tenant_id", "account"])
    )
    return int(
        (
            await conn.execute(
                breakers.update()
                .where(breakers.c.tenant_id == tenant_id, breakers.c.account == account)
                .values(failures=breakers.c.failures + 1, updated_at=now)
                .returning(breakers.c.failures)
            )
        ).scalar_one()
    )


async def open_until(conn: AsyncConnection, tenant_id: str, account: str, now: float, until: float) -> None:
    await conn.execute(
        breakers.update()
        .where(breakers.c.tenant_id == tenant_id, breakers.c.account == account)
        .values(state="open", opened_until=until, updated_at=now)
    )


async def all_states(engine: AsyncEngine) -> list[BreakerRecord]:
    async with reader(engine).connect() as conn:
        return [BreakerRecord(*row) for row in (await conn.execute(sa.select(breakers))).all()]
