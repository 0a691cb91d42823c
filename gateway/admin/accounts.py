"""Provider accounts: created and changed through the API with credentials sealed at rest and never
answered (only the names of their fields), disabled, and tested with the provider's own health or
`me` call."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct, field

from adapters.base import (
    Account,
    AccountRange,
    Environment,
    Misconfigured,
    ProviderFailure,
    adapter_class,
    load_credentials,
)
from gateway.admin.base import AdminBase, AdminRefusal
from gateway.delivery import alerts
from gateway.store import Conn, overlay
from gateway.tenants.config import Tenant, range_problems
from gateway.tenants.routing import Route, accounts_of, shared_ranges
from gateway.tenants.secrets import seal

_encoder = msgspec.json.Encoder()


class AccountRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    provider: str
    base_url: str
    environment: Environment = "test"
    credentials: dict[str, Any] = field(
        default_factory=dict
    )  # secrets, and tables such as Koywe's county_ids
    timeout_s: float = 10.0
    transmitter_code: str | None = None
    enabled: bool = True
    range: AccountRange | None = None  # self-numbering providers: the DIAN range they number from


class AccountPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields given change; `credentials` are merged over the current ones."""

    base_url: str | None = None
    environment: Environment | None = None
    credentials: dict[str, Any] | None = None
    timeout_s: float | None = None
    transmitter_code: str | None = None
    enabled: bool | None = None
    range: AccountRange | None = None


class AccountView(Struct, kw_only=True):
    name: str
    provider: str
    base_url: str
    environment: str
    enabled: bool
    timeout_s: float
    transmitter_code: str | None
    range: AccountRange | None
    credential_fields: list[str]  # names only: values never leave the gateway
    source: str  # file | api


class AccountTest(Struct, kw_only=True):
    account: str
    provider: str
    ok: bool
    outcome: str  # ok | misconfigured | unavailable | rejected
    probe: str  # which call was made
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def _account_view(account: Account, source: str) -> AccountView:
    return AccountView(
        name=account.name,
        provider=account.provider,
        base_url=account.base_url,
        environment=account.environment,
        enabled=account.enabled,
        timeout_s=account.timeout_s,
        transmitter_code=account.transmitter_code,
        range=account.range,
        credential_fields=sorted(account.credentials),
        source=source,
    )


def _check_account(tenant: Tenant, account: Account) -> None:
    """The tenants file's checks, for one account, plus its credentials' shape."""
    try:
        adapter = adapter_class(account.provider)
    except (KeyError, ImportError):
        raise AdminRefusal(
            422, "account-provider-unknown", f"adapter {account.provider!r} is not installed", "provider"
        ) from None
    if tenant.issuer.country not in adapter.countries:
        raise AdminRefusal(
            422,
            "account-country",
            f"{account.provider} serves {sorted(adapter.countries)}, not {tenant.issuer.country}",
            "provider",
        )
    if not account.base_url.startswith(("http://", "https://")):
        raise AdminRefusal(422, "account-base-url", "base_url must be an http(s) URL", "base_url")
    if account.timeout_s <= 0:
        raise AdminRefusal(422, "account-timeout", "timeout_s must be > 0", "timeout_s")
    try:
        load_credentials(adapter, account)  # type: ignore[arg-type]
    except Misconfigured as exc:
        raise AdminRefusal(422, "account-credentials", exc.message, "credentials") from None
    for problem in range_problems(account, adapter.numbering):
        where, _, message = problem.partition(": ")
        raise AdminRefusal(422, "account-range", message, "range" + where)


def _check_routes(routes: list[Route], tenant: Tenant, account: Account) -> None:
    """The rules in force must stay valid with the changed account (two self-numbering accounts
    of one chain sharing a range issue one number twice)."""
    by_name = {**{a.name: a for a in tenant.accounts}, account.name: account}
    for route in routes:
        problems = shared_ranges(accounts_of(route), by_name)
        if problems:
            raise AdminRefusal(409, "account-range-shared", problems[0].partition(": ")[2], "range")


class AccountsAdmin(AdminBase):
    async def _sources(self, tenant_id: str) -> dict[str, str]:
        async with self.rt.reader.connect() as conn:
            return await overlay.account_sources(conn, tenant_id)

    async def list_accounts(self, tenant: Tenant) -> list[AccountView]:
        sources = await self._sources(tenant.id)
        return [_account_view(a, sources.get(a.name, "file")) for a in tenant.accounts]

    async def _store_account(self, tenant: Tenant, account: Account, *, sealed: bool) -> AccountView:
        credentials = seal(self._secret_key(), _encoder.encode(account.credentials)) if sealed else ""
        values = {
            "provider": account.provider,
            "base_url": account.base_url,
            "environment": account.environment,
            "credentials": credentials,
            "enabled": account.enabled,
            "timeout_s": account.timeout_s,
            "transmitter_code": account.transmitter_code,
            "own_range": account.range,
            "source": "api",
        }

        async def change(conn: Conn, now: float) -> None:
            await overlay.put_account(conn, tenant.id, account.name, {**values, "updated_at": now})
            await alerts.clear(conn, tenant.id, "account.misconfigured", account.name, now)

        await self._commit(tenant.id, change)
        return _account_view(self.rt.tenants[tenant.id].account(account.name) or account, "api")

    async def create_account(self, tenant: Tenant, request: AccountRequest) -> AccountView:
        if tenant.account(request.name) is not None:
            raise AdminRefusal(409, "account-exists", f"account {request.name!r} exists; PATCH it", "name")
        self._secret_key()
        account = msgspec.convert(msgspec.to_builtins(request), Account)
        _check_account(tenant, account)
        _check_routes(await self.rt.routes(tenant.id), tenant, account)
        return await self._store_account(tenant, account, sealed=True)

    async def update_account(self, tenant: Tenant, name: str, patch: AccountPatch) -> AccountView:
        current = tenant.account(name)
        if current is None:
            raise AdminRefusal(404, "account-unknown", f"no account {name!r} for this tenant")
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not None}
        if "credentials" in changes:
            changes["credentials"] = {**current.credentials, **changes["credentials"]}
        account = msgspec.structs.replace(current, **changes)
        _check_account(tenant, account)
        _check_routes(await self.rt.routes(tenant.id), tenant, account)
        # without a secret key only `enabled` may change: the file then keeps the credentials
        sealed = bool(self.rt.config.server.secret_key) or set(changes) - {"enabled"} != set()
        return await self._store_account(tenant, account, sealed=sealed)

    async def test_account(self, tenant: Tenant, name: str) -> AccountTest:
        """Call the provider the cheapest way that needs the credentials; a 401/403 raises the
        `account.misconfigured` alert (once), a success clears it."""
        account = tenant.account(name)
        if account is None:
            raise AdminRefusal(404, "account-unknown", f"no account {name!r} for this tenant")
        probe = adapter_class(account.provider).health_probe
        result = AccountTest(account=name, provider=account.provider, ok=False, outcome="ok", probe=probe)
        try:
            health = await self.rt.adapter(tenant.id, account).health(tenant.issuer.id_number or "")
            result.ok, result.message, result.detail = True, health.message, health.detail
        except ProviderFailure as exc:
            result.outcome, result.message = exc.kind, exc.message
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            if result.outcome == "misconfigured":
                await alerts.raise_alert(
                    conn,
                    tenant,
                    "account.misconfigured",
                    name,
                    alerts.misconfigured_data(account, result.message, "test"),
                    now,
                )
            elif result.ok:
                await alerts.clear(conn, tenant.id, "account.misconfigured", name, now)
        return result
