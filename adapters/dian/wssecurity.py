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
import uuid
from collections.abc import Callable
from typing import Final, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from adapters.dian.certificates import SigningIdentity
from adapters.dian.templates import digest, template
from canonical import clock

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


def _stamp(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sign_envelope(envelope: etree._Element, identity: SigningIdentity, now: dt.datetime | None = None):
    """Add wsse:Security to a SOAP 1.2 envelope that has wsa:To; returns the signed envelope."""
    token = uuid.uuid4().hex
    now = now or clock.now(dt.UTC)
    _secure(envelope, identity, token, _stamp(now), _stamp(now + TIMESTAMP_LIFETIME))
    return envelope


class _Secured(NamedTuple):
    to: etree._Element
    timestamp: etree._Element
    signed_info: etree._Element
    digests: tuple[etree._Element, etree._Element]  # ds:DigestValue of wsa:To, of wsu:Timestamp
    signature_value: etree._Element


def _secure(
    envelope: etree._Element, identity: SigningIdentity, token: str, created: str, expires: str
) -> _Secured:
    header = envelope.find(f"{{{SOAP12}}}Header")
    old_to = header.find(f"{{{WSA}}}To") if header is not None else None
    if old_to is None:
        raise ValueError("the envelope has no wsa:To to sign")
    # A fresh wsa:To declaring wsu itself: its exclusive C14N is then the same in memory as in the
    # bytes the receiver parses (zeep's tree may differ from its own serialisation otherwise,
    # research/stack.md §3), so nothing needs re-parsing before digesting.
    to = etree.Element(f"{{{WSA}}}To", {_ID: f"id-{token}"}, nsmap={"wsa": WSA, "wsu": WSU})
    to.text = old_to.text
    header.replace(old_to, to)
    security = etree.Element(_S + "Security", nsmap={"wsse": WSSE, "wsu": WSU, "ds": DS})
    security.set(f"{{{SOAP12}}}mustUnderstand", "true")
    header.insert(0, security)
    timestamp = _el(security, _U + "Timestamp", **{_ID: f"TS-{token}"})
    _el(timestamp, _U + "Created", created)
    _el(timestamp, _U + "Expires", expires)
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
    digests = []
    for node in (to, timestamp):
        ref = _el(signed_info, _D + "Reference", URI="#" + node.get(_ID))
        _el(_el(ref, _D + "Transforms"), _D + "Transform", Algorithm=EXC_C14N)
        _el(ref, _D + "DigestMethod", Algorithm=SHA256)
        digests.append(_el(ref, _D + "DigestValue", digest(_c14n(node))))
    value = identity.key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    signature_value = _el(signature, _D + "SignatureValue", base64.b64encode(value).decode())
    _el(
        _el(_el(signature, _D + "KeyInfo"), _S + "SecurityTokenReference"),
        _S + "Reference",
        URI=f"#X509-{token}",
        ValueType=X509V3,
    )
    return _Secured(to, timestamp, signed_info, (digests[0], digests[1]), signature_value)


class EnvelopeTemplate:
    """One operation's signed envelope for one endpoint and certificate, as `str.format` templates.

    zeep renders the envelope once with markers for the parameters; `_secure` signs it once with
    markers for the message id, token, times, digests and value; each marker becomes a field.
    Per message only the fields are filled (ids, times, base64 and plain strings that neither
    serialisation escapes), the exclusive C14N of wsa:To, wsu:Timestamp and ds:SignedInfo come from
    their own templates, and the bytes equal what zeep + `sign_envelope` write
    (tests/unit/test_dian_equivalence.py)."""

    __slots__ = ("envelope", "signed_info", "timestamp", "to")

    def __init__(self, envelope: str, to: str, timestamp: str, signed_info: str) -> None:
        self.envelope, self.to, self.timestamp, self.signed_info = envelope, to, timestamp, signed_info

    @classmethod
    def build(
        cls, unsigned: etree._Element, identity: SigningIdentity, params: dict[str, str]
    ) -> EnvelopeTemplate | None:
        """From zeep's unsigned envelope whose parameters hold the markers `params` (marker → field
        name, each written once); None when the envelope is not what the templates expect."""
        nonce = uuid.uuid4().hex
        marks = {f"@{nonce}{name}@": name for name in ("message_id", "token", "created", "expires")}
        marks.update({f"@{nonce}{name}@": name for name in ("d_to", "d_ts", "value")})
        mark = {name: m for m, name in marks.items()}
        message_id = unsigned.find(f"{{{SOAP12}}}Header/{{{WSA}}}MessageID")
        if message_id is None:
            return None
        message_id.text = mark["message_id"]
        secured = _secure(unsigned, identity, mark["token"], mark["created"], mark["expires"])
        secured.digests[0].text = mark["d_to"]
        secured.digests[1].text = mark["d_ts"]
        secured.signature_value.text = mark["value"]
        envelope = etree.tostring(unsigned, xml_declaration=True, encoding="UTF-8").decode()
        if any(envelope.count(m) != 1 for m in params):
            return None
        marks.update(params)

        parts = (
            template(envelope, marks),
            template(_c14n(secured.to).decode(), marks),
            template(_c14n(secured.timestamp).decode(), marks),
            template(_c14n(secured.signed_info).decode(), marks),
        )
        if any(nonce in part for part in parts):
            return None
        return cls(*parts)

    def render(
        self, identity: SigningIdentity, values: dict[str, str], now: dt.datetime | None = None
    ) -> bytes:
        """The signed envelope for parameter `values` (field name → text as zeep writes it)."""
        fields = dict(values)
        fields["message_id"] = "urn:uuid:" + str(uuid.uuid4())  # as zeep's WS-Addressing writes it
        fields["token"] = uuid.uuid4().hex
        now = now or clock.now(dt.UTC)
        fields["created"], fields["expires"] = _stamp(now), _stamp(now + TIMESTAMP_LIFETIME)
        fields["d_to"] = digest(self.to.format_map(fields).encode())
        fields["d_ts"] = digest(self.timestamp.format_map(fields).encode())
        signed_info = self.signed_info.format_map(fields).encode()
        value = identity.key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())
        fields["value"] = base64.b64encode(value).decode()
        return self.envelope.format_map(fields).encode()
