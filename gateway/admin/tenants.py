"""Tenants created with the separate admin key (`PASARELA_ADMIN_KEY`; only its digest is stored):
the issuer, dispatch settings, an empty routing table and a first API key shown once."""

from __future__ import annotations

import hmac
import re
from typing import Final

from msgspec import Struct, field

from canonical.document import Issuer
from canonical.validation import check_party
from gateway.admin.base import AdminRefusal
from gateway.admin.keys import ApiKeyRevealed, KeysAdmin
from gateway.store import keys
from gateway.store import tenants as tenants_store
from gateway.tenants import tenancy
from gateway.tenants.auth import key_hash
from gateway.tenants.config import Config, Dispatch, Tenant, validate_config

TENANT_ID: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")


class TenantRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    issuer: Issuer
    dispatch: Dispatch = field(default_factory=Dispatch)


class TenantView(Struct, kw_only=True):
    id: str
    name: str
    country: str
    source: str


class TenantCreated(TenantView, kw_only=True):
    api_key: ApiKeyRevealed


class TenantsAdmin(KeysAdmin):
    async def seed_admin_key(self) -> None:
        """The configured admin key's digest into the store (the key itself is never stored)."""
        key = self.rt.config.server.admin_key
        if not key:
            return
        async with self.rt.engine.begin() as conn:
            await keys.seed_admin(conn, key_hash(key), self.rt.clock())

    async def is_admin(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        presented = key_hash(authorization[7:].strip())
        async with self.rt.reader.connect() as conn:
            digests = await keys.admin_digests(conn)
        return any(hmac.compare_digest(d, presented) for d in digests)

    async def list_tenants(self) -> list[TenantView]:
        async with self.rt.reader.connect() as conn:
            rows = await tenants_store.all_rows(conn)
        return [
            TenantView(
                id=r.id,
                name=r.name,
                country=self.rt.tenants[r.id].issuer.country if r.id in self.rt.tenants else "",
                source=r.source,
            )
            for r in rows
        ]

    async def create_tenant(self, request: TenantRequest) -> TenantCreated:
        if not TENANT_ID.match(request.id):
            raise AdminRefusal(
                422, "tenant-id", "id: 2–64 of a-z 0-9 _ -, starting with a letter or digit", "id"
            )
        if request.issuer.country not in ("CO", "SV"):
            raise AdminRefusal(422, "tenant-country", "issuer.country must be CO or SV", "issuer.country")
        # the checks a tenants file gets at load: the issuer's identification, dispatch settings
        problem = next(check_party(request.issuer, request.issuer.country, "issuer"), None)
        if problem is not None:
            raise AdminRefusal(422, problem.rule, problem.message, problem.path)
        draft = Tenant(id=request.id, name=request.name, issuer=request.issuer, dispatch=request.dispatch)
        for text in validate_config(Config(tenants=[draft])):
            where, _, message = text.partition(": ")
            raise AdminRefusal(422, "tenant-dispatch", message, where.removeprefix(f"tenants[{request.id}]."))
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            created = await tenants_store.create(
                conn,
                request.id,
                request.name,
                request.issuer,
                request.dispatch,
                now,
            )
            if not created:
                raise AdminRefusal(409, "tenant-exists", f"tenant {request.id!r} exists", "id")
            await tenants_store.insert_routing(conn, request.id, [], key_hash("[]"), now)
            key = await self._insert_key(conn, request.id, "initial", now)
        await tenancy.reload(self.rt, request.id)
        return TenantCreated(
            id=request.id, name=request.name, country=request.issuer.country, source="api", api_key=key
        )
