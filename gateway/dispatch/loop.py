"""The background loop, started in the app's lifespan: runs due jobs from the store.

Document jobs (async dispatch, polling `pending`, reconciling `unknown`, rounds of `queued`) and
webhook deliveries. The store is the queue, so a restarted process resumes every non-terminal
document: jobs whose lease expired are simply due again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import httpx

from gateway.delivery import mail as delivery
from gateway.delivery import webhooks
from gateway.dispatch import retention
from gateway.dispatch.chain import Dispatcher
from gateway.store import jobs
from gateway.store.documents import StaleDocument
from gateway.store.jobs import Lease, LeaseLost
from gateway.store.records import DocumentRecord
from gateway.tenants.runtime import Runtime

log = logging.getLogger(__name__)

# Jobs one process runs at once, per kind: webhooks and buyer's-copy mails keep slots of their own,
# so a backlog of documents (each waiting on a provider) never holds the tenant's notifications or
# the buyer's mail back. A kind not listed here is never claimed.
SLOTS: Final = {"document": 16, "webhook": 8, delivery.JOB: 4, retention.JOB: 1}
# Kinds with one job for the whole store (no tenant): their lease, and how often the loop asks
# for them. They run rarely (the retention sweep: hourly by default); asking on every wake added a
# write transaction to each document at low load (bench/gateway_overhead.py, c=1: +0.6 ms CPU).
STORE_WIDE: Final = {retention.JOB: (retention.LEASE_S, 60.0)}
# The loop looks for due jobs again at once when a job of its own ends or this process creates
# one (`wake`); otherwise after a wait that starts here after a claim and doubles while nothing is
# due, up to `max_wait_s` (issue 14: a fixed second between looks let webhooks fall behind).
MIN_WAIT_S: Final = 0.02
MAX_WAIT_S: Final = 1.0


class JobLoop:
    def __init__(self, rt: Runtime, dispatcher: Dispatcher, *, slots: dict[str, int] | None = None) -> None:
        self.rt = rt
        self.dispatcher = dispatcher
        self.slots = dict(SLOTS if slots is None else slots)
        self.max_wait_s = min(
            [MAX_WAIT_S, *(max(MIN_WAIT_S, t.dispatch.poll_interval_s / 2) for t in rt.config.tenants)]
        )
        self._busy = dict.fromkeys(self.slots, 0)
        self._store_wide_next: dict[str, float] = {}  # kind -> when to ask for it again
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(follow_redirects=False)  # a redirect is a failed delivery
        rt.wake_jobs = self.wake

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pasarela-jobs")

    def wake(self) -> None:
        """Look for due jobs now: one was just created, or a slot just came free."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        wait = MIN_WAIT_S
        if retention.JOB in self.slots:
            try:
                await retention.store.schedule(self.rt.engine, self.rt.clock())
            except Exception:
                log.exception("could not schedule the retention sweep")
        while not self._stopping:
            self._wake.clear()
            try:
                started = await self.tick()
            except Exception:
                log.exception("job loop tick failed")
                started = 0
            wait = MIN_WAIT_S if started else min(wait * 2, self.max_wait_s)
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """Claim as many due jobs as there are free slots, kind by kind, and start them; returns how
        many were started. One statement per kind and lease length (gateway.store.jobs.claim_due)."""
        started = 0
        by_lease: dict[float, list[str]] = {}
        for tenant in self.rt.tenants.values():
            by_lease.setdefault(tenant.dispatch.lease_s, []).append(tenant.id)
        for kind, size in self.slots.items():
            groups: list[tuple[float, list[str] | None]]
            if kind in STORE_WIDE:
                lease_s, every_s = STORE_WIDE[kind]
                if (now := self.rt.clock()) < self._store_wide_next.get(kind, 0.0):
                    continue
                self._store_wide_next[kind] = now + every_s
                groups = [(lease_s, None)]
            else:
                groups = list(by_lease.items())
            for lease_s, tenant_ids in groups:
                free = size - self._busy[kind]
                if free <= 0:
                    break
                owner = jobs.owner(self.rt.worker_id)  # one claim: its jobs share the token
                claimed = await jobs.claim_due(
                    self.rt.engine, kind, owner, self.rt.clock(), lease_s, free, tenant_ids
                )
                for job in claimed:
                    lease = Lease(self.rt.engine, job.id, owner, lease_s, job.tries, self.rt.clock)
                    self._busy[kind] += 1
                    task = asyncio.create_task(self._run_job(job.kind, job.subject, job.tenant_id, lease))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                started += len(claimed)
        return started

    async def _run_job(self, kind: str, subject: str, tenant_id: str, lease: Lease) -> None:
        try:
            await run_job(self.rt, self.dispatcher, self._client, kind, subject, tenant_id, lease)
        finally:
            self._busy[kind] -= 1
            self._wake.set()  # a slot came free, and the job may have queued webhooks


async def run_job(
    rt: Runtime,
    dispatcher: Dispatcher,
    client: httpx.AsyncClient,
    kind: str,
    subject: str,
    tenant_id: str,
    lease: Lease,
) -> None:
    """Run one claimed job and give it back with its next run time (or done)."""
    if kind == "document":
        await run_document(rt, dispatcher, subject, lease)
        return
    if kind == delivery.JOB:
        await delivery.run(rt, subject, tenant_id, lease)
        return
    if kind == retention.JOB:
        await retention.run(rt, lease)
        return
    try:
        next_run, result = await webhooks.deliver(
            rt.engine, rt.tenants[tenant_id], subject, rt.clock(), client
        )
        rt.metrics.webhooks.labels(tenant_id, result).inc()
    except LeaseLost:
        return  # another worker owns it now
    except Exception as exc:
        log.exception("%s job %s failed", kind, subject)
        await lease.release(rt.clock() + lease.lease_s, error=f"{type(exc).__name__}: {exc}")
        return
    await lease.release(next_run)


async def run_document(
    rt: Runtime,
    dispatcher: Dispatcher,
    doc_id: str,
    lease: Lease,
    *,
    created: DocumentRecord | None = None,
    first_attempt: int | None = None,
) -> None:
    """Advance a document whose job we hold, then give the job back with its next run time
    (`created`, `first_attempt`: see Dispatcher.advance)."""
    try:
        next_run = await dispatcher.advance(doc_id, lease, created=created, first_attempt=first_attempt)
    except LeaseLost:
        return
    except StaleDocument:  # a refresh or resolve changed it meanwhile: look again at once
        await lease.release(rt.clock())
        return
    except Exception as exc:
        log.exception("document %s: dispatch failed", doc_id)
        await lease.release(rt.clock() + lease.lease_s, error=f"{type(exc).__name__}: {exc}")
        return
    await lease.release(next_run)
