"""Provider secrets at rest: sealed with a key derived from the server secret key (Fernet)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


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
