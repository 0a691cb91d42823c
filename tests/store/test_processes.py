"""Real gateway processes on one store (issue 14, scale-out): each case starts three OS processes
that run the store's own operations at the same moment against the same database, and checks
that numbering, idempotency, the circuit breaker, failed-auth throttling and job claims hold
across them. PostgreSQL (the store for several processes) and SQLite (one file, several
processes) both."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import pytest

PROCESSES = 3


def _in_process(scenario: str, url: str, connect_args: dict, start_at: float, index: int) -> Any:
    """Runs in a child process: the scenario's coroutine on an engine of the child's own."""
    return asyncio.run(_scenario(scenario, url, connect_args, start_at, index))


async def _scenario(scenario: str, url: str, connect_args: dict, start_at: float, index: int) -> Any:
    from gateway.store.engine import dispose, make_engine

    engine = make_engine(url, connect_args=connect_args)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))  # every process starts together
        return await SCENARIOS[scenario](engine, index)
    finally:
        await dispose(engine)


async def _numbers(engine: Any, index: int) -> list[int]:
    from adapters.base import NumberingRange
    from gateway.documents import numbering

    r = NumberingRange(name="setp", kinds=["invoice"], prefix="SETP", from_=1, to=10_000)
    taken = []
    for i in range(60):
        try:
            async with engine.begin() as conn:
                allocated = await numbering.allocate(conn, "t1", [r], "invoice", dt.date(2026, 1, 1))
                if (i + index) % 7 == 0:
                    raise LookupError  # this creation fails: its number must come back
            taken.append(allocated.consecutive)
        except LookupError:
            pass
    return taken


async def _take_over(engine: Any, index: int) -> list[str]:
    from gateway.documents import idempotency
    from gateway.store import jobs

    outcomes = []
    for attempt in range(20):
        claim = idempotency.Claim(f"crashed-{attempt}", jobs.owner(f"p{index}"))
        try:
            replay = await idempotency.begin(engine, "t1", claim, "fp", 100.0 + attempt, stale_after_s=1)
            if replay is None:
                async with engine.begin() as conn:
                    await idempotency.attach(conn, "t1", claim, f"doc-{index}-{attempt}")
                outcomes.append("created")
            else:
                outcomes.append("replay")
        except idempotency.IdempotencyProblem as exc:
            outcomes.append(str(exc.status))
    return outcomes


async def _breaker_failures(engine: Any, index: int) -> int:
    from gateway.dispatch import breaker

    opened = 0
    for _ in range(20):
        opened += await breaker.record_failure(engine, "t1", "dian", 1000.0, threshold=30, cooldown_s=30)
    return opened


async def _auth_failures(engine: Any, index: int) -> None:
    from gateway.tenants.throttle import FailedAuthLimiter

    limiter = FailedAuthLimiter(max_failures=20, window_s=60)
    for i in range(7):
        await limiter.failed(engine, "10.9.9.9", 1000.0 + index + i / 10)


async def _claims(engine: Any, index: int) -> list[int]:
    from gateway.store import jobs

    claimed: list[int] = []
    while batch := await jobs.claim_due(engine, "document", f"p{index}", 1000.0, 30, 8):
        claimed.extend(job.id for job in batch)
    return claimed


SCENARIOS = {
    "numbers": _numbers,
    "take_over": _take_over,
    "breaker": _breaker_failures,
    "auth": _auth_failures,
    "claims": _claims,
}


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessPoolExecutor]:
    """The child processes, started once for the module (an interpreter and the gateway's imports
    take seconds); each case hands every one of them one task."""
    with ProcessPoolExecutor(PROCESSES, mp_context=get_context("spawn")) as pool:
        list(pool.map(_warm, range(PROCESSES)))
        yield pool


def _warm(_: int) -> None:
    import gateway.store.engine
    import gateway.tenants.throttle  # noqa: F401


def _run_everywhere(pool: ProcessPoolExecutor, store: tuple[str, dict], scenario: str) -> list[Any]:
    url, connect_args = store
    start_at = time.time() + 0.5  # each process holds its task until then: all three run together
    futures = [pool.submit(_in_process, scenario, url, connect_args, start_at, i) for i in range(PROCESSES)]
    return [f.result(timeout=120) for f in futures]


@pytest.fixture
async def seeded(store, engine):
    from adapters.base import NumberingRange
    from gateway.documents import idempotency, numbering
    from gateway.store import jobs

    async with engine.begin() as conn:
        await numbering.seed(
            conn, "t1", [NumberingRange(name="setp", kinds=["invoice"], prefix="SETP", from_=1, to=10_000)]
        )
        for i in range(100):
            await jobs.insert(conn, "document", f"doc_{i}", "t1", 900.0 + i)
    for attempt in range(20):  # requests that died before creating anything
        claim = idempotency.Claim(f"crashed-{attempt}", jobs.owner("dead"))
        await idempotency.begin(engine, "t1", claim, "fp", 0.0, stale_after_s=1)
    return store


async def test_numbers_are_never_reused_or_lost_across_processes(processes, seeded, engine):
    import sqlalchemy as sa

    from gateway.store.schema import numbering_counters, numbering_slots

    taken = [
        n
        for numbers in await asyncio.to_thread(_run_everywhere, processes, seeded, "numbers")
        for n in numbers
    ]
    assert len(taken) == len(set(taken))  # never the same number twice
    async with engine.connect() as conn:
        next_value = (await conn.execute(sa.select(numbering_counters.c.next_value))).scalar_one()
        free = (await conn.execute(sa.select(numbering_slots.c.consecutive))).scalars().all()
    # failed creations gave theirs back: every number drawn is issued or free for the next one
    assert sorted(taken + list(free)) == list(range(1, next_value))


async def test_a_crashed_requests_key_is_taken_over_by_one_process_only(processes, seeded):
    outcomes = await asyncio.to_thread(_run_everywhere, processes, seeded, "take_over")
    for attempt in range(20):
        per_key = [process[attempt] for process in outcomes]
        assert per_key.count("created") == 1, (attempt, per_key)  # one document per key
        assert set(per_key) - {"created"} <= {"409", "replay"}, (attempt, per_key)


async def test_breaker_failures_from_every_process_add_up_and_open_it_once(processes, seeded, engine):
    from gateway.dispatch import breaker

    opened = await asyncio.to_thread(_run_everywhere, processes, seeded, "breaker")
    [state] = await breaker.states(engine)
    assert state.failures == PROCESSES * 20  # no failure lost to a concurrent update
    assert state.state == "open" and breaker.state_name(state, 1001.0) == "open"
    assert not await breaker.allows(engine, "t1", "dian", 1001.0)  # every process sees it open
    # the 30th failure opened it; each one after re-opens it with a fresh cooldown
    assert sum(opened) == PROCESSES * 20 - 30 + 1


async def test_failed_authentications_from_every_process_add_up(processes, seeded, engine):
    from gateway.tenants.throttle import FailedAuthLimiter

    await asyncio.to_thread(_run_everywhere, processes, seeded, "auth")
    limiter = FailedAuthLimiter(max_failures=20, window_s=60)
    assert await limiter.retry_after(engine, "10.9.9.9", 1003.0) is not None  # 21 failures in all
    assert (
        await FailedAuthLimiter(max_failures=22, window_s=60).retry_after(engine, "10.9.9.9", 1003.0) is None
    )


async def test_job_claims_of_several_processes_are_disjoint_and_complete(processes, seeded):
    claims = await asyncio.to_thread(_run_everywhere, processes, seeded, "claims")
    ids = [job_id for process in claims for job_id in process]
    assert len(ids) == 100 and len(set(ids)) == 100
