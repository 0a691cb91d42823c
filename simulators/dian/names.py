"""Names the DIAN simulator's parts share: namespaces, prefixes, DIAN's signature policy."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

from signxml import DigestAlgorithm
from signxml.xades import XAdESSignaturePolicy

BOGOTA: Final = ZoneInfo("America/Bogota")
PATH: Final = "/WcfDianCustomerServices.svc"
MEDIA: Final = "application/soap+xml; charset=utf-8"

SOAP: Final = "http://www.w3.org/2003/05/soap-envelope"
WSA: Final = "http://www.w3.org/2005/08/addressing"
WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
NS: Final = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "sts": "dian:gov:co:facturaelectronica:Structures-2-1",
    "s": SOAP,
    "wsa": WSA,
    "wsse": WSSE,
    "wsu": WSU,
    "ds": DS,
}
WSU_ID: Final = f"{{{WSU}}}Id"

POLICY: Final = XAdESSignaturePolicy(
    Identifier="https://facturaelectronica.dian.gov.co/politicadefirma/v2/politicadefirmav2.pdf",
    Description="Política de firma para facturas electrónicas de la República de Colombia",
    DigestMethod=DigestAlgorithm.SHA256,
    DigestValue="dMoMvtcG5aIzgYo0tIsSQeVJBDnUnfSOfBpxXrmor0Y=",
)
XADES: Final = "http://uri.etsi.org/01903/v1.3.2#"  # xades:SigningTime (FAD09e)
