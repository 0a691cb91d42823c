"""API keys: created with a one-time reveal, listed without secrets, revoked at once, rotated with an
overlap during which the old key keeps working. Only SHA-256 digests are stored."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any, Final

from msgspec import Meta, Struct

from gateway.admin.base import AdminBase, AdminRefusal
from gateway.documents.resources import timestamp
from gateway.store import Conn, keys
from gateway.tenants.auth import key_hash
from gateway.tenants.config import Tenant

DEFAULT_OVERLAP_S: Final = 3600.0  # a rotated key keeps working this long, so clients can switch
MAX_SPAN_S: Final = 100 * 366 * 86400  # beyond this an instant no longer fits a date (a 500, not a 400)


class ApiKeyRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    label: str | None = None
    expires_in_s: Annotated[float, Meta(gt=0, le=MAX_SPAN_S)] | None = None


class RotateRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    overlap_s: Annotated[float, Meta(le=MAX_SPAN_S)] = DEFAULT_OVERLAP_S  # how long the old key keeps working


class ApiKeyView(Struct, kw_only=True):
    id: str
    label: str | None
    prefix: str | None  # the key's first characters, to tell keys apart
    active: bool
    created_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class ApiKeyRevealed(ApiKeyView, kw_only=True):
    key: str  # shown once: only its SHA-256 is stored


def new_api_key() -> str:
    return "psk_" + secrets.token_urlsafe(32)


def _key_view(row: Any, now: float, key_id: str) -> ApiKeyView:
    active = row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    return ApiKeyView(
        id=key_id,
        label=row.label,
        prefix=row.prefix,
        active=active,
        created_at=timestamp(row.created_at) if row.created_at else None,
        expires_at=timestamp(row.expires_at) if row.expires_at else None,
        revoked_at=timestamp(row.revoked_at) if row.revoked_at else None,
    )


class KeysAdmin(AdminBase):
    async def list_keys(self, tenant: Tenant) -> list[ApiKeyView]:
        async with self.rt.reader.connect() as conn:
            rows = await keys.of_tenant(conn, tenant.id)
        now = self.rt.clock()
        return [_key_view(r, now, r.key_id or "key_" + r.key_hash[:16]) for r in rows]

    async def _key_row(self, conn: Conn, tenant: Tenant, key_id: str) -> Any:
        file_key = key_id.startswith("key_") and len(key_id) == 20  # its id is its digest's start
        row = await keys.find(conn, tenant.id, key_id, digest_prefix=key_id[4:] if file_key else None)
        if row is None:
            raise AdminRefusal(404, "api-key-unknown", f"no API key {key_id!r} for this tenant")
        return row

    async def _insert_key(
        self,
        conn: Conn,
        tenant_id: str,
        label: str | None,
        now: float,
        expires_at: float | None = None,
    ) -> ApiKeyRevealed:
        key = new_api_key()
        key_id = "key_" + secrets.token_hex(10)
        await keys.insert(conn, key_hash(key), tenant_id, key_id, label, key[:10], now, expires_at)
        return ApiKeyRevealed(
            id=key_id,
            label=label,
            prefix=key[:10],
            active=True,
            created_at=timestamp(now),
            expires_at=timestamp(expires_at) if expires_at else None,
            key=key,
        )

    async def create_key(self, tenant: Tenant, request: ApiKeyRequest) -> ApiKeyRevealed:
        async def change(conn: Conn, now: float) -> ApiKeyRevealed:
            expires = now + request.expires_in_s if request.expires_in_s else None
            return await self._insert_key(conn, tenant.id, request.label, now, expires)

        return await self._commit(tenant.id, change)

    async def revoke_key(self, tenant: Tenant, key_id: str) -> ApiKeyView:
        async def change(conn: Conn, now: float) -> ApiKeyView:
            row = await self._key_row(conn, tenant, key_id)
            await keys.update(conn, row.key_hash, revoked_at=row.revoked_at or now)
            row = await self._key_row(conn, tenant, key_id)
            return _key_view(row, now, key_id)

        return await self._commit(tenant.id, change)

    async def rotate_key(self, tenant: Tenant, key_id: str, request: RotateRequest) -> ApiKeyRevealed:
        """A new key now; the old one keeps working for `overlap_s`, then stops."""
        if request.overlap_s < 0:
            raise AdminRefusal(422, "api-key-overlap", "overlap_s must be >= 0", "overlap_s")

        async def change(conn: Conn, now: float) -> ApiKeyRevealed:
            old = await self._key_row(conn, tenant, key_id)
            if old.revoked_at is not None:
                raise AdminRefusal(409, "api-key-revoked", f"API key {key_id!r} is revoked")
            ends = now + request.overlap_s
            if old.expires_at is not None:
                ends = min(ends, old.expires_at)
            await keys.update(conn, old.key_hash, expires_at=ends)
            return await self._insert_key(conn, tenant.id, old.label, now)

        return await self._commit(tenant.id, change)
