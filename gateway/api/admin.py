"""`/v1/admin/...` (tenant API key): API keys, provider accounts, numbering ranges, webhooks.
`/v1/tenants` (the admin key): create and list tenants. Thin: gateway.admin holds the logic."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, ClassVar, TypeVar

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from adapters.base import NumberingRange
from gateway.admin import (
    AccountPatch,
    AccountRequest,
    AccountTest,
    AccountView,
    AdminRefusal,
    AdminService,
    ApiKeyRequest,
    ApiKeyRevealed,
    ApiKeyView,
    DeliveryView,
    ImportRequest,
    NextRequest,
    RangeView,
    RotateRequest,
    SecretRotation,
    TenantCreated,
    TenantRequest,
    TenantView,
    WebhookRequest,
    WebhookRevealed,
    WebhookView,
)
from gateway.api.deps import current_tenant, runtime
from gateway.api.openapi import ADMIN_KEY, AUTHENTICATED, TENANT_KEY, WITH_BODY, problems
from gateway.api.problems import Problem
from gateway.tenants.config import Tenant

T = TypeVar("T")
_SLUGS = {404: "not-found", 409: "conflict", 422: "bad-request", 502: "provider"}


def _admin(request: Request[Any, Any, Any]) -> AdminService:
    return AdminService(runtime(request))


async def _answer(call: Awaitable[T]) -> T:
    """AdminRefusal → problem details with `errors: [{path, rule, message}]`."""
    try:
        return await call
    except AdminRefusal as exc:
        raise Problem(
            exc.status,
            _SLUGS.get(exc.status, "bad-request"),
            exc.message,
            errors=[{"path": exc.path, "rule": exc.rule, "message": exc.message}],
        ) from None


class AdminController(Controller):
    path = "/v1/admin"
    tags: ClassVar[list[str]] = ["administration"]
    security = TENANT_KEY
    dependencies: ClassVar[dict[str, Provide]] = {"tenant": Provide(current_tenant)}

    # -- API keys
    @get("/api-keys", operation_id="listApiKeys", responses=problems(*AUTHENTICATED))
    async def list_keys(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant]
    ) -> list[ApiKeyView]:
        """This tenant's API keys, without their secrets."""
        return await _admin(request).list_keys(tenant)

    @post(
        "/api-keys",
        operation_id="createApiKey",
        status_code=201,
        responses=problems(*AUTHENTICATED, *WITH_BODY),
    )
    async def create_key(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], data: JSONBody[ApiKeyRequest]
    ) -> ApiKeyRevealed:
        """A new key, revealed in this answer only."""
        return await _answer(_admin(request).create_key(tenant, data))

    @delete(
        "/api-keys/{key_id:str}",
        operation_id="revokeApiKey",
        status_code=200,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def revoke_key(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], key_id: FromPath[str]
    ) -> ApiKeyView:
        """Revoke a key: it stops working at once, in every gateway process."""
        return await _answer(_admin(request).revoke_key(tenant, key_id))

    @post(
        "/api-keys/{key_id:str}/rotate",
        operation_id="rotateApiKey",
        status_code=201,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409, 422),
    )
    async def rotate_key(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        key_id: FromPath[str],
        data: JSONBody[RotateRequest | None] = None,
    ) -> ApiKeyRevealed:
        """A replacement key (revealed once); the old one keeps working for `overlap_s` (default 1 h)."""
        return await _answer(_admin(request).rotate_key(tenant, key_id, data or RotateRequest()))

    # -- provider accounts
    @get("/accounts", operation_id="listAccounts", responses=problems(*AUTHENTICATED))
    async def list_accounts(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant]
    ) -> list[AccountView]:
        """Accounts with the names of their credential fields (never their values)."""
        return await _admin(request).list_accounts(tenant)

    @post(
        "/accounts",
        operation_id="createAccount",
        status_code=201,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 409, 422),
    )
    async def create_account(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], data: JSONBody[AccountRequest]
    ) -> AccountView:
        """Add a provider account; credentials are sealed with the server secret key."""
        return await _answer(_admin(request).create_account(tenant, data))

    @patch(
        "/accounts/{name:str}",
        operation_id="updateAccount",
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409, 422),
    )
    async def update_account(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        name: FromPath[str],
        data: JSONBody[AccountPatch],
    ) -> AccountView:
        """Change an account (`{"enabled": false}` disables it); given credentials are merged."""
        return await _answer(_admin(request).update_account(tenant, name, data))

    @post(
        "/accounts/{name:str}/test",
        operation_id="testAccount",
        status_code=200,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def test_account(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], name: FromPath[str]
    ) -> AccountTest:
        """Call the provider's health or `me` route (or a status call) with the account's credentials."""
        return await _answer(_admin(request).test_account(tenant, name))

    # -- numbering ranges
    @get("/numbering", operation_id="listNumberingRanges", responses=problems(*AUTHENTICATED))
    async def list_ranges(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant]
    ) -> list[RangeView]:
        """Ranges with the next consecutive, how many are used and how many remain."""
        return await _admin(request).list_ranges(tenant)

    @post(
        "/numbering",
        operation_id="createNumberingRange",
        status_code=201,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 409, 422),
    )
    async def create_range(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], data: JSONBody[NumberingRange]
    ) -> RangeView:
        """Add an authorised range (DIAN resolution: prefix, from/to, dates, technical key)."""
        return await _answer(_admin(request).create_range(tenant, data))

    @post(
        "/numbering/{name:str}/retire",
        operation_id="retireNumberingRange",
        status_code=200,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def retire_range(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], name: FromPath[str]
    ) -> RangeView:
        """Stop allocating from a range (documents already numbered from it keep its data)."""
        return await _answer(_admin(request).retire_range(tenant, name))

    @post(
        "/numbering/{name:str}/next",
        operation_id="setNumberingNext",
        status_code=200,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409),
    )
    async def set_next(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        name: FromPath[str],
        data: JSONBody[NextRequest],
    ) -> RangeView:
        """Set the consecutive a range gives next (after moving the store); 409 when a document
        already holds that number or a later one."""
        return await _answer(_admin(request).set_next(tenant, name, data))

    @post(
        "/numbering/import",
        operation_id="importNumberingRanges",
        status_code=200,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409, 422, 502),
    )
    async def import_ranges(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], data: JSONBody[ImportRequest]
    ) -> list[RangeView]:
        """Direct DIAN: store the ranges GetNumberingRange returns for the account's software."""
        return await _answer(_admin(request).import_ranges(tenant, data))

    # -- webhooks
    @get("/webhooks", operation_id="listWebhooks", responses=problems(*AUTHENTICATED))
    async def list_webhooks(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant]
    ) -> list[WebhookView]:
        """Subscribed endpoints and their events (secrets are never shown again)."""
        return await _admin(request).list_webhooks(tenant)

    @post(
        "/webhooks",
        operation_id="createWebhook",
        status_code=201,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 409, 422),
    )
    async def create_webhook(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], data: JSONBody[WebhookRequest]
    ) -> WebhookRevealed:
        """Subscribe a URL to events; the signing secret (`whsec_...`) is revealed once."""
        return await _answer(_admin(request).create_webhook(tenant, data))

    @post(
        "/webhooks/{hook_id:str}/rotate-secret",
        operation_id="rotateWebhookSecret",
        status_code=200,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409, 422),
    )
    async def rotate_webhook_secret(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        hook_id: FromPath[str],
        data: JSONBody[SecretRotation | None] = None,
    ) -> WebhookRevealed:
        """A new signing secret, revealed once; for `overlap_s` (default 1 h) deliveries carry the
        old secret's signature too, so the receiver can switch without losing one."""
        return await _answer(_admin(request).rotate_webhook_secret(tenant, hook_id, data or SecretRotation()))

    @delete(
        "/webhooks/{hook_id:str}",
        operation_id="deleteWebhook",
        status_code=200,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def delete_webhook(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], hook_id: FromPath[str]
    ) -> WebhookView:
        """Unsubscribe an endpoint."""
        return await _answer(_admin(request).delete_webhook(tenant, hook_id))

    @get(
        "/webhooks/deliveries", operation_id="listWebhookDeliveries", responses=problems(*AUTHENTICATED, 400)
    )
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        delivery_state: Annotated[
            str | None, QueryParameter(name="state", description="pending | delivered | failed")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> list[DeliveryView]:
        """Recent deliveries, newest first."""
        return await _admin(request).deliveries(tenant, delivery_state, limit)

    @post(
        "/webhooks/deliveries/{delivery_id:str}/redeliver",
        operation_id="redeliverWebhook",
        status_code=202,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def redeliver(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], delivery_id: FromPath[str]
    ) -> DeliveryView:
        """Queue a delivery again, with the same `webhook-id`."""
        return await _answer(_admin(request).redeliver(tenant, delivery_id))


async def admin_only(request: Request[Any, Any, Any]) -> AdminService:
    """The admin key (`Authorization: Bearer <PASARELA_ADMIN_KEY>`), checked against its stored digest."""
    service = _admin(request)
    if not await service.is_admin(request.headers.get("authorization")):
        raise Problem(401, "unauthorized", "send `Authorization: Bearer <admin key>` (PASARELA_ADMIN_KEY)")
    return service


class TenantsController(Controller):
    path = "/v1/tenants"
    tags: ClassVar[list[str]] = ["administration"]
    security = ADMIN_KEY
    dependencies: ClassVar[dict[str, Provide]] = {"admin": Provide(admin_only)}

    @get("/", operation_id="listTenants", responses=problems(*AUTHENTICATED))
    async def list_tenants(self, admin: NamedDependency[AdminService]) -> list[TenantView]:
        """Every tenant (from the file and from this API)."""
        return await admin.list_tenants()

    @post(
        "/",
        operation_id="createTenant",
        status_code=201,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 409, 422),
    )
    async def create_tenant(
        self, admin: NamedDependency[AdminService], data: JSONBody[TenantRequest]
    ) -> TenantCreated:
        """A tenant with its issuer and a first API key (revealed once). Add accounts, ranges and
        routing with that key."""
        return await _answer(admin.create_tenant(data))
