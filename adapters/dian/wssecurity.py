"""WS-Security for DIAN's SOAP service, as a zeep `wsse` plugin (lxml + cryptography, no xmlsec).

DIAN's binding (research/dian.md §5.3): identity travels in the message, not in TLS. The header is
`wsse:Security` with a `wsu:Timestamp`, the X.509 `BinarySecurityToken` and a `ds:Signature`
(exclusive C14N, RSA-SHA256) over `wsa:To`. We also sign the Timestamp: DIAN's WS-Policy asks for
it and both styles are accepted in production (§8, "signing both is the safe choice").

zeep's stock BinarySignature cannot sign wsa:To and verifies replies with our own certificate
(research/stack.md §3), hence this plugin.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from adapters.dian.certificates import SigningIdentity

WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSA: Final = "http://www.w3.org/2005/08/addressing"
SOAP12: Final = "http://www.w3.org/2003/05/soap-envelope"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
X509V3: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

TIMESTAMP_LIFETIME: Final = dt.timedelta(minutes=5)  # the Anexo's examples (§5.3)

_S, _U, _D = f"{{{WSSE}}}", f"{{{WSU}}}", f"{{{DS}}}"
_ID: Final = f"{{{WSU}}}Id"


def _c14n(node: etree._Element) -> bytes:
    return etree.tostring(node, method="c14n", exclusive=True)


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs) if attrs else etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


class WsSecuritySigner:
    """Signs every outgoing envelope with the account's certificate (zeep calls `apply`).

    `identity` is asked on each message: a renewed certificate file is used from its next message."""

    def __init__(self, identity: Callable[[], SigningIdentity]) -> None:
        self.identity = identity

    def apply(self, envelope: etree._Element, headers: dict) -> tuple[etree._Element, dict]:
        return sign_envelope(envelope, self.identity()), headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        """DIAN's replies carry only a Timestamp: nothing to verify (zeep would use our own cert)."""
        return envelope


def sign_envelope(envelope: etree._Element, identity: SigningIdentity, now: dt.datetime | None = None):
    """Add wsse:Security to a SOAP 1.2 envelope that has wsa:To; returns the signed envelope."""
    header = envelope.find(f"{{{SOAP12}}}Header")
    old_to = header.find(f"{{{WSA}}}To") if header is not None else None
    if old_to is None:
        raise ValueError("the envelope has no wsa:To to sign")
    token = uuid.uuid4().hex
    # A fresh wsa:To declaring wsu itself: its exclusive C14N is then the same in memory as in the
    # bytes the receiver parses (zeep's tree may differ from its own serialisation otherwise,
    # research/stack.md §3), so nothing needs re-parsing before digesting.
    to = etree.Element(f"{{{WSA}}}To", {_ID: f"id-{token}"}, nsmap={"wsa": WSA, "wsu": WSU})
    to.text = old_to.text
    header.replace(old_to, to)
    now = now or dt.datetime.now(dt.UTC)
    security = etree.Element(_S + "Security", nsmap={"wsse": WSSE, "wsu": WSU, "ds": DS})
    security.set(f"{{{SOAP12}}}mustUnderstand", "true")
    header.insert(0, security)
    timestamp = _el(security, _U + "Timestamp", **{_ID: f"TS-{token}"})
    _el(timestamp, _U + "Created", now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    _el(timestamp, _U + "Expires", (now + TIMESTAMP_LIFETIME).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    _el(
        security,
        _S + "BinarySecurityToken",
        identity.certificate_b64,
        EncodingType=BASE64,
        ValueType=X509V3,
        **{_ID: f"X509-{token}"},
    )
    signature = _el(security, _D + "Signature", Id=f"SIG-{token}")
    signed_info = _el(signature, _D + "SignedInfo")
    _el(signed_info, _D + "CanonicalizationMethod", Algorithm=EXC_C14N)
    _el(signed_info, _D + "SignatureMethod", Algorithm=RSA_SHA256)
    for node in (to, timestamp):
        ref = _el(signed_info, _D + "Reference", URI="#" + node.get(_ID))
        _el(_el(ref, _D + "Transforms"), _D + "Transform", Algorithm=EXC_C14N)
        _el(ref, _D + "DigestMethod", Algorithm=SHA256)
        _el(ref, _D + "DigestValue", base64.b64encode(hashlib.sha256(_c14n(node)).digest()).decode())
    value = identity.key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    _el(signature, _D + "SignatureValue", base64.b64encode(value).decode())
    _el(
        _el(_el(signature, _D + "KeyInfo"), _S + "SecurityTokenReference"),
        _S + "Reference",
        URI=f"#X509-{token}",
        ValueType=X509V3,
    )
    return envelope
