"""`create_app(config) -> Litestar`: the gateway's HTTP service, its store and its job loop."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from litestar import Litestar
from litestar.openapi.spec import Components
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admin import AdminService
from gateway.api.admin import AdminController, TenantsController
from gateway.api.lifecycle import LifecycleController
from gateway.api.openapi import SECURITY_SCHEMES, ApiDocsConfig, TimeOfDaySchema
from gateway.api.problems import EXCEPTION_HANDLERS
from gateway.api.providers import ProvidersController
from gateway.api.routing import RoutingController
from gateway.api.swagger import OfflineSwagger
from gateway.api.system import healthz, metrics
from gateway.delivery.alerts import Watch
from gateway.dispatch.chain import Dispatcher
from gateway.dispatch.loop import JobLoop
from gateway.documents.service import DocumentService
from gateway.observability.logs import LEVELS, bind_request_id, reset_request_id
from gateway.observability.logs import configure as configure_logs
from gateway.startup import start
from gateway.tenants.config import Config, load_config, secrets_of
from gateway.tenants.runtime import Runtime
from gateway.tenants.throttle import failed_auth_throttle

log = logging.getLogger("gateway.access")

MAX_BODY: Final = 2 * 1024 * 1024  # a canonical document of 2 000 lines fits well below this
_IDS: Final = re.compile(r"/doc_[0-9a-f]+")


def request_context(app: ASGIApp) -> ASGIApp:
    """Request id (X-Request-ID in and out), one access log line, request latency metric."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid, token = bind_request_id(headers.get(b"x-request-id", b"").decode("latin-1") or None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _IDS.sub("/{id}", scope["path"])
            scope["app"].state.runtime.metrics.request_latency.labels(
                scope["method"], route, str(status)
            ).observe(elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={
                    "method": scope["method"],
                    "path": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            reset_request_id(token)

    return middleware


def create_app(config: Config, *, runtime: Runtime | None = None, run_jobs: bool = True) -> Litestar:
    """The app; `runtime` lets tests bring their own engine or clock, `run_jobs=False` leaves the
    background loop off (tests that drive jobs by hand)."""
    rt = runtime or Runtime(config)
    dispatcher = Dispatcher(rt)
    loop = JobLoop(rt, dispatcher)
    watch = Watch(rt)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await start(rt)
        await AdminService(rt).seed_admin_key()
        if run_jobs:
            loop.start()
            watch.start()
        try:
            yield
        finally:
            if run_jobs:
                await watch.stop()
                await loop.stop()
            await rt.close()

    app = Litestar(
        route_handlers=[
            LifecycleController,  # DocumentController and the lifecycle operations
            RoutingController,
            ProvidersController,
            AdminController,
            TenantsController,
            healthz,
            metrics,
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[request_context, failed_auth_throttle()],
        lifespan=[lifespan],
        request_max_body_size=MAX_BODY,
        plugins=[TimeOfDaySchema()],
        openapi_config=ApiDocsConfig(
            title="Pasarela",
            version="1.0.0",
            description="Provider-agnostic e-invoicing gateway: Colombia (DIAN), El Salvador (Hacienda DTE).",
            path="/schema",
            components=Components(security_schemes=SECURITY_SCHEMES),
            render_plugins=[OfflineSwagger("/schema")],
        ),
        logging_config=None,  # gateway.observability.logs configures JSON logging (pasarela serve)
        debug=False,
    )
    app.state.runtime = rt
    app.state.service = DocumentService(rt, dispatcher)
    app.state.jobs = loop
    return app


def from_environment() -> Litestar:
    """The app for `pasarela serve --workers N`: each worker process loads $PASARELA_CONFIG and
    sets up its own JSON logging (workers are fresh interpreters)."""
    config = load_config(os.environ["PASARELA_CONFIG"])
    configure_logs(secrets_of(config), LEVELS[config.server.log_level])
    return create_app(config)
