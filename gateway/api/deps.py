"""Dependencies shared by the controllers: the runtime, the document service, the tenant."""

from __future__ import annotations

from typing import Any

from litestar import Request

from gateway.api.problems import Problem
from gateway.documents.service import DocumentService
from gateway.tenants.config import Tenant
from gateway.tenants.runtime import Runtime


def runtime(request: Request[Any, Any, Any]) -> Runtime:
    return request.app.state.runtime


def service(request: Request[Any, Any, Any]) -> DocumentService:
    return request.app.state.service


async def current_tenant(request: Request[Any, Any, Any]) -> Tenant:
    """The tenant whose API key is in `Authorization: Bearer <key>`, or a 401 problem."""
    from gateway.tenants.tenancy import authenticate  # keys live in the store: revocation is immediate

    tenant = await authenticate(runtime(request), request.headers.get("authorization"))
    if tenant is None:
        raise Problem(401, "unauthorized", "send `Authorization: Bearer <tenant API key>`")
    return tenant
