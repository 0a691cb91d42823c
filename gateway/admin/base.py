"""What every administration operation shares: the refusal, the transaction that bumps the
tenant's revision (gateway.tenants.tenancy) and reloads it, and the server secret key that seals secrets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.store import Conn
from gateway.tenants import tenancy
from gateway.tenants.runtime import Runtime


class AdminRefusal(Exception):
    """A request the administration API refuses: `status` (404, 409, 422) and a stable `rule`."""

    def __init__(self, status: int, rule: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.status, self.rule, self.message, self.path = status, rule, message, path


class AdminBase:
    """State shared by the per-resource parts of gateway.admin.AdminService."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def _commit(self, tenant_id: str, change: Callable[[Conn, float], Awaitable[Any]]) -> Any:
        """One transaction: the change and the revision bump; then this process reloads."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            result = await change(conn, now)
            await tenancy.bump(conn, tenant_id, now)
        await tenancy.reload(self.rt, tenant_id)
        return result

    def _secret_key(self) -> str:
        key = self.rt.config.server.secret_key
        if not key:
            raise AdminRefusal(
                409,
                "secret-key-missing",
                "secrets are stored sealed: start the gateway with PASARELA_SECRET_KEY",
            )
        return key
