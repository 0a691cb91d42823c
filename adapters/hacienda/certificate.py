"""MH's signing certificate: the `<NIT>.crt` XML file Hacienda issues when it accredits an emisor.

Not an X.509 file: an XML document whose `privateKey/encodied` is a base64 PKCS#8 RSA key and whose
`privateKey/clave` is the SHA-512 (hex) of the private-key password. MH's firmador refuses to sign
unless the SHA-512 of the `passwordPri` it is given equals that `clave`; we check it the same way
(research/sv.md §4.1; contracts/hacienda/SOURCES.md). `publicKey/encodied` is the X.509
SubjectPublicKeyInfo MH keeps to verify our signatures.

`write_test_certificate` makes a file in the same format for the simulator and a first run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import uuid
from pathlib import Path
from typing import Final
from xml.etree import ElementTree

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from adapters.base import Misconfigured, certificate_version

KEY_BITS: Final = 2048
ROOT: Final = "CertificadoMH"


class MhCertificate(msgspec.Struct, frozen=True, kw_only=True):
    """The parts of a `.crt` the signer needs (the key already checked against its password)."""

    nit: str
    key: RSAPrivateKey
    public_key_der: bytes  # SubjectPublicKeyInfo, as MH holds it


def password_hash(password: str) -> str:
    """`privateKey/clave`: SHA-512 of the password, lower-case hex (how the firmador compares it)."""
    return hashlib.sha512(password.encode()).hexdigest()


def load_certificate(path: str, password: str) -> MhCertificate:
    """The certificate in an MH `.crt`; Misconfigured (never the password) when it cannot be used."""
    return _load(path, certificate_version(path), password)


@functools.lru_cache(maxsize=64)
def _load(path: str, mtime: int, password: str) -> MhCertificate:
    try:
        root = ElementTree.fromstring(Path(path).read_bytes())
    except ElementTree.ParseError:
        raise Misconfigured("certificate: not MH's .crt XML", code="certificate") from None
    fields = {
        name: (root.findtext(name) or "").strip()
        for name in ("nit", "activo", "privateKey/encodied", "privateKey/clave", "publicKey/encodied")
    }
    if not fields["privateKey/encodied"] or not fields["privateKey/clave"]:
        raise Misconfigured("certificate: the .crt holds no private key", code="certificate")
    if fields["activo"].lower() == "false":
        raise Misconfigured("certificate: MH marks this certificate inactive", code="certificate-inactive")
    # The firmador's check: SHA-512 of the given password against the stored hash (constant time).
    if not hmac.compare_digest(password_hash(password), fields["privateKey/clave"].lower()):
        raise Misconfigured(
            "certificate: the private-key password does not match the certificate",
            code="certificate-password",
        )
    try:
        key = serialization.load_der_private_key(base64.b64decode(fields["privateKey/encodied"]), None)
    except ValueError:
        raise Misconfigured("certificate: the private key is not PKCS#8", code="certificate") from None
    if not isinstance(key, RSAPrivateKey):
        raise Misconfigured("certificate: the private key is not RSA", code="certificate")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return MhCertificate(nit=fields["nit"], key=key, public_key_der=public)


def write_test_certificate(nit: str, password: str, directory: Path) -> Path:
    """A new key pair in MH's `.crt` format, `<directory>/<NIT>.crt` (simulator and first runs only:
    a real one comes from Hacienda's portal)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    root = ElementTree.Element(ROOT)
    ElementTree.SubElement(root, "_id").text = str(uuid.uuid4())
    ElementTree.SubElement(root, "nit").text = nit
    for tag, kind, encoded, fmt, clave in (
        ("publicKey", "PUBLIC", public, "X.509", None),
        ("privateKey", "PRIVATE", private, "PKCS#8", password_hash(password)),
    ):
        element = ElementTree.SubElement(root, tag)
        ElementTree.SubElement(element, "keyType").text = kind
        ElementTree.SubElement(element, "algorithm").text = "RSA"
        ElementTree.SubElement(element, "encodied").text = base64.b64encode(encoded).decode()
        ElementTree.SubElement(element, "format").text = fmt
        if clave:
            ElementTree.SubElement(element, "clave").text = clave
    ElementTree.SubElement(root, "activo").text = "true"
    ElementTree.SubElement(root, "verificado").text = "true"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{nit}.crt"
    path.write_bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
    path.chmod(0o600)  # it holds an unencrypted private key, as MH's own file does
    return path
