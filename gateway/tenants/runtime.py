"""The running gateway's shared parts: config, store engine, adapters per account, metrics.

One `Runtime` per app; controllers, dispatch and the job loop receive it. The tenants file seeds
the store at start (tenants, key digests, accounts, numbering counters, routing rules).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Final

import msgspec

from adapters.base import Account, Adapter, adapter_class
from gateway.documents import numbering
from gateway.observability.metrics import Metrics
from gateway.store import Conn, Engine, keys, overlay
from gateway.store import tenants as tenants_store
from gateway.store.engine import dispose, make_engine, reader
from gateway.store.migrations import ensure_current
from gateway.tenants.auth import key_hash
from gateway.tenants.config import Config, Tenant
from gateway.tenants.routing import Route
from gateway.tenants.secrets import seal

ROUTES_TTL_S: Final = 1.0


class Runtime:
    def __init__(
        self,
        config: Config,
        *,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
    ) -> None:
        self.config = config
        self.engine = engine or make_engine(config.server.database, server=config.server)
        self.reader = reader(self.engine)
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.tenants: dict[str, Tenant] = {t.id: t for t in config.tenants}
        self.metrics = Metrics()
        self._adapters: dict[tuple[str, str], Adapter] = {}
        self._routes: dict[str, tuple[float, list[Route]]] = {}  # tenant → (valid until, rules)
        # the job loop's `wake` (gateway.dispatch.loop): work this process queued is started at once
        self.wake_jobs: Callable[[], None] = lambda: None

    def adapter(self, tenant_id: str, account: Account) -> Adapter:
        """The adapter instance of one account (built once). Construction may raise Misconfigured."""
        key = (tenant_id, account.name)
        if key not in self._adapters:
            self._adapters[key] = adapter_class(account.provider)(account)
        return self._adapters[key]

    async def forget_adapter(self, tenant_id: str, account_name: str) -> None:
        """Close and drop an account's adapter: its settings changed, the next use builds a new one."""
        adapter = self._adapters.pop((tenant_id, account_name), None)
        if adapter is not None:
            await adapter.aclose()

    async def prepare(self) -> None:
        """Create an empty store or refuse an outdated one, then seed; `gateway.startup.start` does the
        rest of a start."""
        await ensure_current(self.engine)  # creates an empty store; refuses an outdated one
        await self._seed()

    async def close(self) -> None:
        for adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
        await dispose(self.engine)

    async def routes(self, tenant_id: str) -> list[Route]:
        """The live rules (the file's, or the last `PUT /v1/routing`), read from the store and kept
        for ROUTES_TTL_S: another process's change is seen within that time, this process's at once."""
        cached = self._routes.get(tenant_id)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        async with self.reader.connect() as conn:
            stored = await tenants_store.routing(conn, tenant_id)
        routes = stored if stored is not None else list(self.tenants[tenant_id].routes)
        self._routes[tenant_id] = (self.clock() + ROUTES_TTL_S, routes)
        return routes

    async def replace_routes(self, tenant_id: str, routes: list[Route]) -> None:
        async with self.engine.begin() as conn:
            await tenants_store.set_routing(conn, tenant_id, routes, self.clock())
        self._routes[tenant_id] = (self.clock() + ROUTES_TTL_S, routes)

    async def _seed(self) -> None:
        now = self.clock()
        async with self.engine.begin() as conn:
            for tenant in self.config.tenants:
                await tenants_store.seed_from_file(conn, tenant.id, tenant.name, now)
                for key in tenant.api_keys:
                    await keys.seed(conn, key_hash(key), tenant.id)
                for account in tenant.accounts:
                    values = {
                        "provider": account.provider,
                        "base_url": account.base_url,
                        "environment": account.environment,
                        "credentials": self._sealed(account),
                        "enabled": account.enabled,
                        "own_range": account.range,
                        "updated_at": now,
                    }
                    # changed through the API: the store wins
                    await overlay.put_account(conn, tenant.id, account.name, values, from_file=True)
                await numbering.seed(conn, tenant.id, tenant.numbering)
                await self._seed_routes(conn, tenant, now)

    def _sealed(self, account: Account) -> str:
        """Credentials at rest: sealed with the server secret key; without one, not stored at all
        (the tenants file, with its ${ENV} references, stays their only source)."""
        key = self.config.server.secret_key
        return seal(key, msgspec.json.encode(account.credentials)) if key else ""

    async def _seed_routes(self, conn: Conn, tenant: Tenant, now: float) -> None:
        """The file's rules win when they changed since the last start; otherwise rules set through
        `PUT /v1/routing` survive a restart."""
        source_hash = hashlib.sha256(msgspec.json.encode(tenant.routes)).hexdigest()
        current = await tenants_store.routing_source_hash(conn, tenant.id)
        if current is None:
            await tenants_store.insert_routing(conn, tenant.id, tenant.routes, source_hash, now)
        elif current != source_hash:
            await tenants_store.set_routing(conn, tenant.id, tenant.routes, now, source_hash=source_hash)
