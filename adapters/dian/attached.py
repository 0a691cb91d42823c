"""The AttachedDocument: the container Colombian law requires the issuer to send the buyer.

It wraps the signed invoice (or note) and DIAN's ApplicationResponse, both as CDATA sections (as
DIAN's own containers and production ones do: contracts/dian/SOURCES.md), and carries the issuer's
own signature (research/dian.md §3.7). It is never sent to the web service.

The signature is computed over the inclusive C14N form, where a CDATA section is plain escaped text;
the document is then written with its CDATA sections back in place. A verifier canonicalises it
again and finds the same digests.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Final

from lxml import etree

from adapters.dian.certificates import SigningIdentity
from adapters.dian.ubl import BOGOTA, CAC, CBC, EXT, NS
from adapters.dian.xades import sign
from canonical import clock

ROOT_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:AttachedDocument-2"
PROFILES: Final[dict[str, str]] = {
    "Invoice": "Factura Electrónica de Venta",
    "CreditNote": "Nota Crédito de Factura Electrónica de Venta",
    "DebitNote": "Nota Débito de Factura Electrónica de Venta",
}
DIAN_VALIDATOR: Final = "Unidad Especial Dirección de Impuestos y Aduanas Nacionales"
# XML that came back from DIAN is untrusted: no entity expansion, no DTD, no network (XXE and
# billion laughs); DIAN never sends a DOCTYPE, so one is refused outright.
_UNTRUSTED: Final = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _untrusted(data: bytes) -> etree._Element:
    """Parse XML from DIAN; ValueError when it is not plain, well-formed XML."""
    try:
        root = etree.fromstring(data, _UNTRUSTED)
    except etree.XMLSyntaxError as exc:  # a SyntaxError, not a ValueError
        raise ValueError(f"DIAN's XML is not well-formed: {exc}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise ValueError("DIAN's XML carries a DOCTYPE")
    return root


def _sub(parent, tag: str, text: str | None = None, **attrs: str):
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _cdata_attachment(parent, xml: bytes) -> None:
    ref = _sub(_sub(parent, CAC + "Attachment"), CAC + "ExternalReference")
    _sub(ref, CBC + "MimeCode", "text/xml")
    _sub(ref, CBC + "EncodingCode", "UTF-8")
    _sub(ref, CBC + "Description").text = _cdata(xml.decode("utf-8"))


def _cdata(text: str) -> str:
    """`text` as a CDATA section; escaped text if it holds "]]>" (only an attribute value of the
    untrusted answer could), which a CDATA section cannot carry."""
    try:
        return etree.CDATA(text)
    except ValueError:
        return text


_EMBEDDED: Final = (
    "cac:Attachment/cac:ExternalReference/cbc:Description",
    "cac:ParentDocumentLineReference/cac:DocumentReference/cac:Attachment/cac:ExternalReference/cbc:Description",
)


def _with_cdata(signed: bytes, embedded: tuple[bytes, bytes]) -> bytes:
    """The signed container written again with its two embedded documents as CDATA sections."""
    root = etree.fromstring(signed, _UNTRUSTED)
    for path, xml in zip(_EMBEDDED, embedded, strict=True):
        root.find(path, NS).text = _cdata(xml.decode("utf-8"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _tax_scheme(parent, tag: str, party: etree._Element | None) -> None:
    holder = _sub(parent, tag)
    scheme = party.find("cac:Party/cac:PartyTaxScheme", NS) if party is not None else None
    if scheme is not None:
        holder.append(copy.deepcopy(scheme))


# A support document (05) and its adjustment note (95) are issued by the buyer, the customer party.
PURCHASE_TYPES: Final = frozenset({"05", "95"})


def _roles(doc: etree._Element) -> tuple[str, str]:
    """(the issuer's party, the other party): who sends the container and who receives it."""
    code = doc.findtext("cbc:InvoiceTypeCode", namespaces=NS) or doc.findtext(
        "cbc:CreditNoteTypeCode", namespaces=NS
    )
    if code in PURCHASE_TYPES:
        return "AccountingCustomerParty", "AccountingSupplierParty"
    return "AccountingSupplierParty", "AccountingCustomerParty"


def build_attached(
    signed: bytes, application_response: bytes, identity: SigningIdentity, now: dt.datetime | None = None
) -> bytes:
    """The signed AttachedDocument for a document DIAN accepted."""
    doc = _untrusted(signed)
    answer = _untrusted(application_response)
    kind = etree.QName(doc).localname
    number = doc.findtext("cbc:ID", namespaces=NS)
    now = now or clock.now(BOGOTA)
    root = etree.Element(f"{{{ROOT_NS}}}AttachedDocument", nsmap={None: ROOT_NS, **NS})
    _sub(_sub(_sub(root, EXT + "UBLExtensions"), EXT + "UBLExtension"), EXT + "ExtensionContent")
    _sub(root, CBC + "UBLVersionID", "UBL 2.1")
    _sub(root, CBC + "CustomizationID", "Documentos adjuntos")
    _sub(root, CBC + "ProfileID", PROFILES.get(kind, "Factura Electrónica de Venta"))
    _sub(root, CBC + "ProfileExecutionID", doc.findtext("cbc:ProfileExecutionID", namespaces=NS))
    _sub(root, CBC + "ID", number)
    _sub(root, CBC + "IssueDate", now.strftime("%Y-%m-%d"))
    _sub(root, CBC + "IssueTime", now.strftime("%H:%M:%S") + "-05:00")
    _sub(root, CBC + "DocumentType", "Contenedor de Factura Electrónica")
    _sub(root, CBC + "ParentDocumentID", number)
    sender, receiver = _roles(doc)
    _tax_scheme(root, CAC + "SenderParty", doc.find(f"cac:{sender}", NS))
    _tax_scheme(root, CAC + "ReceiverParty", doc.find(f"cac:{receiver}", NS))
    _cdata_attachment(root, signed)
    line = _sub(root, CAC + "ParentDocumentLineReference")
    _sub(line, CBC + "LineID", "1")
    reference = _sub(line, CAC + "DocumentReference")
    _sub(reference, CBC + "ID", number)
    uuid = doc.find("cbc:UUID", NS)
    _sub(reference, CBC + "UUID", uuid.text, schemeName=uuid.get("schemeName", "CUFE-SHA384"))
    _sub(reference, CBC + "IssueDate", doc.findtext("cbc:IssueDate", namespaces=NS))
    _sub(reference, CBC + "DocumentType", "ApplicationResponse")
    _cdata_attachment(reference, application_response)
    verification = _sub(reference, CAC + "ResultOfVerification")
    _sub(verification, CBC + "ValidatorID", DIAN_VALIDATOR)
    code = answer.findtext(".//cac:DocumentResponse/cac:Response/cbc:ResponseCode", namespaces=NS) or "02"
    _sub(verification, CBC + "ValidationResultCode", code)
    _sub(
        verification,
        CBC + "ValidationDate",
        answer.findtext("cbc:IssueDate", namespaces=NS) or now.strftime("%Y-%m-%d"),
    )
    _sub(
        verification,
        CBC + "ValidationTime",
        answer.findtext("cbc:IssueTime", namespaces=NS) or now.strftime("%H:%M:%S") + "-05:00",
    )
    return _with_cdata(sign(root, identity, now, f"attached-{uuid.text}"), (signed, application_response))
