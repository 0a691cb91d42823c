"""Tenant API keys: only SHA-256 digests are kept (memory and store), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class ApiKeys:
    """Which tenant a bearer token belongs to."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._digests = [(bytes.fromhex(key_hash(key)), tenant_id) for tenant_id, key in pairs]

    def tenant_for(self, authorization: str | None) -> str | None:
        """The tenant id of an `Authorization: Bearer <key>` header, or None."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        presented = bytes.fromhex(key_hash(authorization[7:].strip()))
        found = None
        for digest, tenant_id in self._digests:  # every digest is compared: no early exit to time
            if hmac.compare_digest(digest, presented):
                found = tenant_id
        return found
