"""Several gateway processes on one store (issue 14, scale-out): each test gives every "process"
an engine of its own (its own pool and connections, as separate processes have) on the same
database, SQLite and PostgreSQL; `tests/store/test_processes.py` runs real OS processes."""

from __future__ import annotations

import asyncio
import time

from gateway.store import jobs
from gateway.store.engine import dispose, make_engine


async def test_concurrent_claims_take_disjoint_batches_and_lose_none(store, engine):
    # issue 14: every process read the same 64 due rows, then compared and set each in a
    # transaction of its own; 31–50 % of those claims were lost to another process
    url, connect_args = store
    now = time.time()
    async with engine.begin() as conn:
        for i in range(90):
            await jobs.insert(conn, "document", f"doc_{i}", "t1", now - 90 + i)
    processes = [engine, *(make_engine(url, connect_args=connect_args) for _ in range(2))]
    claimed: list[list[int]] = []

    async def work(process_engine, name: str) -> None:
        while batch := await jobs.claim_due(process_engine, "document", name, now, 30, 10):
            claimed.append([job.id for job in batch])
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(work(e, f"p{i}") for i, e in enumerate(processes)))
    finally:
        for other in processes[1:]:
            await dispose(other)
    ids = [job_id for batch in claimed for job_id in batch]
    assert len(ids) == 90 and len(set(ids)) == 90  # each job claimed once, none left behind
    assert sum(len(batch) < 10 for batch in claimed) <= len(processes)  # only the last ones short
    assert await jobs.claim_due(engine, "document", "late", now, 30, 10) == []
    assert len(await jobs.claim_due(engine, "document", "late", now + 31, 30, 100)) == 90  # leases lapsed


async def test_a_claim_takes_only_its_kind_and_tenants_oldest_first(engine):
    now = time.time()
    async with engine.begin() as conn:
        await jobs.insert(conn, "document", "doc_later", "t1", now - 1)
        await jobs.insert(conn, "document", "doc_first", "t1", now - 5)
        await jobs.insert(conn, "webhook", "msg_1", "t1", now - 9)
        await jobs.insert(conn, "document", "doc_t2", "t2", now - 9)
        await jobs.insert(conn, "document", "doc_future", "t1", now + 60)
        await jobs.insert(conn, "document", "doc_held", "t1", now - 9, locked_by="w", locked_until=now + 30)
    batch = await jobs.claim_due(engine, "document", "w1", now, 30, 10, ["t1"])
    assert [job.subject for job in batch] == ["doc_first", "doc_later"]
    assert all(job.tries == 1 for job in batch)
