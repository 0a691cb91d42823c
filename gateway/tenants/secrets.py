"""Secrets: provider secrets at rest, sealed with a key derived from the server secret key (Fernet),
and the one reading of a webhook signing secret (Standard Webhooks), used to validate and to sign."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Final

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX: Final = "whsec_"
KEY_BYTES: Final = range(24, 65)  # the spec: at least 24 random bytes (192 bits), at most 64 (512 bits)


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()))


def seal(secret_key: str, plaintext: bytes) -> str:
    return _fernet(secret_key).encrypt(plaintext).decode()


def unseal(secret_key: str, token: str) -> bytes:
    """Raises ValueError when the token was sealed with another key (or tampered with)."""
    try:
        return _fernet(secret_key).decrypt(token.encode())
    except InvalidToken:
        raise ValueError("sealed secret does not open with this secret key") from None


def signing_key(secret: str) -> bytes:
    """The key bytes of a secret: standard base64 (padding optional), optionally after `whsec_`.
    Raises ValueError for anything else, with what is wrong."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(
            "not base64 (Standard Webhooks secrets are base64 of random bytes, optionally prefixed whsec_)"
        ) from None
    if len(key) not in KEY_BYTES:
        raise ValueError(
            f"{len(key)} key bytes; Standard Webhooks wants {KEY_BYTES.start} to {KEY_BYTES.stop - 1}"
        )
    return key
