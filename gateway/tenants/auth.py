"""Tenant API keys: only SHA-256 digests are kept (tenants file at load, store, memory).

Authentication looks the presented key's digest up in the store's `api_keys` table. The secret
itself is never compared: a lookup's timing can tell at most something about a SHA-256 digest,
which says nothing about the key (preimage resistance), so the comparison is constant-time with
respect to the secret by construction.
"""

from __future__ import annotations

import hashlib


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()
