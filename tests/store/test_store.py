"""The store on SQLite and PostgreSQL: migrations, numbering without gaps or duplicates under
concurrency (with rollbacks), monotonic status changes, shared breaker, exclusive job leases,
idempotency races, and the whole gateway under 200 concurrent requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from gateway_fakes import book
from gateway_harness import AUTH, running, tenants_toml

from adapters.base import NumberingRange
from gateway.dispatch import breaker
from gateway.documents import idempotency, numbering
from gateway.startup import start
from gateway.store import documents as docs
from gateway.store import jobs
from gateway.store.engine import dispose, make_engine
from gateway.tenants.config import Server

RANGE = NumberingRange(name="setp", kinds=["invoice"], prefix="SETP", from_=990000000, to=995000000)


def document_row(doc_id: str, now: float, **values) -> dict:
    return {
        "id": doc_id,
        "tenant_id": "t1",
        "status": "queued",
        "version": 1,
        "country": "CO",
        "kind": "invoice",
        "chain": [],
        "chain_index": 0,
        "document": msgspec.Raw(b"{}"),  # JSON the store keeps as it is
        "totals": msgspec.Raw(b"{}"),
        "warnings": [],
        "links": {},
        "needs_attention": False,
        "deadline": now + 60,
        "created_at": now,
        "updated_at": now,
        **values,
    }


class Rollback(Exception):
    pass


async def test_numbering_has_no_gaps_or_duplicates_under_concurrency_and_rollbacks(engine):
    async with engine.begin() as conn:
        await numbering.seed(conn, "t1", [RANGE])

    async def create(i: int) -> str | None:
        try:
            async with engine.begin() as conn:
                allocated = await numbering.allocate(conn, "t1", [RANGE], "invoice", dt.date.today())
                await docs.insert(conn, document_row(f"doc_{i}", time.time(), number=allocated.number))
                if i % 10 == 0:
                    raise Rollback  # the document is not created: its number must come back
            return allocated.number
        except Rollback:
            return None

    results = await asyncio.gather(*(create(i) for i in range(200)))
    committed = sorted(int(n.removeprefix("SETP")) for n in results if n)
    assert len(committed) == 180 == len(set(committed))
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT number FROM documents"))).scalars().all()
        free = (await conn.execute(sa.text("SELECT consecutive FROM numbering_slots"))).scalars().all()
    assert sorted(int(n.removeprefix("SETP")) for n in stored) == committed
    # every number drawn is issued or still free for the next creation: none lost, the lowest first
    assert sorted(committed + list(free)) == list(range(990000000, 990000000 + len(committed) + len(free)))
    assert len(free) < numbering.BLOCK + 20 and max(committed) - min(committed) < 180 + 20 + numbering.BLOCK


async def test_status_changes_are_compare_and_set_and_never_go_back(engine):
    now = time.time()
    async with engine.begin() as conn:
        await docs.insert(conn, document_row("doc_cas", now))
    async with engine.connect() as conn:
        row = await docs.get(conn, "doc_cas")

    async def move(status: str) -> str:
        try:
            async with engine.begin() as conn:
                await docs.transition(conn, row, status, time.time())
            return "ok"
        except docs.StaleDocument:
            return "stale"

    results = await asyncio.gather(move("accepted"), move("unknown"), move("pending"))
    assert sorted(results) == ["ok", "stale", "stale"]  # one writer wins; the others re-read
    async with engine.connect() as conn:
        current = await docs.get(conn, "doc_cas")
    assert current.version == 2
    if current.status == "accepted":
        with pytest.raises(docs.StaleDocument):
            async with engine.begin() as conn:
                await docs.transition(conn, current, "pending", time.time())


async def test_breaker_state_is_shared_by_every_process(store, engine):
    url, connect_args = store
    other = make_engine(url, connect_args=connect_args)  # a second gateway process
    try:
        now = time.time()
        for _ in range(2):
            await breaker.record_failure(engine, "t1", "dian", now, threshold=3, cooldown_s=30)
        assert await breaker.allows(other, "t1", "dian", now)
        opened = await breaker.record_failure(other, "t1", "dian", now, threshold=3, cooldown_s=30)
        assert opened
        assert not await breaker.allows(engine, "t1", "dian", now + 1)
        assert await breaker.allows(engine, "t1", "dian", now + 31)  # cooldown over: half-open
        await breaker.record_success(other, "t1", "dian", now + 31)
        assert breaker.state_name((await breaker.states(engine))[0], now + 31) == "closed"
    finally:
        await dispose(other)


async def test_a_job_is_claimed_by_exactly_one_worker(engine):
    now = time.time()
    async with engine.begin() as conn:
        job_id = await jobs.enqueue(conn, "document", "doc_job", "t1", now)
    claims = await asyncio.gather(*(jobs.claim(engine, job_id, f"worker-{i}", now, 30) for i in range(10)))
    assert sum(c is not None for c in claims) == 1
    assert await jobs.claim(engine, job_id, "late", now + 31, 30) is not None  # lease expired: taken over


async def test_concurrent_first_requests_with_one_idempotency_key(engine):
    async def begin() -> str:
        try:
            claim = idempotency.Claim("key-1", jobs.owner("w"))
            result = await idempotency.begin(engine, "t1", claim, "fp", time.time(), stale_after_s=60)
            return "started" if result is None else "replay"
        except idempotency.IdempotencyProblem as exc:
            return str(exc.status)

    results = await asyncio.gather(*(begin() for _ in range(10)))
    assert sorted(results) == ["409"] * 9 + ["started"]


async def test_whole_gateway_numbers_200_concurrent_requests(store, example_bytes):
    url, connect_args = store
    # 200 requests at once share the process's 15 connections: on a loaded machine one may wait
    # longer than the default pool timeout for one (it would get a 503, tests/store/test_scaleout.py)
    engine = make_engine(url, connect_args=connect_args, server=Server(pool_timeout_s=120))
    # a lease and a deadline longer than the burst: on a loaded machine a 2 s lease could lapse
    # mid-request (the job loop would then finish the document after the answer) and a 5 s deadline
    # could pass before a document's turn (it would then, correctly, fail unsent)
    toml = tenants_toml([("dian-like", "fakeours")], dispatch={"lease_s": 120, "deadline_s": 300})
    async with running(toml, engine=engine) as (client, _):
        responses = await asyncio.gather(
            *(
                client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
                for _ in range(200)
            )
        )
        assert [r.status_code for r in responses] == [201] * 200
        assert {r.json()["status"] for r in responses} == {"accepted"}
        numbers = sorted(int(r.json()["number"].removeprefix("SETP")) for r in responses)
        assert numbers == list(range(990000000, 990000200))
        assert len(book("dian-like").issued()) == 200
    await dispose(engine)


async def test_provider_secrets_are_sealed_at_rest(store, tmp_path):
    from gateway.store.schema import accounts
    from gateway.tenants.config import load_config
    from gateway.tenants.runtime import Runtime
    from gateway.tenants.secrets import unseal

    url, connect_args = store
    config = load_config(tenants_toml(), env={"PASARELA_SECRET_KEY": "server-secret-key-0123456789"})
    config.tenants[0].accounts[0].credentials["token"] = "plain-provider-token-42"
    rt = Runtime(config, engine=make_engine(url, connect_args=connect_args))
    await start(rt)
    try:
        async with rt.engine.connect() as conn:
            sealed = (
                await conn.execute(sa.select(accounts.c.credentials).where(accounts.c.name == "primary"))
            ).scalar_one()
    finally:
        await rt.close()
    assert "plain-provider-token-42" not in sealed
    assert json.loads(unseal("server-secret-key-0123456789", sealed)) == {"token": "plain-provider-token-42"}
    with pytest.raises(ValueError):
        unseal("another-key", sealed)


async def test_idempotency_record_left_by_a_dead_process_is_taken_over(engine):
    dead, retry, late = (idempotency.Claim("k-dead", jobs.owner(w)) for w in ("dead", "retry", "late"))
    assert await idempotency.begin(engine, "t1", dead, "fp", 0.0, stale_after_s=60) is None
    with pytest.raises(idempotency.IdempotencyProblem):  # still in flight: 409
        await idempotency.begin(engine, "t1", retry, "fp", 30.0, stale_after_s=60)
    assert await idempotency.begin(engine, "t1", retry, "fp", 100.0, stale_after_s=60) is None  # died early
    with pytest.raises(idempotency.IdempotencyProblem):  # the presumed-dead request cannot link a document
        async with engine.begin() as conn:
            await idempotency.attach(conn, "t1", dead, "doc_0")
    async with engine.begin() as conn:
        await idempotency.attach(conn, "t1", retry, "doc_1")
    replay = await idempotency.begin(engine, "t1", late, "fp", 200.0, stale_after_s=60)
    assert replay is not None and replay.document_id == "doc_1"  # answered with the document's state


async def test_routes_set_through_the_api_survive_a_restart_until_the_file_changes(store):
    from gateway.tenants.config import load_config
    from gateway.tenants.routing import Route
    from gateway.tenants.runtime import Runtime

    url, connect_args = store

    async def runtime(text: str) -> Runtime:
        rt = Runtime(load_config(text, env={}), engine=make_engine(url, connect_args=connect_args))
        await start(rt)
        return rt

    text = tenants_toml()
    rt = await runtime(text)
    await rt.replace_routes("t1", [Route(chain=["backup"])])
    await rt.close()
    rt = await runtime(text)  # same file: the API's rules stay
    assert [r.chain for r in await rt.routes("t1")] == [["backup"]]
    await rt.close()
    rt = await runtime(text.replace('chain = ["primary", "backup"]', 'chain = ["primary"]'))  # file changed
    assert [r.chain for r in await rt.routes("t1")] == [["primary"]]
    await rt.close()
