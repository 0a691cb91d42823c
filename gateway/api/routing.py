"""`/v1/routing`: read and replace a tenant's routing rules at run time, validated like the file."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody
from msgspec import Struct

from gateway.api.deps import current_tenant, runtime
from gateway.api.openapi import AUTHENTICATED, TENANT_KEY, WITH_BODY, problems
from gateway.api.problems import Problem
from gateway.tenants.config import Tenant
from gateway.tenants.routing import Route, validate_routes


class RoutingRules(Struct, kw_only=True, forbid_unknown_fields=True):
    """First match wins: `match` on country, kinds, amounts, currency, customer id types, metadata;
    then `chain` (accounts in order) or `split` (weighted)."""

    routes: list[Route]


class RoutingController(Controller):
    path = "/v1/routing"
    tags: ClassVar[list[str]] = ["routing"]
    security = TENANT_KEY
    dependencies: ClassVar[dict[str, Provide]] = {"tenant": Provide(current_tenant)}

    @get("/", operation_id="getRouting", responses=problems(*AUTHENTICATED))
    async def read(self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant]) -> RoutingRules:
        """The rules in force."""
        return RoutingRules(routes=await runtime(request).routes(tenant.id))

    @put("/", operation_id="putRouting", responses=problems(*AUTHENTICATED, *WITH_BODY, 422))
    async def replace(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], data: JSONBody[RoutingRules]
    ) -> RoutingRules:
        """Replace the rules; refused (422, every problem named) when an account is unknown, lacks a
        kind, or a chain mixes numbering styles without `allow_mixed_numbering`."""
        problems = validate_routes(data.routes, tenant.accounts)
        if problems:
            errors = [
                {"path": p.partition(": ")[0], "rule": "routing-invalid", "message": p.partition(": ")[2]}
                for p in problems
            ]
            raise Problem(422, "routing", f"{len(problems)} problem(s) in the rules", errors=errors)
        await runtime(request).replace_routes(tenant.id, data.routes)
        return RoutingRules(routes=data.routes)
