"""A lease kept alive while a slow call runs: shared by the dispatch chain and the e-mail delivery job."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from gateway.store.jobs import Lease, LeaseLost

T = TypeVar("T")


async def with_heartbeat(lease: Lease, call: Awaitable[T]) -> T:
    """Run a provider call (or a wait between calls) while renewing the lease. If the lease was
    lost meanwhile, another worker owns the document now and this answer is not ours to record
    (LeaseLost)."""
    beats: list[asyncio.Task[None]] = []  # most calls end long before the first beat: a timer, no task
    timer = asyncio.get_running_loop().call_later(
        lease.lease_s / 3, lambda: beats.append(asyncio.ensure_future(lease.heartbeat()))
    )
    try:
        outcome = await call
    finally:
        timer.cancel()
        for beat in beats:
            beat.cancel()
        ended = await asyncio.gather(*beats, return_exceptions=True) if beats else []
    for beat_end in ended:
        if isinstance(beat_end, LeaseLost):
            raise beat_end
    return outcome
