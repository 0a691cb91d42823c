"""Per-account circuit breaker whose state lives in the store, so every gateway process sharing the
database sees the same circuit (research/anchors.md (c) 4: per-process breaker state diverges).

`breaker_threshold` consecutive Unavailable answers open the circuit for `breaker_cooldown_s`; while
open, dispatch skips the account at once (no retries paid during an outage, (c) 3). After the
cooldown the circuit is half-open and admits one probe: the caller whose UPDATE moves it to
`probing` (one row, one statement, so two processes sharing the store cannot both win) calls the
provider; everyone else still skips the account. Letting every process's queue through at once
is how a short outage once turned into hundreds of `failed` documents (issue 14). The probe's
success closes the circuit, its failure re-opens it with a fresh cooldown counted from now (never
the earlier deadline, (c) 3); a probe that never reports (its process died) frees the slot after
one more cooldown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.observability import events
from gateway.store.engine import reader
from gateway.store.prepared import Prepared
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
# The probes this process holds (the caller that takes a probe records its answer): the success
# that resets such a circuit is `breaker.closed`, any other reset is a failure counter going back to 0.
_probes: set[tuple[str, str]] = set()


async def allows(engine: AsyncEngine, tenant_id: str, account: str, now: float) -> bool:
    async with engine.begin() as conn:
        return await allows_in(conn, tenant_id, account, now)


async def allows_in(conn: AsyncConnection, tenant_id: str, account: str, now: float) -> bool:
    """May this caller send to the account now? Closed: yes. Open: no. Half-open: only the one
    caller that takes the probe (inside the caller's write transaction)."""
    row = (await _STATE.execute(conn, {"w_tenant": tenant_id, "w_account": account})).first()
    if row is None or row.state == "closed":
        return True
    if (row.opened_until or 0) > now:
        return False
    cooldown_s = (row.opened_until or 0) - row.updated_at  # opening and probing both keep this span
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
    if probe.rowcount == 1:
        _probes.add((tenant_id, account))
        events.emit("breaker.half_open", tenant=tenant_id, account=account)
    return probe.rowcount == 1


async def record_success(engine: AsyncEngine, tenant_id: str, account: str, now: float) -> None:
    async with engine.begin() as conn:
        await record_success_in(conn, tenant_id, account, now)


async def record_success_in(conn: AsyncConnection, tenant_id: str, account: str, now: float) -> None:
    """Close the circuit; touches the row only when there is something to reset."""
    reset = await _RESET.execute(conn, {"w_tenant": tenant_id, "w_account": account, "updated_at": now})
    if (tenant_id, account) in _probes:
        _probes.discard((tenant_id, account))
        if reset.rowcount:
            events.emit("breaker.closed", tenant=tenant_id, account=account)


async def record_failure(
    engine: AsyncEngine, tenant_id: str, account: str, now: float, *, threshold: int, cooldown_s: float
) -> bool:
    async with engine.begin() as conn:
        return await record_failure_in(
            conn, tenant_id, account, now, threshold=threshold, cooldown_s=cooldown_s
        )


async def record_failure_in(
    conn: AsyncConnection, tenant_id: str, account: str, now: float, *, threshold: int, cooldown_s: float
) -> bool:
    """Count one Unavailable answer; returns True when this failure opened (or re-opened) the circuit."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(breakers)
        .values(tenant_id=tenant_id, account=account, state="closed", failures=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["tenant_id", "account"])
    )
    failures = (
        await conn.execute(
            breakers.update()
            .where(breakers.c.tenant_id == tenant_id, breakers.c.account == account)
            .values(failures=breakers.c.failures + 1, updated_at=now)
            .returning(breakers.c.failures)
        )
    ).scalar_one()
    if failures < threshold:
        return False
    await conn.execute(
        breakers.update()
        .where(breakers.c.tenant_id == tenant_id, breakers.c.account == account)
        .values(state="open", opened_until=now + cooldown_s, updated_at=now)
    )
    _probes.discard((tenant_id, account))
    events.emit("breaker.opened", tenant=tenant_id, account=account, failures=failures, cooldown_s=cooldown_s)
    return True


async def states(engine: AsyncEngine) -> Sequence[Row[Any]]:
    async with reader(engine).connect() as conn:
        return (await conn.execute(sa.select(breakers))).all()


def state_name(row: Row[Any] | None, now: float) -> str:
    """closed | open | half_open, as /v1/providers and /metrics show it (a probe in flight: half_open)."""
    if row is None or row.state == "closed":
        return "closed"
    if row.state == "probing":
        return "half_open"
    return "open" if (row.opened_until or 0) > now else "half_open"
