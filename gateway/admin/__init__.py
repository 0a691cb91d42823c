"""Tenant administration without editing files or restarting: API keys, provider accounts,
numbering ranges, webhook endpoints; and, with the separate admin key, tenants themselves.

Every change is one store transaction that also bumps the tenant's revision (gateway.tenants.tenancy), then
this process reloads the tenant at once and the others on their next request. Secrets are revealed
once (a new API key, a new webhook secret) and otherwise never leave: API keys are stored as
SHA-256 digests; provider credentials and webhook secrets are sealed with the server secret key
(`PASARELA_SECRET_KEY`, Fernet) and answered only as the names of their fields.

One module per resource; `AdminService` is their sum, built per request around the runtime.
"""

from __future__ import annotations

from gateway.admin.accounts import AccountPatch, AccountRequest, AccountsAdmin, AccountTest, AccountView
from gateway.admin.base import AdminRefusal
from gateway.admin.endpoints import (
    DeliveryView,
    EndpointsAdmin,
    SecretRotation,
    WebhookRequest,
    WebhookRevealed,
    WebhookView,
)
from gateway.admin.keys import ApiKeyRequest, ApiKeyRevealed, ApiKeyView, RotateRequest
from gateway.admin.ranges import ImportRequest, NextRequest, RangesAdmin, RangeView
from gateway.admin.tenants import TenantCreated, TenantRequest, TenantsAdmin, TenantView


class AdminService(TenantsAdmin, AccountsAdmin, RangesAdmin, EndpointsAdmin):
    """Every administration operation (keys come with TenantsAdmin, which issues a tenant's first key)."""


__all__ = [
    "AccountPatch",
    "AccountRequest",
    "AccountTest",
    "AccountView",
    "AdminRefusal",
    "AdminService",
    "ApiKeyRequest",
    "ApiKeyRevealed",
    "ApiKeyView",
    "DeliveryView",
    "ImportRequest",
    "NextRequest",
    "RangeView",
    "RotateRequest",
    "SecretRotation",
    "TenantCreated",
    "TenantRequest",
    "TenantView",
    "WebhookRequest",
    "WebhookRevealed",
    "WebhookView",
]
