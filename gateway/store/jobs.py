"""Durable jobs with leases: the only queue the gateway has (no in-memory-only work).

One job per document (kind `document`) carries it from creation to a terminal status: dispatch,
polling a `pending` one, reconciling an `unknown` one. A worker owns a job while its lease runs
and renews it before each provider call; a worker killed mid-dispatch simply stops renewing, and
after `lease_s` another (or the restarted) worker takes the job over.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store import dialect
from gateway.store.engine import reader
from gateway.store.prepared import Prepared
from gateway.store.records import AttemptRecord, ClaimedJob, DocumentRecord, JobLease, JobRecord
from gateway.store.schema import jobs


def owner(worker_id: str) -> str:
    """The lease owner of one claim: the worker id and a token of its own, so a coroutine whose
    lease lapsed (a slow store, a long wait) cannot renew it once another coroutine of the same
    process has claimed the job: it gets LeaseLost instead of sending the document a second time."""
    return f"{worker_id}/{secrets.token_hex(4)}"


class LeaseLost(Exception):
    """Another worker took the job over (ours expired): stop without writing anything more."""


# Built once, executed with parameters (gateway.store.documents says why); `w_*` name WHERE values.
_INSERT = Prepared(jobs.insert())
_OWNED = Prepared(
    jobs.update().where(jobs.c.id == sa.bindparam("w_id"), jobs.c.locked_by == sa.bindparam("w_worker"))
)


async def enqueue(conn: AsyncConnection, kind: str, subject: str, tenant_id: str, run_at: float) -> int:
    """Insert the job, or wake the existing one for this subject (a resolved document resumes)."""
    existing = (
        await conn.execute(sa.select(jobs.c.id).where(jobs.c.kind == kind, jobs.c.subject == subject))
    ).scalar()
    if existing is None:
        return await insert(conn, kind, subject, tenant_id, run_at)
    await conn.execute(jobs.update().where(jobs.c.id == existing).values(done=False, run_at=run_at, tries=0))
    return int(existing)


async def insert(
    conn: AsyncConnection,
    kind: str,
    subject: str,
    tenant_id: str,
    run_at: float,
    *,
    locked_by: str | None = None,
    locked_until: float | None = None,
) -> int:
    """A new job; `locked_by` creates it already claimed (a sync request runs it itself)."""
    result = await _INSERT.execute(
        conn,
        {
            "kind": kind,
            "subject": subject,
            "tenant_id": tenant_id,
            "run_at": run_at,
            "locked_by": locked_by,
            "locked_until": locked_until,
            "tries": 0,
            "done": False,
        },
    )
    return int(result.inserted_primary_key[0])


async def claim_due(
    engine: AsyncEngine,
    kind: str,
    worker: str,
    now: float,
    lease_s: float,
    limit: int,
    tenant_ids: Sequence[str] | None = None,
) -> list[ClaimedJob]:
    """Claim up to `limit` due jobs of `kind` in one statement, oldest first; `tenant_ids` limits
    them to those tenants (the loop claims each lease length's tenants apart).

    PostgreSQL: `FOR UPDATE SKIP LOCKED` in the subquery, so processes claiming at once take
    disjoint batches instead of all reading the same due rows and then fighting over each one
    (issue 14: 31–50 % of such claims were lost). SQLite: the write lock (`BEGIN IMMEDIATE`)
    serialises the statement, which gives the same guarantee."""
    if limit < 1:
        return []
    due = (
        sa.select(jobs.c.id)
        .where(
            jobs.c.kind == kind,
            jobs.c.done.is_(False),
            jobs.c.run_at <= now,
            sa.or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now),
        )
        .order_by(jobs.c.run_at)
        .limit(limit)
    )
    if tenant_ids is not None:
        due = due.where(jobs.c.tenant_id.in_(tenant_ids))
    due = dialect.locked(due, engine, skip_locked=True)
    claim = (
        jobs.update()
        .where(jobs.c.id.in_(due.scalar_subquery()))
        .values(locked_by=worker, locked_until=now + lease_s, tries=jobs.c.tries + 1)
        .returning(jobs.c.id, jobs.c.kind, jobs.c.subject, jobs.c.tenant_id, jobs.c.tries, jobs.c.run_at)
    )
    async with engine.begin() as conn:
        claimed = (await conn.execute(claim)).all()
    return sorted((ClaimedJob(*row) for row in claimed), key=lambda job: job.run_at)


async def claim(
    engine: AsyncEngine, job_id: int, worker: str, now: float, lease_s: float
) -> JobRecord | None:
    """Take one known job if nobody holds a live lease on it (compare-and-set on the lease): a
    refresh or a lifecycle operation that wants this document now. The loop uses `claim_due`."""
    async with engine.begin() as conn:
        result = await conn.execute(
            jobs.update()
            .where(
                jobs.c.id == job_id,
                jobs.c.done.is_(False),
                # a live lease is never taken, not even by this worker id: another coroutine of this
                # process may be running the job right now
                sa.or_(jobs.c.locked_until.is_(None), jobs.c.locked_until < now),
            )
            .values(locked_by=worker, locked_until=now + lease_s, tries=jobs.c.tries + 1)
        )
        if result.rowcount != 1:
            return None
        return _job((await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).first())


def _job(row: Sequence[Any] | None) -> JobRecord | None:
    return None if row is None else JobRecord(*row)


async def find(engine: AsyncEngine, kind: str, subject: str) -> JobRecord | None:
    async with reader(engine).connect() as conn:
        query = sa.select(jobs).where(jobs.c.kind == kind, jobs.c.subject == subject)
        return _job((await conn.execute(query)).first())


async def lease_of(conn: AsyncConnection, kind: str, subject: str) -> JobLease | None:
    """Who holds the subject's job and until when, read in the caller's transaction."""
    query = sa.select(jobs.c.locked_by, jobs.c.locked_until).where(
        jobs.c.kind == kind, jobs.c.subject == subject
    )
    row = (await conn.execute(query)).first()
    return None if row is None else JobLease(*row)


async def renew_in(conn: AsyncConnection, job_id: int, worker: str, now: float, lease_s: float) -> None:
    result = await _OWNED.execute(conn, {"w_id": job_id, "w_worker": worker, "locked_until": now + lease_s})
    if result.rowcount != 1:
        raise LeaseLost(f"job {job_id} is no longer ours")


async def release_in(
    conn: AsyncConnection, job_id: int, worker: str, run_at: float | None, error: str | None = None
) -> None:
    """Give the job back: `run_at=None` finishes it; otherwise it wakes at `run_at`."""
    values: dict[str, Any] = {"locked_by": None, "locked_until": None, "last_error": error}
    if run_at is None:
        values["done"] = True
    else:
        values["run_at"] = run_at
    await _OWNED.execute(conn, {"w_id": job_id, "w_worker": worker, **values})


class Lease:
    """A claimed job: renewed before each provider call, so a dead worker's job is taken over.
    `release_in` lets the final status change give the job back in the same transaction."""

    def __init__(
        self,
        engine: AsyncEngine,
        job_id: int,
        worker: str,
        lease_s: float,
        tries: int,
        clock: Any,
        *,
        answers: bool = False,
    ) -> None:
        self.engine, self.job_id, self.worker, self.lease_s = engine, job_id, worker, lease_s
        self.tries = tries
        self.clock = clock
        self.released = False
        # `answers`: a request runs the job and answers with the document; the status change that
        # gives the job back keeps the row and attempts it committed here (no read back)
        self.answers = answers
        self.document: tuple[DocumentRecord, Sequence[AttemptRecord]] | None = None

    async def renew(self) -> None:
        async with self.engine.begin() as conn:
            await self.renew_in(conn)

    async def renew_in(self, conn: AsyncConnection) -> None:
        await renew_in(conn, self.job_id, self.worker, self.clock(), self.lease_s)

    async def heartbeat(self) -> None:
        """Renew now and every `lease_s / 3` while a provider call runs (cancelled when it ends): a
        live worker never loses a document mid-call, a dead one loses it `lease_s` after its last
        beat. Started `lease_s / 3` into the call (`gateway.dispatch.chain`)."""
        while True:
            await self.renew()
            await asyncio.sleep(self.lease_s / 3)

    async def release(self, run_at: float | None, error: str | None = None) -> None:
        """Give the job back (unless a status change already did, in its own transaction)."""
        if not self.released:
            async with self.engine.begin() as conn:
                await release_in(conn, self.job_id, self.worker, run_at, error)
            self.released = True

    async def release_in(self, conn: AsyncConnection, run_at: float | None) -> None:
        """Within the caller's transaction; the caller sets `released` once it committed."""
        await release_in(conn, self.job_id, self.worker, run_at)
