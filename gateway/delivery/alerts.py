"""Alerts as events: `numbering.low`, `account.misconfigured`, `document.needs_attention`.

Each fires once per condition, not once per request: a condition is a row in `alerts` that turns
active once (publishing one signed webhook, deduplicated by its event id) and must be cleared
before it can fire again (an account is cleared when it is changed or passes its test through the
administration API). Numbering conditions need no row: their event ids name the condition itself
(the range and its low-water mark or its end date), and the outbox never queues an event id twice.
`document.needs_attention` is raised by dispatch, once per time a document needs an operator.

`pasarela_alerts{tenant, alert}` counts the conditions active now; `sweep` recomputes it (and checks
the time-based conditions: range end dates, certificate expiry) on every `/metrics` scrape and
every `SWEEP_INTERVAL_S` in the background.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from typing import Any, Final

from prometheus_client import Gauge

from adapters.base import Account, NumberingRange, ProviderFailure
from gateway.delivery import webhooks
from gateway.documents import numbering
from gateway.observability import events
from gateway.store import Conn
from gateway.store import alerts as store
from gateway.tenants.config import Tenant
from gateway.tenants.runtime import Runtime

log = logging.getLogger(__name__)

EXPIRY_WARNING: Final = dt.timedelta(days=30)  # ranges and certificates: alert this long before the end
SWEEP_INTERVAL_S: Final = 300.0
ALERT_KINDS: Final = ("numbering.low", "account.misconfigured", "document.needs_attention")

_gauges: weakref.WeakKeyDictionary[Runtime, Gauge] = weakref.WeakKeyDictionary()


def gauge(rt: Runtime) -> Gauge:
    """`pasarela_alerts` in this app's registry (one registry per app)."""
    if rt not in _gauges:
        _gauges[rt] = Gauge(
            "pasarela_alerts",
            "Alert conditions active now, by tenant and alert",
            ["tenant", "alert"],
            registry=rt.metrics.registry,
        )
    return _gauges[rt]


async def raise_alert(
    conn: Conn, tenant: Tenant, kind: str, subject: str, data: dict[str, Any], now: float
) -> bool:
    """Turn the condition on; publish its event only if it was off. True when it fired now."""
    raised = await store.turn_on(conn, tenant.id, kind, subject, str(data.get("message", "")), now)
    if raised is None:
        return False  # already active: the tenant heard about it
    await webhooks.publish(conn, tenant, kind, f"{kind}:{tenant.id}:{subject}:{raised}", data, now)
    events.emit(
        "alert.raised", tenant=tenant.id, account=data.get("account"), alert=kind, error=data.get("message")
    )
    return True


async def clear(conn: Conn, tenant_id: str, kind: str, subject_prefix: str, now: float) -> None:
    """The condition is over (the account was fixed): the next occurrence fires again."""
    await store.turn_off(conn, tenant_id, kind, subject_prefix, now)


def misconfigured_data(account: Account, message: str, code: str | None) -> dict[str, Any]:
    return {"account": account.name, "provider": account.provider, "message": message, "code": code}


# -- numbering -------------------------------------------------------------------------------------


def range_conditions(r: NumberingRange, next_value: int, today: dt.date) -> list[tuple[str, dict[str, Any]]]:
    """(event id suffix, data) of each low condition of a range: few numbers left, or its end near."""
    found: list[tuple[str, dict[str, Any]]] = []
    if not r.kinds:  # retired
        return found
    remaining = max(0, r.to - next_value + 1)
    watermark = numbering.low_watermark(r)
    if remaining <= watermark:
        # the same event id gateway.documents.service publishes when the allocation crosses the mark
        found.append((str(r.to - watermark), {"range": r.name, "remaining": remaining, "to": r.to}))
    if r.valid_to is not None and r.valid_to - today <= EXPIRY_WARNING:
        found.append(
            (
                f"expiry:{r.valid_to.isoformat()}",
                {"range": r.name, "remaining": remaining, "to": r.to, "valid_to": r.valid_to.isoformat()},
            )
        )
    return found


# -- the sweep ---------------------------------------------------------------------------------------


async def sweep(rt: Runtime) -> dict[tuple[str, str], int]:
    """Check the time-based conditions of every tenant, publish what newly holds, set the gauge.
    Reads first: a scrape that finds nothing to announce takes no write lock."""
    now = rt.clock()
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    active: dict[tuple[str, str], int] = {}
    low_ranges: list[tuple[Tenant, str, dict[str, Any]]] = []  # (tenant, event id, data)
    expiring: list[tuple[Tenant, Account, str]] = []
    async with rt.reader.connect() as conn:
        counters = await numbering.positions(conn)
        for tenant in list(rt.tenants.values()):
            low = 0
            for r in tenant.numbering:
                conditions = range_conditions(r, counters.get((tenant.id, r.name), r.from_), today)
                low_ranges += [(tenant, f"numbering.low:{tenant.id}:{r.name}:{s}", d) for s, d in conditions]
                low += bool(conditions)
            active[(tenant.id, "numbering.low")] = low
            for account in tenant.accounts:
                message = _certificate_expiry(rt, tenant, account, now)
                if message is not None:
                    expiring.append((tenant, account, message))
    if low_ranges or expiring:
        async with rt.engine.begin() as conn:
            for tenant, event_id, data in low_ranges:  # the outbox never queues an event id twice
                await webhooks.publish(conn, tenant, "numbering.low", event_id, data, now)
            for tenant, account, message in expiring:
                await raise_alert(
                    conn,
                    tenant,
                    "account.misconfigured",
                    f"{account.name}#certificate",
                    misconfigured_data(account, message, "certificate-expiring"),
                    now,
                )
    async with rt.reader.connect() as conn:
        active.update(await store.active_counts(conn))
        for tenant_id, count in (await store.needing_attention(conn)).items():
            active[(tenant_id, "document.needs_attention")] = count
    g = gauge(rt)
    for tenant_id in rt.tenants:
        for kind in ALERT_KINDS:
            g.labels(tenant_id, kind).set(active.get((tenant_id, kind), 0))
    return active


def _certificate_expiry(rt: Runtime, tenant: Tenant, account: Account, now: float) -> str | None:
    """Direct DIAN signs with the tenant's certificate: say so 30 days before it expires."""
    if account.provider != "dian" or not account.enabled:
        return None
    try:
        not_after = rt.adapter(tenant.id, account).certificate_expiry()
    except ProviderFailure:
        return None  # a certificate that cannot be read is reported by dispatch and `test`
    if not_after is None:
        return None
    left = not_after - dt.datetime.fromtimestamp(now, dt.UTC)
    if left > EXPIRY_WARNING:
        return None
    return (
        f"the signing certificate expires on {not_after.date().isoformat()} ({max(0, left.days)} days left)"
    )


class Watch:
    """The sweep in the background, so time-based alerts fire even when nobody scrapes /metrics."""

    def __init__(self, rt: Runtime, interval_s: float = SWEEP_INTERVAL_S) -> None:
        self.rt, self.interval_s = rt, interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pasarela-alerts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await sweep(self.rt)
            except Exception:
                log.exception("alert sweep failed")
            await asyncio.sleep(self.interval_s)
