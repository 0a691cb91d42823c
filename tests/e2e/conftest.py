"""End-to-end fixtures: the real gateway over real HTTP on 127.0.0.1, in front of the simulators.

`sims` (session): every available simulator (`simulators.runner.SimulatorThread`) on free loopback
ports, with delays shrunk to milliseconds (`SimSettings(slow_s=0.05, hang_s=1.5, retry_after_s=0)`).
Drive faults through `sims.states[name].set_fault(...)` or `POST {url}/_sim/faults`; read what a
simulator issued with `sims.states[name].entries()` or `GET {url}/_sim/ledger`.

`gateway_for(toml_text, env=None) -> GatewayHandle` (session): starts the gateway (uvicorn in a
background thread, a fresh temporary SQLite database) from a tenants file given as text.
`{sims.<name>}` in the text becomes that simulator's root URL (`http://127.0.0.1:PORT`; the
simulators start on first use); `${NAME}` reads `env` (then the process environment). Handles are
cached per (text, env) and stopped at session end. A handle has `.url`, `.client` (an
`httpx.Client` with that base URL), `.config`, `.runtime` and `.stop()`.

Example::

    TENANTS = '''
    [[tenants]]
    id = "t"
    name = "T"
    api_keys = ["${KEY}"]
    issuer = { country = "SV", id_type = "NIT", id_number = "06142803901121", nrc = "2345678", name = "T" }
    [[tenants.accounts]]
    name = "smartbill"
    provider = "smartbill"
    base_url = "{sims.smartbill}/v1"
    credentials = { public_key = "pk", private_key = "sk" }
    transmitter_code = "001"
    [[tenants.routes]]
    chain = ["smartbill"]
    '''

    def test_emits(gateway_for, example_bytes):
        gw = gateway_for(TENANTS, env={"KEY": "k" * 20})
        r = gw.client.post("/v1/documents", content=example_bytes["sv-invoice"],
                           headers={"Authorization": "Bearer " + "k" * 20})
        assert r.status_code == 201 and r.json()["status"] == "accepted"

Dispatch timings default to production values; tests add a `[tenants.dispatch]` table with
millisecond settings (`backoff_base_s = 0.001`, `backoff_max_s = 0.01`, `poll_interval_s = 0.02`,
`reconcile_window_s = 0.1`, `breaker_cooldown_s = 0.2`, `lease_s = 2`, `deadline_s = 5`).
`tenants.py` holds those blocks, the issuers, DIAN numbering and one account block per simulator, to
compose a test's file from; `documents.py` the shared document helpers.

`fault(name, mode, count=None)` (function): arms a fault on a simulator for one test, always
disarmed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.tenants.config import Config, load_config
from gateway.tenants.runtime import Runtime
from simulators.control import SimSettings
from simulators.runner import SimulatorThread, free_port

SIM_PLACEHOLDER = re.compile(r"\{sims\.([a-z0-9_]+)\}")
HOST = "127.0.0.1"


class GatewayHandle:
    """A gateway serving on loopback in a background thread (its own event loop)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.runtime = Runtime(config)
        app = create_app(config, runtime=self.runtime)
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host=HOST, port=self.port, log_level="warning", lifespan="on", access_log=False
            )
        )
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()), daemon=True)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def start(self) -> GatewayHandle:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("gateway did not start (see the log above)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=15)


# Package scope, not session: the gateways' job loops and the simulators stop when the e2e tests
# end, instead of polling their stores beside every later test (they made the rest of the suite
# run at half speed).
@pytest.fixture(scope="package")
def sims() -> Iterator[SimulatorThread]:
    runner = SimulatorThread(settings=SimSettings(slow_s=0.05, hang_s=1.5, retry_after_s=0)).start()
    yield runner
    runner.stop()


@pytest.fixture(scope="package")
def gateway_for(request: pytest.FixtureRequest) -> Iterator[Callable[..., GatewayHandle]]:
    handles: dict[tuple[str, tuple[tuple[str, str], ...]], GatewayHandle] = {}
    workdir = Path(tempfile.mkdtemp(prefix="pasarela-e2e-"))

    def start(toml_text: str, env: dict[str, str] | None = None) -> GatewayHandle:
        key = (toml_text, tuple(sorted((env or {}).items())))
        if key in handles:
            return handles[key]
        text = toml_text
        if SIM_PLACEHOLDER.search(text):
            runner: SimulatorThread = request.getfixturevalue("sims")
            text = SIM_PLACEHOLDER.sub(lambda m: runner.url(m.group(1)), text)
        database = workdir / f"gateway-{len(handles)}.db"
        environment = {**os.environ, **(env or {}), "PASARELA_DATABASE_URL": f"sqlite:///{database}"}
        config = load_config(text, env=environment)
        if SIM_PLACEHOLDER.search(toml_text):  # the simulators number from the ranges accounts declare
            runner.declare_ranges(a for t in config.tenants for a in t.accounts)
        handle = GatewayHandle(config).start()
        handles[key] = handle
        return handle

    yield start
    for handle in handles.values():
        handle.stop()


@pytest.fixture
def fault(sims: SimulatorThread) -> Iterator[Callable[..., None]]:
    """Arm a fault on a simulator for one test, always disarmed afterwards."""
    armed: list[str] = []

    def arm(name: str, mode: str, count: int | None = None) -> None:
        armed.append(name)
        sims.states[name].set_fault(mode, count)

    yield arm
    for name in armed:
        sims.states[name].set_fault("ok")
