"""The background loop, started in the app's lifespan: runs due jobs from the store.

Document jobs (async dispatch, polling `pending`, reconciling `unknown`, rounds of `queued`) and
webhook deliveries. The store is the queue, so a restarted process resumes every non-terminal
document: jobs whose lease expired are simply due again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import httpx
from sqlalchemy.engine import Row

from gateway import delivery, webhooks
from gateway.dispatch import Dispatcher
from gateway.runtime import Runtime
from gateway.store import jobs
from gateway.store.documents import StaleDocument
from gateway.store.jobs import Lease, LeaseLost

log = logging.getLogger(__name__)

BATCH: Final = 64


class JobLoop:
    def __init__(self, rt: Runtime, dispatcher: Dispatcher, *, concurrency: int = 16) -> None:
        self.rt = rt
        self.dispatcher = dispatcher
        self.interval = min([1.0, *(max(0.01, t.dispatch.poll_interval_s / 2) for t in rt.config.tenants)])
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._client = httpx.AsyncClient(follow_redirects=False)  # a redirect is a failed delivery

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pasarela-jobs")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("job loop tick failed")
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    async def tick(self) -> int:
        """Start every due job there is a free slot for; returns how many were started."""
        started = 0
        for job in await jobs.due(self.rt.engine, self.rt.clock(), BATCH):
            if self._slots.locked():
                break
            tenant = self.rt.tenants.get(job.tenant_id)
            if tenant is None:
                continue
            owner = jobs.owner(self.rt.worker_id)
            claimed = await jobs.claim(
                self.rt.engine, job.id, owner, self.rt.clock(), tenant.dispatch.lease_s
            )
            if claimed is None:
                continue  # another worker took it
            await self._slots.acquire()
            lease = Lease(
                self.rt.engine,
                job.id,
                owner,
                tenant.dispatch.lease_s,
                claimed.tries,
                self.rt.clock,
            )
            task = asyncio.create_task(self._run_job(job.kind, job.subject, job.tenant_id, lease))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            started += 1
        return started

    async def _run_job(self, kind: str, subject: str, tenant_id: str, lease: Lease) -> None:
        try:
            await run_job(self.rt, self.dispatcher, self._client, kind, subject, tenant_id, lease)
        finally:
            self._slots.release()


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
    created: Row[Any] | None = None,
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
