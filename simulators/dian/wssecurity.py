"""WS-Security as DIAN's service checks it (research/dian.md §5.3): a Timestamp inside its window, an
X.509 BinarySecurityToken (chained to the trust store in strict mode), and a signature with
exclusive C14N whose references cover wsa:To and the Timestamp. Written independently of the
adapter's signer (simulators never import adapters)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from canonical import clock
from simulators.dian.names import EXC_C14N, NS, WSU_ID

CLOCK_SKEW: Final = dt.timedelta(minutes=5)


class SecurityError(Exception):
    """The message is refused before DIAN reads it: a SOAP Fault, not a DianResponse."""


def check_security(envelope: etree._Element, trust: list[x509.Certificate]) -> x509.Certificate:
    """The caller's certificate, once the header passes DIAN's checks; SecurityError otherwise."""
    security = envelope.find("s:Header/wsse:Security", NS)
    if security is None:
        raise SecurityError("no wsse:Security header")
    timestamp = security.find("wsu:Timestamp", NS)
    if timestamp is None:
        raise SecurityError("no wsu:Timestamp")
    try:
        created = dt.datetime.fromisoformat(timestamp.findtext("wsu:Created", namespaces=NS))
        expires = dt.datetime.fromisoformat(timestamp.findtext("wsu:Expires", namespaces=NS))
    except (TypeError, ValueError):
        raise SecurityError("unreadable Timestamp") from None
    now = clock.now(dt.UTC)
    if created > now + CLOCK_SKEW or expires < now - CLOCK_SKEW:
        raise SecurityError("the message Timestamp is outside its validity window")
    token = security.find("wsse:BinarySecurityToken", NS)
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(token.text))
    except (AttributeError, TypeError, ValueError, binascii.Error):
        raise SecurityError("no usable X.509 BinarySecurityToken") from None
    check_certificate(cert, trust)
    signature = security.find("ds:Signature", NS)
    if signature is None:
        raise SecurityError("no ds:Signature")
    signed_info = signature.find("ds:SignedInfo", NS)
    if signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm") != EXC_C14N:
        raise SecurityError("SignedInfo must use exclusive C14N")
    by_id = {el.get(WSU_ID): el for el in envelope.iterfind(".//*[@wsu:Id]", NS)}
    signed = set()
    for ref in signed_info.iterfind("ds:Reference", NS):
        node = by_id.get((ref.get("URI") or "")[1:])
        if node is None:
            raise SecurityError(f"reference {ref.get('URI')} points nowhere")
        digest = base64.b64encode(
            hashlib.sha256(etree.tostring(node, method="c14n", exclusive=True)).digest()
        ).decode()
        if digest != ref.findtext("ds:DigestValue", namespaces=NS):
            raise SecurityError(f"digest mismatch for {etree.QName(node).localname}")
        signed.add(node)
    to = envelope.find("s:Header/wsa:To", NS)
    if to is None or to not in signed or timestamp not in signed:
        raise SecurityError("wsa:To and the Timestamp must be signed")
    try:
        cert.public_key().verify(
            base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=NS) or ""),
            etree.tostring(signed_info, method="c14n", exclusive=True),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        raise SecurityError("the message signature does not verify") from None
    return cert


def check_certificate(cert: x509.Certificate, trust: list[x509.Certificate]) -> None:
    """Dates always; the chain only when a trust store is set (strict mode)."""
    now = clock.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SecurityError("certificate expired or not yet valid")
    if not trust:
        return  # test mode: self-signed / unknown CA accepted (the live DIAN refuses them)
    for ca in trust:
        if ca.subject != cert.issuer:
            continue
        try:
            ca.public_key().verify(
                cert.signature,
                cert.tbs_certificate_bytes,
                padding.PKCS1v15(),
                cert.signature_hash_algorithm,
            )
            return
        except InvalidSignature:
            continue
    raise SecurityError("certificate not issued by a trusted CA")
