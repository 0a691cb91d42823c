"""The retention sweep's statements (gateway.dispatch.retention decides the periods and runs them).

Each call deletes one batch of at most `limit` rows older than `before`, in its own short
transaction, so a sweep never holds SQLite's write lock or PostgreSQL's row locks for long; rows a
concurrent transaction holds are skipped (PostgreSQL, SKIP LOCKED) and taken by the next sweep.
Documents are never deleted here: they are fiscal records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.documents import TERMINAL
from gateway.store.schema import attempts, documents, idempotency, jobs, webhook_deliveries

JOB: Final = "retention"  # the one store-wide sweep job: kind and subject
Sweep = Callable[[AsyncEngine, float, int], Awaitable[int]]


async def schedule(engine: AsyncEngine, now: float) -> None:
    """Create the sweep's job, due now, unless a process already did (several start at once)."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(jobs)
        .values(kind=JOB, subject=JOB, tenant_id="", run_at=now, tries=0, done=False)
        .on_conflict_do_nothing(index_elements=["kind", "subject"])
    )
    async with engine.begin() as conn:
        await conn.execute(statement)


async def _delete_batch(
    engine: AsyncEngine, table: sa.Table, where: list[sa.ColumnElement[bool]], limit: int
) -> int:
    key = sa.tuple_(*table.primary_key.columns)
    batch = sa.select(*table.primary_key.columns).where(*where).limit(limit)
    if engine.dialect.name == "postgresql":
        batch = batch.with_for_update(skip_locked=True)
    async with engine.begin() as conn:
        return (await conn.execute(table.delete().where(key.in_(batch)))).rowcount


def _settled(document_id: sa.ColumnElement[str]) -> sa.Exists:
    return sa.exists().where(documents.c.id == document_id, documents.c.status.in_(TERMINAL))


async def done_jobs(engine: AsyncEngine, before: float, limit: int) -> int:
    """Finished jobs last run before `before`; a document's only once the document is settled
    (a resolved document is enqueued again, gateway.store.jobs.enqueue)."""
    where = [
        jobs.c.done.is_(True),
        jobs.c.run_at < before,
        sa.or_(jobs.c.kind != "document", _settled(jobs.c.subject)),
    ]
    return await _delete_batch(engine, jobs, where, limit)


async def expired_idempotency(engine: AsyncEngine, before: float, limit: int) -> int:
    """Idempotency records created before `before` (their key may be used again)."""
    return await _delete_batch(engine, idempotency, [idempotency.c.created_at < before], limit)


async def delivered_webhooks(engine: AsyncEngine, before: float, limit: int) -> int:
    """Webhook deliveries delivered before `before`; failed and pending ones stay."""
    where = [webhook_deliveries.c.state == "delivered", webhook_deliveries.c.delivered_at < before]
    return await _delete_batch(engine, webhook_deliveries, where, limit)


async def settled_attempts(engine: AsyncEngine, before: float, limit: int) -> int:
    """Provider attempts made before `before` of settled documents: an unresolved document's
    attempts are the evidence its reconciliation decides on (gateway.dispatch.evidence), so they stay."""
    return await _delete_batch(
        engine, attempts, [attempts.c.at < before, _settled(attempts.c.document_id)], limit
    )
