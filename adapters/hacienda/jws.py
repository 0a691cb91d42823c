"""JWS compact serialisation, RS512 (RSASSA-PKCS1-v1_5 with SHA-512), as MH's firmador signs a DTE.

Header `{"alg":"RS512"}` as the official firmador emits it; the payload is the DTE JSON exactly as we
send and store it (MH verifies the signature with the public key it holds for the NIT and needs no
particular serialisation: research/sv.md §4.1). PKCS#1 v1.5 is deterministic: the same DTE and key
give the same JWS, so a resend after a lost answer is byte-identical.
"""

from __future__ import annotations

import base64
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

HEADER: Final = b'{"alg":"RS512"}'


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(payload: bytes, key: RSAPrivateKey) -> str:
    """`header.payload.signature`, each base64url without padding (RFC 7515 §7.1)."""
    signing_input = f"{b64url(HEADER)}.{b64url(payload)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA512())
    return f"{signing_input}.{b64url(signature)}"
