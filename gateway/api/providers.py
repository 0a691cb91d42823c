"""`/v1/providers`: the tenant's accounts, their adapters' capabilities and circuit state."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, get
from litestar.di import NamedDependency, Provide

from adapters.base import adapter_class
from gateway.api.deps import current_tenant, runtime
from gateway.api.openapi import AUTHENTICATED, TENANT_KEY, problems
from gateway.dispatch import breaker
from gateway.documents.resources import ProviderAccountView
from gateway.tenants.config import Tenant


class ProvidersController(Controller):
    path = "/v1/providers"
    tags: ClassVar[list[str]] = ["providers"]
    security = TENANT_KEY
    dependencies: ClassVar[dict[str, Provide]] = {"tenant": Provide(current_tenant)}

    @get("/", operation_id="listProviders", responses=problems(*AUTHENTICATED))
    async def list_providers(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant]
    ) -> list[ProviderAccountView]:
        """Accounts, adapters, capabilities (countries, kinds, numbering) and circuit state."""
        rt = runtime(request)
        now = rt.clock()
        circuits = {r.account: r for r in await breaker.states(rt.reader) if r.tenant_id == tenant.id}
        views = []
        for account in tenant.accounts:
            view = ProviderAccountView(
                account=account.name,
                provider=account.provider,
                environment=account.environment,
                enabled=account.enabled,
                installed=False,
                circuit=breaker.state_name(circuits.get(account.name), now),
            )
            try:
                adapter = adapter_class(account.provider)
            except (KeyError, ImportError):
                views.append(view)
                continue
            view.installed = True
            view.countries = sorted(adapter.countries)
            view.kinds = sorted(adapter.kinds)
            view.numbering = adapter.numbering
            views.append(view)
        return views
