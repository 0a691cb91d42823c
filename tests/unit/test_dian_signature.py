"""XAdES-EPES and WS-Security signatures: verified by signxml (an independent implementation),
and broken by any change after signing."""

from __future__ import annotations

import datetime as dt

import dian_support as ds
import pytest
from dian_support import dian_identity_fixture, dian_pki_fixture  # noqa: F401  (fixtures)
from lxml import etree
from signxml import DigestAlgorithm, XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature
from signxml.xades import XAdESSignaturePolicy, XAdESVerifier

from adapters.dian.attached import build_attached
from adapters.dian.soap import BINDING, WSDL, file_name, package
from adapters.dian.ubl import NS, build_document
from adapters.dian.wssecurity import WsSecuritySigner
from adapters.dian.xades import POLICY_DIGEST, POLICY_ID, sign
from adapters.dian.zeep_private import Renderer
from simulators.dian import xsd_errors

POLICY = XAdESSignaturePolicy(
    Identifier=POLICY_ID, Description="", DigestMethod=DigestAlgorithm.SHA256, DigestValue=POLICY_DIGEST
)
XADES = "{http://uri.etsi.org/01903/v1.3.2#}"
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture(scope="module")
def signed_invoice(dian_identity) -> bytes:
    built = build_document(ds.emission(ds.document("co-invoice")), ds.software(), "test")
    return sign(built.root, dian_identity, built.issued_at, built.fiscal_id)


def test_signxml_verifies_our_xades_with_the_certificate_and_with_the_ca(
    signed_invoice, dian_identity, dian_pki
) -> None:
    results = XAdESVerifier().verify(
        signed_invoice, x509_cert=dian_identity.certificate, expect_signature_policy=POLICY
    )
    assert len(results) == 3
    assert XAdESVerifier().verify(
        signed_invoice, ca_pem_file=str(dian_pki.ca_pem), expect_signature_policy=POLICY
    )


def test_signature_profile_is_dians(signed_invoice, dian_identity) -> None:
    root = etree.fromstring(signed_invoice)
    extensions = root.findall("ext:UBLExtensions/ext:UBLExtension", NS)
    signature = extensions[1].find(f"ext:ExtensionContent/{DSIG}Signature", NS)
    assert signature is not None  # second UBLExtension
    info = signature.find(f"{DSIG}SignedInfo")
    assert info.find(f"{DSIG}CanonicalizationMethod").get("Algorithm") == (
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    assert info.find(f"{DSIG}SignatureMethod").get("Algorithm").endswith("rsa-sha256")
    assert info.find(f"{DSIG}Reference").get("URI") == ""
    assert len(info.findall(f"{DSIG}Reference")) == 3
    assert signature.find(f"{DSIG}KeyInfo")[0].tag == f"{DSIG}X509Data"  # DIAN casts the first clause
    ssp = signature.find(f".//{XADES}SignedSignatureProperties")
    assert ssp.findtext(f"{XADES}SigningTime").endswith("-05:00")
    assert ssp.find(f"{XADES}SigningCertificateV2") is None
    assert ssp.findtext(f".//{XADES}IssuerSerial/{DSIG}X509SerialNumber") == str(
        dian_identity.certificate.serial_number
    )
    assert ssp.findtext(f".//{XADES}SigPolicyHash/{DSIG}DigestValue") == POLICY_DIGEST
    assert ssp.findtext(f".//{XADES}ClaimedRole") == "supplier"


def test_signed_document_is_deterministic_for_the_same_emission(dian_identity) -> None:
    emission = ds.emission(ds.document("co-invoice"))
    first, second = (build_document(emission, ds.software(), "test") for _ in range(2))
    assert sign(first.root, dian_identity, first.issued_at, first.fiscal_id) == sign(
        second.root, dian_identity, second.issued_at, second.fiscal_id
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [("cac:LegalMonetaryTotal/cbc:PayableAmount", "358051.00"), (f".//{XADES}ClaimedRole", "third party")],
)
def test_any_change_after_signing_breaks_the_signature(signed_invoice, dian_identity, path, value) -> None:
    root = etree.fromstring(signed_invoice)
    root.find(path, NS).text = value
    with pytest.raises((InvalidDigest, InvalidSignature)):
        XAdESVerifier().verify(
            etree.tostring(root), x509_cert=dian_identity.certificate, expect_signature_policy=POLICY
        )


def test_ws_security_envelope_verifies_and_breaks_when_wsa_to_changes(dian_identity) -> None:
    renderer = Renderer(
        str(WSDL),
        BINDING,
        "http://127.0.0.1:8106/WcfDianCustomerServices.svc",
        wsse=WsSecuritySigner(lambda: dian_identity),
    )
    envelope, headers = renderer.render("GetStatus", {"trackId": "abc"})  # zeep's own rendering
    data = etree.tostring(envelope)
    assert 'action="http://wcf.dian.colombia/IWcfDianCustomerServices/GetStatus"' in headers["Content-Type"]
    results = XMLVerifier().verify(
        data, x509_cert=dian_identity.certificate, validate_schema=False, expect_references=2
    )
    assert {etree.QName(r.signed_xml).localname for r in results} == {"To", "Timestamp"}
    tampered = data.replace(b"127.0.0.1:8106", b"127.0.0.1:9999")
    with pytest.raises((InvalidDigest, InvalidSignature)):
        XMLVerifier().verify(
            tampered, x509_cert=dian_identity.certificate, validate_schema=False, expect_references=2
        )


def test_zip_holds_one_named_xml() -> None:
    import io
    import zipfile

    name = file_name("invoice", "900373115", 2026, 990000001)
    assert name == "fv" + "0900373115" + "000" + "26" + "90000001"  # prefix, NIT, PPP, YY, 8 digits
    archive = zipfile.ZipFile(io.BytesIO(package({name + ".xml": b"<x/>"})))
    assert archive.namelist() == [name + ".xml"] and archive.read(name + ".xml") == b"<x/>"


def test_attached_document_is_valid_ubl_and_carries_both_documents(signed_invoice, dian_identity) -> None:
    from simulators.dian.answers import AnswerSigning, application_response
    from simulators.dian.documents import Result

    invoice = etree.fromstring(signed_invoice)
    key = invoice.findtext("cbc:UUID", namespaces=NS)
    signing = AnswerSigning()
    answer = signing.sign(
        application_response(invoice, key, Result(status_code="00", description="ok", document_key=key))
    )
    # DIAN's answer is signed too (by the simulator's own throwaway key)
    assert XAdESVerifier().verify(answer, x509_cert=signing.certificate, expect_signature_policy=POLICY)
    attached = build_attached(
        signed_invoice,
        answer,
        dian_identity,
        now=dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    )
    root = etree.fromstring(attached)
    assert xsd_errors(root) == []
    assert xsd_errors(etree.fromstring(answer)) == []
    # Both embedded as CDATA, as DIAN's own containers carry them, not as escaped text
    assert attached.count(b"<![CDATA[") == 2
    assert b"<![CDATA[" + signed_invoice.split(b">", 1)[0] in attached
    assert b"&lt;Invoice" not in attached and b"&lt;ApplicationResponse" not in attached
    assert root.findtext("cac:Attachment/cac:ExternalReference/cbc:Description", namespaces=NS) == (
        signed_invoice.decode()
    )
    assert (
        root.findtext(".//cac:ParentDocumentLineReference/cac:DocumentReference/cbc:UUID", namespaces=NS)
        == key
    )
    assert root.findtext(".//cac:ResultOfVerification/cbc:ValidationResultCode", namespaces=NS) == "02"
    assert XAdESVerifier().verify(
        attached, x509_cert=dian_identity.certificate, expect_signature_policy=POLICY
    )
