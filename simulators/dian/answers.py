"""DIAN's answers: the ApplicationResponse it signs, and the SOAP replies built from the examples in
contracts/dian/examples/ (the same files the contract tests replay)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import uuid
from typing import Final

from cryptography.hazmat.primitives import hashes
from litestar import Response
from lxml import etree
from signxml import DigestAlgorithm
from signxml.xades import XAdESDataObjectFormat, XAdESSigner

from canonical import clock
from contracts import read_bytes
from simulators.dian.documents import Result
from simulators.dian.names import BOGOTA, DS, MEDIA, NS, POLICY, XADES
from simulators.pki import self_signed

REPLY_LIFETIME: Final = dt.timedelta(minutes=5)  # wsu:Timestamp of DIAN's replies


class DianAnswerSigner(XAdESSigner):
    """signxml's XAdES signer with the v1 SigningCertificate (IssuerSerial) that DIAN's own
    ApplicationResponse carries; signxml's default SigningCertificateV2 fails the UBL XAdES 1.3.2 XSD."""

    def add_signing_certificate(self, signed_signature_properties, sig_root, signing_settings):
        cert_node = etree.SubElement(
            etree.SubElement(signed_signature_properties, f"{{{XADES}}}SigningCertificate"),
            f"{{{XADES}}}Cert",
        )
        digest = etree.SubElement(cert_node, f"{{{XADES}}}CertDigest")
        etree.SubElement(digest, f"{{{DS}}}DigestMethod", Algorithm=DigestAlgorithm.SHA256.value)
        cert = signing_settings.cert_chain[0]
        etree.SubElement(digest, f"{{{DS}}}DigestValue").text = base64.b64encode(
            cert.fingerprint(hashes.SHA256())
        ).decode()
        serial = etree.SubElement(cert_node, f"{{{XADES}}}IssuerSerial")
        etree.SubElement(serial, f"{{{DS}}}X509IssuerName").text = cert.issuer.rfc4514_string()
        etree.SubElement(serial, f"{{{DS}}}X509SerialNumber").text = str(cert.serial_number)


class AnswerSigning:
    """DIAN signs its ApplicationResponse; the simulator does with a throwaway key made at start."""

    def __init__(self) -> None:
        self.key, self.certificate = self_signed("DIAN simulador", "800197268")
        self.signer = DianAnswerSigner(
            signature_policy=POLICY,
            claimed_roles=["third party"],
            data_object_format=XAdESDataObjectFormat(Description="Respuesta DIAN", MimeType="text/xml"),
            c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        )

    def sign(self, answer: bytes) -> bytes:
        """Sign an ApplicationResponse in its first UBLExtension (signxml, placeholder placement)."""
        root = etree.fromstring(answer)
        ext = NS["ext"]
        extensions = etree.Element(f"{{{ext}}}UBLExtensions")
        slot = etree.SubElement(
            etree.SubElement(extensions, f"{{{ext}}}UBLExtension"), f"{{{ext}}}ExtensionContent"
        )
        etree.SubElement(slot, f"{{{DS}}}Signature", Id="placeholder")
        root.insert(0, extensions)
        signed = self.signer.sign(root, key=self.key, cert=[self.certificate], always_add_key_value=False)
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def application_response(document, key: str, result: Result) -> bytes:
    """DIAN's ApplicationResponse (§3.7): 02 validated / 04 rejected, rule messages as LineResponses."""
    ar_ns = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"
    cac, cbc = f"{{{NS['cac']}}}", f"{{{NS['cbc']}}}"
    now = clock.now(BOGOTA)
    namespaces = {None: ar_ns, "cac": NS["cac"], "cbc": NS["cbc"], "ext": NS["ext"], "ds": DS, "xades": XADES}
    root = etree.Element(f"{{{ar_ns}}}ApplicationResponse", nsmap=namespaces)

    def sub(parent, tag, value=None, **attrs):
        el = etree.SubElement(parent, tag, attrs)
        if value is not None:
            el.text = value
        return el

    sub(root, cbc + "UBLVersionID", "UBL 2.1")
    sub(root, cbc + "CustomizationID", "1")
    sub(root, cbc + "ProfileID", "DIAN 2.1")
    sub(root, cbc + "ProfileExecutionID", document.findtext("cbc:ProfileExecutionID", namespaces=NS) or "2")
    sub(root, cbc + "ID", str(uuid.uuid4().int % 10**12))
    sub(
        root,
        cbc + "UUID",
        hashlib.sha384(f"{key}{now.isoformat()}".encode()).hexdigest(),
        schemeName="CUDE-SHA384",
    )
    sub(root, cbc + "IssueDate", now.strftime("%Y-%m-%d"))
    sub(root, cbc + "IssueTime", now.strftime("%H:%M:%S") + "-05:00")
    sender = sub(sub(root, cac + "SenderParty"), cac + "PartyTaxScheme")
    sub(sender, cbc + "RegistrationName", "Unidad Especial Dirección de Impuestos y Aduanas Nacionales")
    sub(sender, cbc + "CompanyID", "800197268", schemeID="4", schemeName="31")
    sub(sub(sender, cac + "TaxScheme"), cbc + "ID", "01")
    receiver = sub(sub(root, cac + "ReceiverParty"), cac + "PartyTaxScheme")
    # The issuer receives the answer: the customer party of a support document (05, 95).
    code = document.findtext("cbc:InvoiceTypeCode", namespaces=NS) or document.findtext(
        "cbc:CreditNoteTypeCode", namespaces=NS
    )
    issuer = "AccountingCustomerParty" if code in ("05", "95") else "AccountingSupplierParty"
    sub(
        receiver,
        cbc + "RegistrationName",
        document.findtext(f"cac:{issuer}/cac:Party/cac:PartyTaxScheme/cbc:RegistrationName", namespaces=NS)
        or "",
    )
    sub(
        receiver,
        cbc + "CompanyID",
        document.findtext(f"cac:{issuer}/cac:Party/cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS) or "",
    )
    sub(sub(receiver, cac + "TaxScheme"), cbc + "ID", "01")
    response = sub(root, cac + "DocumentResponse")
    inner = sub(response, cac + "Response")
    accepted = result.status_code == "00"
    sub(inner, cbc + "ResponseCode", "02" if accepted else "04")
    sub(
        inner,
        cbc + "Description",
        "Documento validado por la DIAN" if accepted else "Documento rechazado por la DIAN",
    )
    reference = sub(response, cac + "DocumentReference")
    sub(reference, cbc + "ID", document.findtext("cbc:ID", namespaces=NS) or "")
    sub(
        reference,
        cbc + "UUID",
        key,
        schemeName=document.find("cbc:UUID", NS).get("schemeName", "CUFE-SHA384"),
    )
    for n, message in enumerate(result.errors, start=1):
        line = sub(response, cac + "LineResponse")
        sub(sub(line, cac + "LineReference"), cbc + "LineID", str(n))
        answer = sub(line, cac + "Response")
        code, _, text = message.removeprefix("Regla: ").partition(", ")
        sub(answer, cbc + "ResponseCode", code)
        sub(answer, cbc + "Description", text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- the SOAP replies -----------------------------------------------------------------------------------


@functools.cache
def _template(name: str) -> etree._Element:
    return etree.fromstring(read_bytes("dian", "examples", f"{name}.xml"))


def answer_envelope(template: str) -> tuple[etree._Element, etree._Element]:
    """A fresh copy of an example reply with a current Timestamp, and its `<Op>Result` element."""
    envelope = copy.deepcopy(_template(template))
    now = clock.now(dt.UTC)
    timestamp = envelope.find("s:Header/wsse:Security/wsu:Timestamp", NS)
    if timestamp is not None:
        timestamp.find("wsu:Created", NS).text = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        timestamp.find("wsu:Expires", NS).text = (now + REPLY_LIFETIME).strftime("%Y-%m-%dT%H:%M:%S.%f")[
            :-3
        ] + "Z"
    return envelope, envelope.find("s:Body", NS)[0][0]


def fill(element: etree._Element, result: Result) -> None:
    """Write a Result into a DianResponse element of an example, keeping its shape."""
    fields = {etree.QName(child).localname: child for child in element}
    messages = fields["ErrorMessage"]
    item_tag = (
        f"{{{messages.nsmap.get('c', 'http://schemas.microsoft.com/2003/10/Serialization/Arrays')}}}string"
    )
    for child in list(messages):
        messages.remove(child)
    for text in result.errors:
        etree.SubElement(messages, item_tag).text = text
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    values = {
        "IsValid": "true" if result.status_code == "00" else "false",
        "StatusCode": result.status_code,
        "StatusDescription": result.description,
        "StatusMessage": result.message,
        "XmlBase64Bytes": base64.b64encode(result.application_response).decode()
        if result.application_response
        else None,
        "XmlBytes": None,
        "XmlDocumentKey": result.document_key,
        "XmlFileName": result.file_name,
    }
    for name, value in values.items():
        node = fields[name]
        node.attrib.pop(nil, None)
        node.text = value
        if value is None:
            node.set(nil, "true")


def reply(envelope: etree._Element, status: int = 200) -> Response:
    return Response(
        etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), status_code=status, media_type=MEDIA
    )


def fault(reason: str) -> Response:
    envelope = copy.deepcopy(_template("fault.invalid-security"))
    envelope.find(
        "s:Body/s:Fault/s:Reason/s:Text", NS
    ).text = f"An error occurred when verifying security for the message. {reason}"
    return reply(envelope, 500)  # SOAP 1.2 over HTTP: faults travel with 500


def dian_reply(template: str, result: Result) -> Response:
    envelope, element = answer_envelope(template)
    fill(element, result)
    return reply(envelope)


UPLOAD: Final = "{http://schemas.datacontract.org/2004/07/UploadDocumentResponse}"
TRACK: Final = "{http://schemas.datacontract.org/2004/07/XmlParamsResponseTrackId}"


def upload_refused(result: Result) -> Response:
    """An async batch DIAN would not take: no ZipKey, the reason in ErrorMessageList (§5.5)."""
    envelope, element = answer_envelope("send-test-set-async")
    element.find(UPLOAD + "ZipKey").text = None
    item = etree.SubElement(element.find(UPLOAD + "ErrorMessageList"), TRACK + "XmlParamsResponseTrackId")
    etree.SubElement(item, TRACK + "Success").text = "false"
    etree.SubElement(item, TRACK + "ProcessedMessage").text = f"{result.status_code}: {result.description}"
    return reply(envelope)
