"""The retention sweep (gateway.dispatch.retention), on SQLite and PostgreSQL: finished work older than its
period goes, in bounded batches; documents never, nor the attempts of an unresolved document."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.dispatch import retention
from gateway.store import jobs as store_jobs
from gateway.store.jobs import Lease
from gateway.store.schema import attempts, documents, idempotency, jobs, webhook_deliveries
from gateway.tenants.config import Server

NOW = 1_000_000_000.0
DAY = 86400.0
OLD = NOW - 400 * DAY  # older than every default period
RECENT = NOW - 3600.0  # younger than every default period


def runtime(engine: Any, **server: Any) -> Any:
    return SimpleNamespace(engine=engine, clock=lambda: NOW, config=SimpleNamespace(server=Server(**server)))


def document(doc_id: str, status: str) -> dict[str, Any]:
    return {
        "id": doc_id, "tenant_id": "t1", "status": status, "version": 1, "country": "CO",
        "kind": "invoice", "chain": "[]", "chain_index": 0, "document": b"{}", "totals": b"{}",
        "warnings": "[]", "links": "{}", "needs_attention": False, "deadline": OLD,
        "created_at": OLD, "updated_at": OLD,
    }  # fmt: skip


def attempt(doc_id: str, at: float) -> dict[str, Any]:
    return {"document_id": doc_id, "account": "a", "provider": "p", "outcome": "ambiguous", "at": at}


def job(kind: str, subject: str, run_at: float, done: bool) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "tenant_id": "t1", "run_at": run_at, "tries": 1, "done": done}


def delivery(msg_id: str, state: str, at: float | None) -> dict[str, Any]:
    return {
        "id": msg_id, "tenant_id": "t1", "event_id": msg_id, "event_type": "document.accepted",
        "url": "http://127.0.0.1/hook", "body": b"{}", "state": state, "tries": 1,
        "created_at": OLD, "delivered_at": at,
    }  # fmt: skip


def record(key: str, created_at: float) -> dict[str, Any]:
    return {"tenant_id": "t1", "key": key, "fingerprint": "f", "state": "done", "created_at": created_at}


async def fill(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            documents.insert(),
            [
                document("accepted", "accepted"),
                document("unknown", "unknown"),
                document("pending", "pending"),
            ],
        )
        await conn.execute(
            attempts.insert(),
            [
                attempt("accepted", OLD),
                attempt("accepted", RECENT),
                attempt("unknown", OLD),
                attempt("pending", OLD),
            ],
        )
        await conn.execute(
            jobs.insert(),
            [
                job("document", "accepted", OLD, True),  # settled, finished long ago: goes
                job("document", "unknown", OLD, True),  # waits for a resolve: stays
                job("document", "pending", OLD, False),  # not finished: stays
                job("webhook", "w-old", OLD, True),  # goes
                job("webhook", "w-new", RECENT, True),  # too recent: stays
            ],
        )
        await conn.execute(
            webhook_deliveries.insert(),
            [
                delivery("w-old", "delivered", OLD),
                delivery("w-failed", "failed", None),
                delivery("w-new", "delivered", RECENT),
            ],
        )
        await conn.execute(idempotency.insert(), [record("old", NOW - 2 * DAY), record("new", RECENT)])


async def rows(engine: Any) -> dict[str, set[Any]]:
    async with engine.connect() as conn:
        return {
            "documents": set((await conn.execute(sa.select(documents.c.id))).scalars()),
            "attempts": {
                tuple(r) for r in await conn.execute(sa.select(attempts.c.document_id, attempts.c.at))
            },
            "jobs": {tuple(r) for r in await conn.execute(sa.select(jobs.c.kind, jobs.c.subject))},
            "webhooks": set((await conn.execute(sa.select(webhook_deliveries.c.id))).scalars()),
            "idempotency": set((await conn.execute(sa.select(idempotency.c.key))).scalars()),
        }


async def test_the_sweep_deletes_finished_work_and_keeps_documents_and_evidence(engine):
    await fill(engine)
    deleted = await retention.sweep(runtime(engine))
    assert deleted == {"jobs": 2, "webhooks": 1, "attempts": 1, "idempotency": 1}
    assert await rows(engine) == {
        "documents": {"accepted", "unknown", "pending"},  # fiscal records: never deleted
        "attempts": {("accepted", RECENT), ("unknown", OLD), ("pending", OLD)},  # evidence stays
        "jobs": {("document", "unknown"), ("document", "pending"), ("webhook", "w-new")},
        "webhooks": {"w-failed", "w-new"},
        "idempotency": {"new"},
    }
    assert await retention.sweep(runtime(engine)) == dict.fromkeys(deleted, 0)


async def test_documents_are_never_deleted_whatever_the_periods(engine):
    await fill(engine)
    tiny = dict.fromkeys(("retention_jobs_days", "retention_webhooks_days", "retention_attempts_days"), 1e-9)
    await retention.sweep(runtime(engine, **tiny))
    after = await rows(engine)
    assert after["documents"] == {"accepted", "unknown", "pending"}
    assert after["attempts"] == {("unknown", OLD), ("pending", OLD)}


async def test_periods_are_settings(engine):
    await fill(engine)
    deleted = await retention.sweep(
        runtime(engine, retention_attempts_days=500.0, retention_webhooks_days=500.0)
    )
    assert (deleted["attempts"], deleted["webhooks"]) == (0, 0)


async def test_each_sweep_is_bounded_in_batches(engine, monkeypatch):
    async with engine.begin() as conn:
        await conn.execute(documents.insert(), [document("accepted", "accepted")])
        await conn.execute(attempts.insert(), [attempt("accepted", OLD + i) for i in range(5)])
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)
    assert (await retention.sweep(runtime(engine)))["attempts"] == 4  # two batches of two, then stop
    assert (await retention.sweep(runtime(engine)))["attempts"] == 1  # the next sweep goes on


async def test_the_sweep_is_one_store_wide_job_that_comes_back(engine):
    rt = runtime(engine, retention_sweep_every_s=600.0)
    await retention.store.schedule(engine, NOW)
    await retention.store.schedule(engine, NOW)  # a second process starting: still one job
    (claimed,) = await store_jobs.claim_due(engine, retention.JOB, "w/1", NOW, retention.LEASE_S, 5)
    assert (claimed.subject, claimed.tenant_id) == (retention.JOB, "")
    await retention.run(rt, Lease(engine, claimed.id, "w/1", retention.LEASE_S, claimed.tries, rt.clock))
    async with engine.connect() as conn:
        again = (await conn.execute(sa.select(jobs).where(jobs.c.kind == retention.JOB))).one()
    assert (again.done, again.run_at, again.locked_by) == (False, NOW + 600.0, None)


def test_retention_settings_come_from_the_environment_and_must_be_positive():
    from gateway.tenants.config import ConfigError, parse_config

    config = parse_config("", {"PASARELA_RETENTION_ATTEMPTS_DAYS": "7"})
    assert (config.server.retention_attempts_days, config.server.retention_jobs_days) == (7.0, 30.0)
    with pytest.raises(ConfigError, match="retention_jobs_days: must be > 0"):
        parse_config("[server]\nretention_jobs_days = 0\n", {})


async def test_the_loop_asks_for_the_sweep_once_a_minute_not_on_every_wake(monkeypatch):
    """Each document wakes the loop: a claim for the hourly sweep on every wake was one more write
    transaction per document (bench/gateway_overhead.py, c=1)."""
    from gateway.dispatch import loop

    asked: list[str] = []

    async def claim_due(engine: Any, kind: str, *args: Any) -> list[Any]:
        asked.append(kind)
        return []

    monkeypatch.setattr(loop.jobs, "claim_due", claim_due)
    clock = [NOW]
    rt = SimpleNamespace(
        engine=None, clock=lambda: clock[0], config=SimpleNamespace(tenants=[]), tenants={}, worker_id="w/1"
    )
    jobs_loop = loop.JobLoop(rt, dispatcher=None)  # type: ignore[arg-type]
    try:
        await jobs_loop.tick()
        await jobs_loop.tick()
        assert asked == [retention.JOB]
        clock[0] += 60.0
        await jobs_loop.tick()
        assert asked == [retention.JOB, retention.JOB]
    finally:
        await jobs_loop._client.aclose()
