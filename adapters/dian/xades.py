"""XAdES-EPES enveloped signature in DIAN's profile (research/dian.md §4), with lxml + cryptography.

A lean signer of our own rather than signxml's XAdESSigner: signxml re-serialises and re-parses the
document and writes SigningCertificateV2 (DIAN shows the v1 element with IssuerSerial). This one
takes the document already in C14N form (ubl.py writes it so) and fills text templates lxml made
once per certificate, so no C14N runs per document. Its output is checked in the tests by signxml's
XAdESVerifier and against the element-by-element signer (tests/unit/test_dian_equivalence.py).

- inclusive C14N 1.0, RSA-SHA256, SHA-256 digests;
- three references: the document (URI "", enveloped transform), KeyInfo, SignedProperties;
- KeyInfo holds X509Data only (DIAN's .NET verifier casts the first KeyInfo clause to X509Data);
- SigningTime in Colombian time; SigningCertificate v1 with IssuerSerial; DIAN's policy v2 and its
  SHA-256 digest; ClaimedRole "supplier";
- the signature fills the empty second UBLExtension.

The signature is deterministic for a given document, certificate and signing time (RSA PKCS#1 v1.5
has no randomness): the same emission always yields the same signed bytes, which is what makes
"resend the same signed document" after an ambiguous timeout true across processes.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Final, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from adapters.dian.certificates import SigningIdentity
from adapters.dian.templates import digest, template

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
XADES: Final = "http://uri.etsi.org/01903/v1.3.2#"
EXT: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
C14N: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIGNED_PROPERTIES: Final = "http://uri.etsi.org/01903#SignedProperties"

POLICY_ID: Final = "https://facturaelectronica.dian.gov.co/politicadefirma/v2/politicadefirmav2.pdf"
POLICY_DESCRIPTION: Final = "Política de firma para facturas electrónicas de la República de Colombia"
# SHA-256 of politicadefirmav2.pdf, recomputed from the file (research/dian.md §4).
POLICY_DIGEST: Final = "dMoMvtcG5aIzgYo0tIsSQeVJBDnUnfSOfBpxXrmor0Y="

_D, _X = f"{{{DS}}}", f"{{{XADES}}}"
_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_SLOT_OPEN: Final = b"<ext:ExtensionContent>"
_SLOT_CLOSE: Final = b"</ext:ExtensionContent>"
_EMPTY_SLOT: Final = _SLOT_OPEN + _SLOT_CLOSE  # how C14N writes the empty signature slot
_ID_NAMESPACE: Final = uuid.UUID("5b0f3c1e-6f43-4d0e-9a55-2f4f2a0d9d11")


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs) if attrs else etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _reference(
    signed_info,
    uri: str,
    digest: str,
    *,
    ref_id: str | None = None,
    type_: str | None = None,
    enveloped: bool = False,
) -> None:
    attrs = {"Id": ref_id} if ref_id else {}
    if type_:
        attrs["Type"] = type_
    attrs["URI"] = uri
    ref = _el(signed_info, _D + "Reference", **attrs)
    if enveloped:
        _el(_el(ref, _D + "Transforms"), _D + "Transform", Algorithm=ENVELOPED)
    _el(ref, _D + "DigestMethod", Algorithm=SHA256)
    _el(ref, _D + "DigestValue", digest)


def signature_slot(root: etree._Element) -> etree._Element:
    """The empty ext:ExtensionContent of the last UBLExtension, where the signature goes."""
    slot = root[0][-1][0]
    if slot.tag != f"{{{EXT}}}ExtensionContent" or len(slot):
        raise ValueError("the document has no empty UBLExtension for the signature")
    return slot


def _skeleton(identity: SigningIdentity, nsmap: dict) -> etree._Element:
    """Everything of the signature that depends only on the certificate and the root's namespaces."""
    signature = etree.Element(_D + "Signature", {"Id": ""}, nsmap=nsmap)
    signed_info = _el(signature, _D + "SignedInfo")
    _el(signed_info, _D + "CanonicalizationMethod", Algorithm=C14N)
    _el(signed_info, _D + "SignatureMethod", Algorithm=RSA_SHA256)
    _reference(signed_info, "", "", ref_id="-ref0", enveloped=True)
    _reference(signed_info, "#-keyinfo", "")
    _reference(signed_info, "#-signedprops", "", type_=SIGNED_PROPERTIES)
    _el(signature, _D + "SignatureValue", Id="-sigvalue")
    key_info = _el(signature, _D + "KeyInfo", Id="-keyinfo")
    _el(_el(key_info, _D + "X509Data"), _D + "X509Certificate", identity.certificate_b64)
    qualifying = _el(_el(signature, _D + "Object"), _X + "QualifyingProperties", Target="#")
    signed_props = _el(qualifying, _X + "SignedProperties", Id="-signedprops")
    ssp = _el(signed_props, _X + "SignedSignatureProperties")
    _el(ssp, _X + "SigningTime", "")
    cert = _el(_el(ssp, _X + "SigningCertificate"), _X + "Cert")
    cert_digest = _el(cert, _X + "CertDigest")
    _el(cert_digest, _D + "DigestMethod", Algorithm=SHA256)
    _el(cert_digest, _D + "DigestValue", identity.certificate_sha256_b64)
    issuer_serial = _el(cert, _X + "IssuerSerial")
    _el(issuer_serial, _D + "X509IssuerName", identity.issuer_name)
    _el(issuer_serial, _D + "X509SerialNumber", identity.serial_number)
    policy = _el(_el(ssp, _X + "SignaturePolicyIdentifier"), _X + "SignaturePolicyId")
    policy_id = _el(policy, _X + "SigPolicyId")
    _el(policy_id, _X + "Identifier", POLICY_ID)
    _el(policy_id, _X + "Description", POLICY_DESCRIPTION)
    policy_hash = _el(policy, _X + "SigPolicyHash")
    _el(policy_hash, _D + "DigestMethod", Algorithm=SHA256)
    _el(policy_hash, _D + "DigestValue", POLICY_DIGEST)
    _el(_el(_el(ssp, _X + "SignerRole"), _X + "ClaimedRoles"), _X + "ClaimedRole", "supplier")
    return signature


class _Templates(NamedTuple):
    """The signature's parts for one certificate and namespace declarations, as `str.format`
    templates: the per-document values (ids, signing time, digests, value) are ids, numbers and
    base64, which neither serialisation escapes, so filling a template gives the very bytes lxml
    writes for the filled tree (tests/unit/test_dian_equivalence.py)."""

    key_info: str  # inclusive C14N of ds:KeyInfo: {sig}
    signed_props: str  # inclusive C14N of xades:SignedProperties: {sig} {time}
    signed_info: str  # inclusive C14N of ds:SignedInfo: {sig} {d0} {d1} {d2}
    signature: str  # the ds:Signature as it is sent (lxml's serialisation): all of them and {value}


_FIELDS: Final = ("sig", "time", "d0", "d1", "d2", "value")


def _templates(identity: SigningIdentity, nsmap: dict) -> _Templates:
    # The skeleton is filled with markers no certificate or namespace can hold (a fresh nonce),
    # serialised by lxml as before, and each marker becomes a format field.
    nonce = uuid.uuid4().hex
    marks = {name: f"@{nonce}{name}@" for name in _FIELDS}
    signature = _skeleton(identity, nsmap)
    signed_info, signature_value, key_info, obj = signature
    qualifying = obj[0]
    signed_props = qualifying[0]
    ref_document, ref_key_info, ref_props = signed_info[2], signed_info[3], signed_info[4]
    sig_id = marks["sig"]
    signature.set("Id", sig_id)
    signature_value.set("Id", f"{sig_id}-sigvalue")
    key_info.set("Id", f"{sig_id}-keyinfo")
    qualifying.set("Target", f"#{sig_id}")
    signed_props.set("Id", f"{sig_id}-signedprops")
    signed_props[0][0].text = marks["time"]
    ref_document.set("Id", f"{sig_id}-ref0")
    ref_document[-1].text = marks["d0"]
    ref_key_info.set("URI", f"#{sig_id}-keyinfo")
    ref_key_info[-1].text = marks["d1"]
    ref_props.set("URI", f"#{sig_id}-signedprops")
    ref_props[-1].text = marks["d2"]
    signature_value.text = marks["value"]

    fields = {mark: name for name, mark in marks.items()}

    def part(data: bytes, encoding: str) -> str:
        text = template(data.decode(encoding), fields)
        if nonce in text:
            raise AssertionError("a signature marker was left in a template")
        return text

    return _Templates(
        key_info=part(etree.tostring(key_info, method="c14n"), "utf-8"),
        signed_props=part(etree.tostring(signed_props, method="c14n"), "utf-8"),
        signed_info=part(etree.tostring(signed_info, method="c14n"), "utf-8"),
        signature=part(etree.tostring(signature), "ascii"),
    )


_cache: dict[tuple, _Templates] = {}


def sign(root: etree._Element, identity: SigningIdentity, signing_time: dt.datetime, seed: str) -> bytes:
    """Sign the UBL document and return the signed bytes (never re-indent them); `root` is unchanged.

    `seed` (the CUFE) makes the element ids stable for the same document.
    """
    signature_slot(root)
    # With the slot still empty, the inclusive C14N of the root equals what the enveloped-signature
    # transform leaves once the signature is in place.
    return sign_canonical(etree.tostring(root, method="c14n"), root.nsmap, identity, signing_time, seed)


def sign_canonical(
    canonical: bytes, nsmap: dict, identity: SigningIdentity, signing_time: dt.datetime, seed: str
) -> bytes:
    """`sign` for a document already in its inclusive C14N form, whose root declares `nsmap`.

    The document digest is that of `canonical` (its signature slot empty); the same bytes, with the
    signature spliced into the slot, are the document we send: serialised once, never re-indented.
    """
    if _EMPTY_SLOT not in canonical:
        raise ValueError("the document has no empty UBLExtension for the signature")
    # The signature declares the root's namespaces: inclusive C14N of a part renders every namespace
    # in scope, so the parts canonicalise the same detached as in the document. Keyed by the
    # declarations in their order: the sent signature writes them in that order.
    key = (identity.certificate_sha256_b64, tuple(nsmap.items()))
    parts = _cache.get(key)
    if parts is None:
        parts = _cache[key] = _templates(identity, nsmap)
        if len(_cache) > 64:
            _cache.pop(next(iter(_cache)))
    fields = {
        "sig": f"xmldsig-{uuid.uuid5(_ID_NAMESPACE, seed)}",
        "time": signing_time.isoformat(timespec="milliseconds"),
        "d0": digest(canonical),
    }
    fields["d1"] = digest(parts.key_info.format_map(fields).encode())
    fields["d2"] = digest(parts.signed_props.format_map(fields).encode())
    signed_info = parts.signed_info.format_map(fields).encode()
    fields["value"] = base64.b64encode(
        identity.key.sign(signed_info, padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    head, _, tail = canonical.rpartition(_EMPTY_SLOT)
    signature = parts.signature.format_map(fields).encode()
    return b"".join((_DECLARATION, head, _SLOT_OPEN, signature, _SLOT_CLOSE, tail))
