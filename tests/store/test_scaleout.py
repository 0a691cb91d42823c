"""Several gateway processes on one store (issue 14, scale-out): each test gives every "process"
an engine of its own (its own pool and connections, as separate processes have) on the same
database, SQLite and PostgreSQL; `tests/store/test_processes.py` runs real OS processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from gateway_harness import tenants_toml

from gateway.documents import idempotency
from gateway.startup import start
from gateway.store import jobs
from gateway.store.engine import dispose, make_engine
from gateway.store.schema import jobs as jobs_table


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


async def _racers(store, count: int) -> list:
    url, connect_args = store
    return [make_engine(url, connect_args=connect_args) for _ in range(count)]


async def test_two_repeats_of_a_crashed_request_never_both_take_its_key_over(store, engine):
    # issue 14: `begin` read the record without a lock and took it over unconditionally; two
    # repeats at once both went ahead, and issued two documents in 29 of 40 tries
    racers = await _racers(store, 2)
    try:
        for attempt in range(40):
            key = f"k-{attempt}"
            crashed = idempotency.Claim(key, jobs.owner("crashed"))
            assert await idempotency.begin(engine, "t1", crashed, "fp", 0.0, stale_after_s=1) is None

            async def repeat(process_engine, name: str, key: str = key) -> str:
                claim = idempotency.Claim(key, jobs.owner(name))
                try:
                    if (
                        await idempotency.begin(process_engine, "t1", claim, "fp", 10.0, stale_after_s=1)
                        is not None
                    ):
                        return "replay"
                    async with process_engine.begin() as conn:  # what creation does with the key
                        await idempotency.attach(conn, "t1", claim, f"doc-{name}-{key}")
                    return "created"
                except idempotency.IdempotencyProblem as exc:
                    return str(exc.status)

            outcomes = await asyncio.gather(repeat(racers[0], "a"), repeat(racers[1], "b"))
            # one document; the other repeat is told the key is in flight, or answered with it
            assert outcomes.count("created") == 1, (attempt, outcomes)
            assert set(outcomes) - {"created"} <= {"409", "replay"}, (attempt, outcomes)
    finally:
        for racer in racers:
            await dispose(racer)


async def test_a_repeat_after_a_crash_gets_the_document_once_its_request_lease_lapsed(engine):
    # issue 14: a retry after a crash got 409 for the whole deadline plus a lease (90 s)
    first = idempotency.Claim("k-crash", jobs.owner("p1"))
    now = 1000.0
    assert await idempotency.begin(engine, "t1", first, "fp", now, stale_after_s=30) is None
    async with engine.begin() as conn:  # the sync request created its document and runs its job
        await jobs.insert(conn, "document", "doc_c", "t1", now, locked_by=first.owner, locked_until=now + 30)
        await idempotency.attach(conn, "t1", first, "doc_c")
    repeat = idempotency.Claim("k-crash", jobs.owner("p2"))
    with pytest.raises(idempotency.IdempotencyProblem) as running:  # its lease runs: it is alive
        await idempotency.begin(engine, "t1", repeat, "fp", now + 29, stale_after_s=30)
    assert running.value.status == 409
    replay = await idempotency.begin(engine, "t1", repeat, "fp", now + 31, stale_after_s=30)
    assert replay is not None and replay.document_id == "doc_c"  # lapsed: the process died

    async with engine.begin() as conn:  # or another worker already took the job over
        await conn.execute(jobs_table.update().values(locked_by="p3/x", locked_until=now + 60))
    replay = await idempotency.begin(engine, "t1", repeat, "fp", now + 32, stale_after_s=30)
    assert replay is not None and replay.document_id == "doc_c"


async def test_the_number_counter_is_not_held_while_the_rest_of_a_creation_runs(store, engine, example_bytes):
    # issue 14: the counter row was locked for the whole creation transaction, so every process
    # waited for each creation's other statements; now the number is the creation's last write
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every write transaction: there is no row lock to hold")
    from gateway.dispatch.chain import Dispatcher
    from gateway.documents.service import DocumentService
    from gateway.store.schema import idempotency as idempotency_table
    from gateway.tenants.config import load_config
    from gateway.tenants.runtime import Runtime

    url, connect_args = store
    rt = Runtime(load_config(tenants_toml([("dian-like", "fakeours")]), env={}), engine=engine)
    await start(rt)
    service = DocumentService(rt, Dispatcher(rt))
    tenant = rt.tenants["t1"]
    claim = idempotency.Claim("slow-link", jobs.owner("p1"))
    assert await idempotency.begin(engine, "t1", claim, "fp", time.time(), stale_after_s=30) is None
    holder = make_engine(url, connect_args=connect_args)
    try:
        async with holder.begin() as conn:  # something else holds the key's row: linking it waits
            await conn.execute(
                sa.select(idempotency_table).where(idempotency_table.c.key == "slow-link").with_for_update()
            )
            slow = asyncio.create_task(
                service.create(tenant, example_bytes["co-invoice"], asynchronous=True, idempotency_key=claim)
            )
            await asyncio.sleep(0.3)
            assert not slow.done()
            other = await asyncio.wait_for(  # another creation meanwhile takes its number at once
                service.create(tenant, example_bytes["co-invoice"], asynchronous=True), timeout=3
            )
        slow_id = await slow
    finally:
        await dispose(holder)
    async with engine.connect() as conn:
        numbers = dict((await conn.execute(sa.text("SELECT id, number FROM documents"))).all())
    assert numbers == {other: "SETP990000000", slow_id: "SETP990000001"}  # no gap, no reuse


async def test_running_out_of_store_connections_is_a_503_problem_with_retry_after(store):
    # issue 14: the pool was fixed at 20 + 20 per process; four processes exhausted PostgreSQL's
    # connections and the API answered 500
    url, connect_args = store
    if url.startswith("sqlite"):
        pytest.skip("the pool settings are PostgreSQL's; SQLite keeps its one writer and readers")
    from gateway_harness import AUTH, running

    from gateway.tenants.config import load_config

    toml = "[server]\npool_size = 1\npool_max_overflow = 0\npool_timeout_s = 0.2\n" + tenants_toml()
    server = load_config(toml, env={}).server
    engine = make_engine(url, connect_args=connect_args, server=server)
    async with running(toml, engine=engine, run_jobs=False) as (client, _):
        async with engine.connect() as held:  # the process's only connection is busy
            await held.execute(sa.text("SELECT 1"))
            busy = await client.get("/v1/documents", headers=AUTH)
        assert busy.status_code == 503, busy.text
        assert busy.headers["retry-after"] == "1"
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert busy.json()["type"] == "urn:pasarela:problem:store-unavailable"
        assert (await client.get("/v1/documents", headers=AUTH)).status_code == 200  # free again


async def test_failed_authentications_are_counted_over_every_process(store):
    # issue 14: each process counted its own; behind a load balancer, N processes let a guesser
    # try N times the allowance
    from gateway_harness import AUTH, running

    from gateway.tenants.throttle import MAX_FAILURES

    url, connect_args = store
    toml = tenants_toml()
    engines = [make_engine(url, connect_args=connect_args) for _ in range(2)]
    async with running(toml, engine=engines[0]) as (one, _), running(toml, engine=engines[1]) as (two, _):
        for i in range(MAX_FAILURES):
            process = one if i % 2 else two
            r = await process.get("/v1/documents", headers={"Authorization": f"Bearer guess-{i}"})
            assert r.status_code == 401, (i, r.status_code)
        for process in (one, two):  # half the allowance at each, the whole of it in all
            blocked = await process.get("/v1/documents", headers=AUTH)
            assert blocked.status_code == 429
            assert 1 <= int(blocked.headers["retry-after"]) <= 60


async def test_numbers_drawn_but_unused_are_never_issued_after_the_counter_is_moved(engine):
    from adapters.base import NumberingRange
    from gateway.documents import numbering
    from gateway.store.schema import numbering_counters

    r = NumberingRange(name="setp", kinds=["invoice"], prefix="SETP", from_=1, to=1000)
    async with engine.begin() as conn:
        await numbering.seed(conn, "t1", [r])
    async with engine.begin() as conn:  # draws 1..16, keeps 1
        assert (await numbering.allocate(conn, "t1", [r], "invoice", dt.date(2026, 1, 1))).consecutive == 1
    async with engine.begin() as conn:  # an operator moves the counter past numbers used elsewhere
        await conn.execute(sa.select(numbering_counters).with_for_update())
        await numbering.drop_free_slots(conn, "t1", "setp")
        await conn.execute(numbering_counters.update().values(next_value=500))
    async with engine.begin() as conn:  # 2..16 were dropped: never issued
        assert (await numbering.allocate(conn, "t1", [r], "invoice", dt.date(2026, 1, 1))).consecutive == 500
        assert await numbering.positions(conn, "t1") == {("t1", "setp"): 501}


async def _two_processes_one_queued_document(store, engine, example_bytes):
    """Runtimes A and B on two engines of one store (two gateway processes), a fake provider, and
    one document queued by A with its job: the stage of the take-over races below."""
    import gateway_fakes

    from gateway.dispatch.chain import Dispatcher
    from gateway.documents.service import DocumentService
    from gateway.tenants.config import load_config
    from gateway.tenants.runtime import Runtime

    url, connect_args = store
    gateway_fakes.reset()
    config = load_config(tenants_toml([("primary", "fake")], dispatch={"lease_s": 60}), env={})
    a = Runtime(config, engine=engine)
    b = Runtime(config, engine=make_engine(url, connect_args=connect_args))  # another process
    await start(a)
    await start(b)
    doc_id = await DocumentService(a, Dispatcher(a)).create(
        a.tenants["t1"], example_bytes["co-invoice"], asynchronous=True
    )
    return a, b, doc_id, await jobs.find(engine, "document", doc_id), time.time()


async def test_a_worker_that_read_a_document_before_a_late_answer_was_recorded_never_sends_it_again(
    store, engine, example_bytes, monkeypatch
):
    # the soak on PostgreSQL, 3 processes on a loaded machine: 1 document in 300 issued twice. A's
    # lease lapsed while it waited for a provider (its heartbeat starved); B took the job over and
    # read the document (`queued`); A recorded the provider's answer (`accepted`); B then read the
    # attempts, saw none in flight, and sent the document again from the `queued` row it had read
    import gateway_fakes

    from gateway.dispatch.chain import Dispatcher
    from gateway.dispatch.loop import run_document
    from gateway.store import documents as docs
    from gateway.store.jobs import Lease

    a, b, doc_id, job, now = await _two_processes_one_queued_document(store, engine, example_bytes)

    answer_due = asyncio.Event()  # A's provider issues the document; its answer waits for this
    issue = gateway_fakes.FakeSelfNumbering.emit

    async def late_answer(adapter, emission):
        outcome = await issue(adapter, emission)
        await answer_due.wait()
        return outcome

    monkeypatch.setattr(gateway_fakes.FakeSelfNumbering, "emit", late_answer)
    a_owner, b_owner = jobs.owner("a"), jobs.owner("b")
    assert await jobs.claim(engine, job.id, a_owner, now, 60)
    a_run = asyncio.create_task(
        run_document(a, Dispatcher(a), doc_id, Lease(engine, job.id, a_owner, 60, 1, a.clock))
    )
    while gateway_fakes.book("primary").emits < 1:
        await asyncio.sleep(0.01)
    assert await jobs.claim(b.engine, job.id, b_owner, now + 61, 60)  # A's lease lapsed: B takes over

    read_attempts = docs.attempts_of

    async def a_answers_between_bs_two_reads(conn, document_id):
        if not answer_due.is_set():  # B has read the row; A's answer is recorded before B reads on
            answer_due.set()
            await a_run
        return await read_attempts(conn, document_id)

    monkeypatch.setattr(docs, "attempts_of", a_answers_between_bs_two_reads)
    try:
        await run_document(b, Dispatcher(b), doc_id, Lease(b.engine, job.id, b_owner, 60, 2, b.clock))
    finally:
        await b.close()
    assert answer_due.is_set()  # the interleaving happened
    assert gateway_fakes.book("primary").emits == 1  # sent once: by A
    async with engine.connect() as conn:
        row = await docs.get(conn, doc_id)
        attempts = await read_attempts(conn, doc_id)
    assert row.status == "accepted"
    assert [a.outcome for a in attempts] == ["accepted"]  # no attempt of B's left in flight


async def test_a_refusal_and_rejected_commit_together_so_a_worker_taking_over_never_sends_it_again(
    store, engine, example_bytes, monkeypatch
):
    # the soak, 3 processes on a loaded machine: a document `rejected` that Koywe had issued. A's
    # provider refused the document; A recorded the refusal, then (another transaction) `rejected`.
    # Between the two, B took the job over (A's lease had lapsed), saw a `queued` document with no
    # attempt in flight and sent it again: issued, then hidden by A's `rejected`
    import gateway_fakes

    from gateway.dispatch.chain import Dispatcher
    from gateway.dispatch.loop import run_document
    from gateway.store import documents as docs
    from gateway.store.jobs import Lease

    a, b, doc_id, job, now = await _two_processes_one_queued_document(store, engine, example_bytes)
    gateway_fakes.book("primary").script = ["reject", "ok"]  # A's send refused, B's would be issued

    a_refused, b_sent, a_rejected, b_done = (asyncio.Event() for _ in range(4))
    a_dispatcher = Dispatcher(a)
    change = a_dispatcher.change

    async def a_rejects_late(tenant, row, status, **kwargs):  # A's `rejected`, held until B acted
        if status == "rejected":
            a_refused.set()
            waits = [asyncio.ensure_future(e.wait()) for e in (b_sent, b_done)]
            await asyncio.wait(waits, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        try:
            return await change(tenant, row, status, **kwargs)
        finally:
            if status == "rejected":
                a_rejected.set()

    a_dispatcher.change = a_rejects_late  # type: ignore[method-assign]
    issue = gateway_fakes.FakeSelfNumbering.emit

    async def b_answers_after_a(adapter, emission):  # B's send: issued, answered once A is done
        if gateway_fakes.book("primary").emits == 0:
            return await issue(adapter, emission)
        outcome = await issue(adapter, emission)
        b_sent.set()
        await asyncio.wait_for(a_rejected.wait(), timeout=10)
        return outcome

    monkeypatch.setattr(gateway_fakes.FakeSelfNumbering, "emit", b_answers_after_a)
    a_owner, b_owner = jobs.owner("a"), jobs.owner("b")
    assert await jobs.claim(engine, job.id, a_owner, now, 60)
    a_run = asyncio.create_task(
        run_document(a, a_dispatcher, doc_id, Lease(engine, job.id, a_owner, 60, 1, a.clock))
    )
    await asyncio.wait_for(a_refused.wait(), timeout=10)  # A is about to commit `rejected`
    assert await jobs.claim(b.engine, job.id, b_owner, now + 61, 60)  # A's lease lapsed: B takes over
    try:
        await run_document(b, Dispatcher(b), doc_id, Lease(b.engine, job.id, b_owner, 60, 2, b.clock))
    finally:
        b_done.set()
        await a_run
        await b.close()
    issued = gateway_fakes.book("primary").issued()
    async with engine.connect() as conn:
        row = await docs.get(conn, doc_id)
    assert issued == [] or row.status not in ("rejected", "failed"), (row.status, issued)
    assert gateway_fakes.book("primary").emits == 1  # refused once, never sent again
