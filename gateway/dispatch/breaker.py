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

from gateway.observability import events
from gateway.store import Conn, Engine
from gateway.store import breakers as store
from gateway.store.records import BreakerRecord, Circuit

# The probes this process holds (the caller that takes a probe records its answer): the success
# that resets such a circuit is `breaker.closed`, any other reset is a failure counter going back to 0.
_probes: set[tuple[str, str]] = set()


async def allows(engine: Engine, tenant_id: str, account: str, now: float) -> bool:
    async with engine.begin() as conn:
        return await allows_in(conn, tenant_id, account, now)


async def allows_in(conn: Conn, tenant_id: str, account: str, now: float) -> bool:
    """May this caller send to the account now? Closed: yes. Open: no. Half-open: only the one
    caller that takes the probe (inside the caller's write transaction)."""
    row = await store.state(conn, tenant_id, account)
    if row is None or row.state == "closed":
        return True
    if (row.opened_until or 0) > now:
        return False
    cooldown_s = (row.opened_until or 0) - row.updated_at  # opening and probing both keep this span
    taken = await store.take_probe(conn, tenant_id, account, now, cooldown_s)
    if taken:
        _probes.add((tenant_id, account))
        events.emit("breaker.half_open", tenant=tenant_id, account=account)
    return taken


async def record_success(engine: Engine, tenant_id: str, account: str, now: float) -> None:
    async with engine.begin() as conn:
        await record_success_in(conn, tenant_id, account, now)


async def record_success_in(conn: Conn, tenant_id: str, account: str, now: float) -> None:
    """Close the circuit; touches the row only when there is something to reset."""
    reset = await store.reset(conn, tenant_id, account, now)
    if (tenant_id, account) in _probes:
        _probes.discard((tenant_id, account))
        if reset:
            events.emit("breaker.closed", tenant=tenant_id, account=account)


async def record_failure(
    engine: Engine, tenant_id: str, account: str, now: float, *, threshold: int, cooldown_s: float
) -> bool:
    async with engine.begin() as conn:
        return await record_failure_in(
            conn, tenant_id, account, now, threshold=threshold, cooldown_s=cooldown_s
        )


async def record_failure_in(
    conn: Conn, tenant_id: str, account: str, now: float, *, threshold: int, cooldown_s: float
) -> bool:
    """Count one Unavailable answer; returns True when this failure opened (or re-opened) the circuit."""
    failures = await store.count_failure(conn, tenant_id, account, now)
    if failures < threshold:
        return False
    await store.open_until(conn, tenant_id, account, now, now + cooldown_s)
    _probes.discard((tenant_id, account))
    events.emit("breaker.opened", tenant=tenant_id, account=account, failures=failures, cooldown_s=cooldown_s)
    return True


async def states(engine: Engine) -> Sequence[BreakerRecord]:
    return await store.all_states(engine)


def state_name(row: Circuit | BreakerRecord | None, now: float) -> str:
    """closed | open | half_open, as /v1/providers and /metrics show it (a probe in flight: half_open)."""
    if row is None or row.state == "closed":
        return "closed"
    if row.state == "probing":
        return "half_open"
    return "open" if (row.opened_until or 0) > now else "half_open"
