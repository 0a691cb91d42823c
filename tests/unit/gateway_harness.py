"""Build a gateway around the fake adapters for a test: tenants TOML from a few arguments, a fresh
SQLite file, and the app served by uvicorn on loopback in the test's own event loop, with an
httpx.AsyncClient (litestar's AsyncTestClient runs requests one at a time, which would hide every
concurrency bug these tests look for)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import gateway_fakes
import httpx
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.tenants.config import Config, load_config
from gateway.tenants.runtime import Runtime
from simulators.runner import free_port

KEY = "unit-key-0123456789abcdef"
OTHER_KEY = "other-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
OTHER_AUTH = {"Authorization": f"Bearer {OTHER_KEY}"}

FAST = {
    "deadline_s": 5,
    "max_attempts": 3,
    "backoff_base_s": 0.001,
    "backoff_max_s": 0.01,
    "poll_interval_s": 0.02,
    "poll_max_s": 0.05,
    "reconcile_window_s": 0.2,
    "breaker_threshold": 5,
    "breaker_cooldown_s": 0.3,
    "lease_s": 2,
}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def tenants_toml(
    accounts: list[tuple[str, str]] = (("primary", "fake"), ("backup", "fake")),  # type: ignore[assignment]
    chain: list[str] | None = None,
    *,
    dispatch: dict[str, Any] | None = None,
    numbering: str | None = None,
    extra: str = "",
    second_tenant: bool = True,
) -> str:
    """One CO tenant (`t1`, key KEY) whose only route is `chain`, and a second tenant (`t2`,
    OTHER_KEY) with one account of its own."""
    settings = {**FAST, **(dispatch or {})}
    lines = [
        "[[tenants]]",
        'id = "t1"',
        'name = "Tenant One"',
        f'api_keys = ["{KEY}"]',
        "[tenants.issuer]",
        'country = "CO"\nid_type = "NIT"\nid_number = "900373115"\ncheck_digit = "3"\nname = "ACME"',
        "[tenants.dispatch]",
        *(f"{k} = {_value(v)}" for k, v in settings.items()),
    ]
    for name, provider in accounts:
        lines += [
            "[[tenants.accounts]]",
            f'name = "{name}"',
            f'provider = "{provider}"',
            'base_url = "http://127.0.0.1:9"',
            'credentials = { token = "t" }',
            # a self-numbering account declares its own range (one prefix per account)
            *([f'range = {{ prefix = "{name.upper()}" }}'] if provider == "fake" else []),
        ]
    lines.append(
        numbering
        or '[[tenants.numbering]]\nname = "setp"\nkinds = ["invoice", "credit_note"]\nprefix = "SETP"\n'
        "from = 990000000\nto = 995000000"
    )
    lines += ["[[tenants.routes]]", f"chain = {_value(chain or [a[0] for a in accounts])}"]
    lines.append(extra)
    if second_tenant:
        lines += [
            "[[tenants]]",
            'id = "t2"',
            'name = "Tenant Two"',
            f'api_keys = ["{OTHER_KEY}"]',
            "[tenants.issuer]",
            'country = "CO"\nid_type = "NIT"\nid_number = "800197268"\ncheck_digit = "4"\nname = "Other"',
            "[tenants.dispatch]",
            *(f"{k} = {_value(v)}" for k, v in FAST.items()),
            "[[tenants.accounts]]",
            'name = "t2-account"',
            'provider = "fake"',
            'base_url = "http://127.0.0.1:9"',
            'credentials = { token = "t" }',
            "[[tenants.routes]]",
            'chain = ["t2-account"]',
        ]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def running(
    toml: str,
    *,
    run_jobs: bool = True,
    env: dict[str, str] | None = None,
    engine: AsyncEngine | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The app on a fresh SQLite database (or the given engine), on `clock`; fake books reset."""
    gateway_fakes.reset()
    with tempfile.TemporaryDirectory(prefix="pasarela-unit-") as tmp:
        environment = {"PASARELA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'gw.db'}", **(env or {})}
        config: Config = load_config(toml, env=environment)
        rt = Runtime(config, engine=engine, clock=clock)
        app = create_app(config, runtime=rt, run_jobs=run_jobs)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
            )
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()  # startup failed: raise its error
            await asyncio.sleep(0.005)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                yield client, rt
        finally:
            server.should_exit = True
            await serving
