"""Start provider simulators on loopback: `pasarela simulators`, the demo, the e2e tests, benchmarks.

Each simulator module exposes `create_app(state: SimState) -> Litestar`. Ports are fixed offsets
from a base port (ARCHITECTURE.md, Config and CLI): facepro 8101 ... dian 8106, hacienda 8107.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Final

import uvicorn
from litestar import Litestar

from adapters.base import Account
from simulators.control import SimSettings, SimState, declaration_for, resettable

log = logging.getLogger(__name__)

HOST: Final = "127.0.0.1"
DEFAULT_BASE_PORT: Final = 8101
OFFSETS: Final[dict[str, int]] = {
    "facepro": 0,
    "apidian": 1,
    "smartapp": 2,
    "koywe": 3,
    "smartbill": 4,
    "dian": 5,
    "hacienda": 6,
}


def build_app(name: str, state: SimState) -> Litestar:
    module = importlib.import_module(f"simulators.{name}")
    return module.create_app(state)


def available() -> list[str]:
    """Simulators whose module exists (an adapter that has not landed has no simulator yet)."""
    found = []
    for name in OFFSETS:
        try:
            importlib.import_module(f"simulators.{name}")
        except ModuleNotFoundError:
            continue
        found.append(name)
    return found


def _server(app: Litestar, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        resettable(app), host=HOST, port=port, log_level="warning", lifespan="on", access_log=False
    )
    return uvicorn.Server(config)


async def serve(base_port: int = DEFAULT_BASE_PORT, settings: SimSettings | None = None) -> None:
    """Run every simulator until cancelled (the `pasarela simulators` command)."""
    servers = []
    for name in available():
        port = base_port + OFFSETS[name]
        servers.append(_server(build_app(name, SimState(settings)), port))
        log.info("simulator %s on http://%s:%d", name, HOST, port)
    await asyncio.gather(*(s.serve() for s in servers))


class SimulatorThread:
    """Simulators in a background thread with their own event loop: for tests and benchmarks.

    `states[name]` gives direct access to faults and ledger; `url(name)` the root URL.
    """

    def __init__(
        self,
        names: list[str] | None = None,
        base_port: int | None = None,
        settings: SimSettings | None = None,
    ) -> None:
        self.names = names or available()
        self.settings = settings or SimSettings()
        self.states = {name: SimState(self.settings) for name in self.names}
        self.ports = {name: (base_port + OFFSETS[name]) if base_port else free_port() for name in self.names}
        self._servers = [_server(build_app(n, self.states[n]), self.ports[n]) for n in self.names]
        self._thread = threading.Thread(target=self._run, name="simulators", daemon=True)

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"

    def declare_ranges(self, accounts: Iterable[Account]) -> None:
        """Number each account's invoices from the range it declares (the provider's portal setting)."""
        for account in accounts:
            declaration = declaration_for(account)
            if declaration is not None and account.provider in self.states:
                self.states[account.provider].declare_range(declaration)

    def _run(self) -> None:
        async def main() -> None:
            await asyncio.gather(*(s.serve() for s in self._servers))

        asyncio.run(main())

    def start(self) -> SimulatorThread:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not all(s.started for s in self._servers):
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("simulators did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        for s in self._servers:
            s.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]
