"""`/healthz` and `/metrics` (no API key: meant for the operator's network)."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.api.deps import runtime
from gateway.api.openapi import problems
from gateway.api.problems import problem
from gateway.delivery import alerts
from gateway.dispatch import breaker
from gateway.observability.metrics import BREAKER_VALUES
from gateway.store import documents as docs
from gateway.store.health import ping

STORE_DOWN: Final = {503: "The store does not answer"}


@get("/healthz", operation_id="health", tags=["system"], responses=problems(503, when=STORE_DOWN))
async def healthz(request: Request[Any, Any, Any]) -> Response[Any]:
    """200 when the store answers."""
    try:
        await ping(runtime(request).reader)
    except Exception as exc:
        return problem(503, "internal", f"store unavailable: {type(exc).__name__}")
    return Response({"status": "ok"})


@get(
    "/metrics",
    operation_id="metrics",
    tags=["system"],
    media_type=CONTENT_TYPE_LATEST,
    responses=problems(503, when=STORE_DOWN),
)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text format: documents by status and provider, attempts, latencies, circuits."""
    rt = runtime(request)
    async with rt.reader.connect() as conn:
        counts = await docs.counts_by_status(conn)
    rt.metrics.documents.clear()
    for c in counts:
        rt.metrics.documents.labels(c.tenant_id, c.status, c.provider or "").set(c.count)
    now = rt.clock()
    for row in await breaker.states(rt.reader):
        rt.metrics.breaker.labels(row.tenant_id, row.account).set(
            BREAKER_VALUES[breaker.state_name(row, now)]
        )
    await alerts.sweep(rt)  # pasarela_alerts, and time-based alert conditions checked
    return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)
