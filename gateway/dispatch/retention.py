"""Retention: a durable job (kind `retention`, one for the whole store) deletes finished work
older than its period, then sleeps `[server] retention_sweep_every_s` (settings and defaults:
gateway.tenants.config.Server; docs/deploy.md). Documents are fiscal records and are never deleted.

Each kind of row is deleted in batches of `BATCH`, one short transaction each, at most
`MAX_BATCHES` per sweep: a backlog (a first sweep over years of rows) is worked off over several
sweeps instead of holding the store's locks. The lease is renewed between batches.
"""

from __future__ import annotations

import logging
from typing import Final

from gateway.store import idempotency as idempotency_store
from gateway.store import retention as store
from gateway.store.jobs import Lease, LeaseLost
from gateway.tenants.config import Server
from gateway.tenants.runtime import Runtime

log = logging.getLogger(__name__)

JOB: Final = store.JOB
LEASE_S: Final = 300.0
BATCH: Final = 500
MAX_BATCHES: Final = 200  # per kind and sweep: 100,000 rows
DAY: Final = 86400.0

# What is deleted, by which statement, after the period of which `[server]` setting (in days).
POLICIES: Final[tuple[tuple[str, store.Sweep, str], ...]] = (
    ("jobs", store.done_jobs, "retention_jobs_days"),
    ("webhooks", store.delivered_webhooks, "retention_webhooks_days"),
    ("attempts", store.settled_attempts, "retention_attempts_days"),
    ("idempotency", store.expired_idempotency, ""),  # expired: gateway.store.idempotency.RETENTION_S
)


def period_s(server: Server, setting: str) -> float:
    return getattr(server, setting) * DAY if setting else float(idempotency_store.RETENTION_S)


async def sweep(rt: Runtime, lease: Lease | None = None) -> dict[str, int]:
    """One sweep: rows deleted per kind."""
    now = rt.clock()
    deleted: dict[str, int] = {}
    for name, delete, setting in POLICIES:
        before = now - period_s(rt.config.server, setting)
        deleted[name] = 0
        for _ in range(MAX_BATCHES):
            if lease is not None:
                await lease.renew()
            count = await delete(rt.engine, before, BATCH)
            deleted[name] += count
            if count < BATCH:
                break
    return deleted


async def run(rt: Runtime, lease: Lease) -> None:
    """The job: sweep, then come back after `retention_sweep_every_s`."""
    try:
        deleted = await sweep(rt, lease)
    except LeaseLost:
        return
    except Exception as exc:
        log.exception("retention sweep failed")
        await lease.release(rt.clock() + lease.lease_s, error=f"{type(exc).__name__}: {exc}")
        return
    if any(deleted.values()):
        log.info("retention sweep deleted %s", deleted)
    await lease.release(rt.clock() + rt.config.server.retention_sweep_every_s)
