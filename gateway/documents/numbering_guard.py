"""A counter never goes back over a number already given (issue 14: moving a tenant's store).

A range's counter (`numbering_counters.next_value`) and the numbers its documents hold must agree:
a store copied without its counters, a counter set by hand, or a tenants file pointed at another
database would give a second document a number DIAN already has, and DIAN refuses the second one
(rule 90, duplicate) only after the customer got it. So:
- `serve` refuses to start while any range's counter is at or below the highest consecutive its
  documents hold (`behind`), naming the range and the number to set;
- `set_next` (the admin API and `pasarela tenants numbering set-next`) moves a counter, never to
  or below a number already held, and never outside the range.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Final

from msgspec import Struct

from adapters.base import NumberingRange, adapter_class
from gateway.documents import numbering
from gateway.store import Conn
from gateway.store import documents as docs
from gateway.store import numbering as counters_store
from gateway.tenants.runtime import Runtime


class CounterBehind(Struct, kw_only=True, frozen=True):
    tenant_id: str
    range_name: str
    next_value: int  # what the counter would give next
    highest: int  # the highest consecutive a document of this range holds
    source: str  # "store" | "DIAN"

    def message(self) -> str:
        return (
            f"tenant {self.tenant_id!r}, numbering range {self.range_name!r}: the counter would give "
            f"{self.next_value} next, but {self.highest} is already used ({self.source}); set it with "
            f"`pasarela tenants numbering set-next {self.range_name} --next {self.highest + 1}`"
        )


class NumberingBehind(Exception):
    """`serve` refuses to start: some counter would reissue a number."""

    def __init__(self, behind: Sequence[CounterBehind]) -> None:
        super().__init__(
            "numbering counters behind numbers already used:\n  " + "\n  ".join(b.message() for b in behind)
        )
        self.behind = list(behind)


async def highest_held(conn: Conn, tenant_id: str, range_name: str) -> int | None:
    """The highest consecutive any document of this tenant holds from this range."""
    return await docs.highest_consecutive(conn, tenant_id, range_name)


async def _counter(conn: Conn, tenant_id: str, range_name: str, *, lock: bool = False) -> int | None:
    if lock:
        return await counters_store.lock_counter(conn, tenant_id, range_name)
    return await counters_store.counter(conn, tenant_id, range_name)


async def behind(conn: Conn, tenant_id: str, ranges: Sequence[NumberingRange]) -> list[CounterBehind]:
    """Every range of the tenant whose counter would hand out a number a document already holds."""
    found = []
    for r in ranges:
        highest = await highest_held(conn, tenant_id, r.name)
        if highest is None:
            continue
        next_value = await _counter(conn, tenant_id, r.name)
        next_value = r.from_ if next_value is None else next_value
        if next_value <= highest:
            found.append(
                CounterBehind(
                    tenant_id=tenant_id,
                    range_name=r.name,
                    next_value=next_value,
                    highest=highest,
                    source="store",
                )
            )
    return found


def behind_authority(
    tenant_id: str,
    ranges: Sequence[NumberingRange],
    counters: dict[str, int],
    reported: Sequence[NumberingRange],
) -> list[CounterBehind]:
    """DIAN's GetNumberingRange reports each authorised range's bounds (not the last number used):
    a counter of ours below the first number DIAN authorised for the same prefix and resolution
    would number outside the resolution."""
    found = []
    for r in ranges:
        for authorised in reported:
            same = authorised.prefix == r.prefix and (
                not r.resolution or not authorised.resolution or authorised.resolution == r.resolution
            )
            next_value = counters.get(r.name, r.from_)
            if same and next_value < authorised.from_:
                found.append(
                    CounterBehind(
                        tenant_id=tenant_id,
                        range_name=r.name,
                        next_value=next_value,
                        highest=authorised.from_ - 1,
                        source="DIAN GetNumberingRange starts the range there",
                    )
                )
    return found


class SetNextRefused(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


async def set_next(conn: Conn, tenant_id: str, r: NumberingRange, next_value: int) -> int:
    """Move the range's counter to `next_value`, inside the caller's transaction. The counter row
    is locked first, so an allocation under way commits (with its document) before the highest
    number held is read: no number can be handed out twice."""
    if not r.from_ <= next_value <= r.to + 1:
        raise SetNextRefused(
            "numbering-next-outside", f"{next_value} is outside range {r.name!r} ({r.from_} to {r.to})"
        )
    if await _counter(conn, tenant_id, r.name, lock=True) is None:
        await numbering.seed(conn, tenant_id, [r])
        await _counter(conn, tenant_id, r.name, lock=True)
    # numbers drawn for creations but never used would otherwise be handed out after the move
    await numbering.drop_free_slots(conn, tenant_id, r.name)
    highest = await highest_held(conn, tenant_id, r.name)
    if highest is not None and next_value <= highest:
        raise SetNextRefused(
            "numbering-next-used",
            f"{next_value} is not after {highest}, the highest number of range {r.name!r} already used",
        )
    await counters_store.set_counter(conn, tenant_id, r.name, next_value)
    return next_value


async def check_store(rt: Runtime) -> None:
    """At start, after seeding: refuse when any tenant's counter is behind its documents."""
    found: list[CounterBehind] = []
    async with rt.reader.connect() as conn:
        for tenant in rt.tenants.values():
            found += await behind(conn, tenant.id, tenant.numbering)
    if found:
        raise NumberingBehind(found)


AUTHORITY_TIMEOUT_S: Final = 10.0


async def check_authority(rt: Runtime) -> list[str]:
    """`serve`: ask DIAN (GetNumberingRange, direct-DIAN accounts) where each range starts; raise
    when a counter is behind it. DIAN out of reach is a warning, not a refusal (returned)."""
    found: list[CounterBehind] = []
    warnings: list[str] = []
    for tenant in rt.tenants.values():
        ranges = [r for r in tenant.numbering if r.kinds]
        for account in tenant.accounts:
            if not (
                ranges and account.enabled and "numbering_ranges" in adapter_class(account.provider).capabilities
            ):
                continue
            try:
                async with asyncio.timeout(AUTHORITY_TIMEOUT_S):
                    adapter = rt.adapter(tenant.id, account)
                    reported = await adapter.numbering_ranges(tenant.issuer.id_number)
            except Exception as exc:  # "where available": any failure only warns
                warnings.append(
                    f"tenant {tenant.id!r}, account {account.name!r}: GetNumberingRange unavailable "
                    f"({type(exc).__name__}: {exc}); counters checked against the store only"
                )
                continue
            async with rt.reader.connect() as conn:
                counters = {r.name: await _counter(conn, tenant.id, r.name) or r.from_ for r in ranges}
            found += behind_authority(tenant.id, ranges, counters, reported)
    if found:
        raise NumberingBehind(found)
    return warnings
