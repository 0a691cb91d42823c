"""The account's signing identity, loaded once from its PKCS#12.

Loading a PKCS#12 costs 25–29 ms (PBKDF2, research/stack.md §4): about 20 signatures' worth. The
identity is cached per (file, modification time, password), so a renewed certificate is picked up.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from adapters.base import Misconfigured, certificate_version
from canonical import clock


class SigningIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """Key and certificate plus the figures every signature repeats (computed once)."""

    key: RSAPrivateKey
    certificate: x509.Certificate
    certificate_b64: str  # base64 DER, for ds:X509Certificate and wsse:BinarySecurityToken
    certificate_sha256_b64: str  # xades:CertDigest
    issuer_name: str  # RFC 4514, for ds:X509IssuerName
    serial_number: str  # decimal, for ds:X509SerialNumber
    not_after: dt.datetime


def load_identity(path: str, password: str) -> SigningIdentity:
    """The identity in a PKCS#12 file; Misconfigured (never the password) when it cannot be used."""
    return _load(path, certificate_version(path), password)


@functools.lru_cache(maxsize=64)
def _load(path: str, mtime: int, password: str) -> SigningIdentity:
    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(Path(path).read_bytes(), password.encode())
    except ValueError:
        raise Misconfigured("certificate: wrong password or not a PKCS#12 file", code="certificate") from None
    if not isinstance(key, RSAPrivateKey) or cert is None:
        raise Misconfigured("certificate: the PKCS#12 holds no RSA key and certificate", code="certificate")
    now = clock.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        # DIAN rule ZD07: a certificate not yet valid or expired rejects every document.
        raise Misconfigured(
            f"certificate expired or not yet valid (until {cert.not_valid_after_utc:%Y-%m-%d})",
            code="certificate-expired",
        )
    der = cert.public_bytes(Encoding.DER)
    return SigningIdentity(
        key=key,
        certificate=cert,
        certificate_b64=base64.b64encode(der).decode(),
        certificate_sha256_b64=base64.b64encode(hashlib.sha256(der).digest()).decode(),
        issuer_name=cert.issuer.rfc4514_string(),
        serial_number=str(cert.serial_number),
        not_after=cert.not_valid_after_utc,
    )
