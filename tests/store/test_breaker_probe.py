"""Issue 14: a half-open breaker let every process's queue through at once, and a short outage
failed 817 documents. After the cooldown exactly one call, across every process sharing the store,
probes the account (two engines here: two gateway processes), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools

from gateway.dispatch import breaker
from gateway.store.engine import dispose, make_engine

NOW = 1_000_000.0


async def test_a_half_open_breaker_admits_one_probe_across_processes(store, engine):
    url, connect_args = store
    other = make_engine(url, connect_args=connect_args)  # a second process on the same store
    try:
        for _ in range(3):
            await breaker.record_failure(engine, "t1", "dian", NOW, threshold=3, cooldown_s=30)
        assert not await breaker.allows(other, "t1", "dian", NOW + 29)  # open
        engines = itertools.cycle([engine, other])
        admitted = await asyncio.gather(
            *(breaker.allows(next(engines), "t1", "dian", NOW + 31) for _ in range(40))
        )
        assert sum(admitted) == 1  # one probe, whichever process asked first
        assert not await breaker.allows(other, "t1", "dian", NOW + 40)  # the probe is out: still skipped
        assert breaker.state_name((await breaker.states(engine))[0], NOW + 40) == "half_open"
        assert await breaker.allows(engine, "t1", "dian", NOW + 62)  # that probe never reported: another
        await breaker.record_success(other, "t1", "dian", NOW + 63)
        assert all([await breaker.allows(e, "t1", "dian", NOW + 63) for e in (engine, other)])  # closed
    finally:
        await dispose(other)


async def test_a_failed_probe_reopens_for_a_fresh_cooldown(engine):
    for _ in range(2):
        await breaker.record_failure(engine, "t1", "koywe", NOW, threshold=2, cooldown_s=10)
    assert await breaker.allows(engine, "t1", "koywe", NOW + 11)  # the probe
    await breaker.record_failure(engine, "t1", "koywe", NOW + 12, threshold=2, cooldown_s=10)
    assert not await breaker.allows(engine, "t1", "koywe", NOW + 21)  # counted from the probe's failure
    assert await breaker.allows(engine, "t1", "koywe", NOW + 22.5)
