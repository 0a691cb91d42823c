"""A local stand-in for DIAN's WcfDianCustomerServices (SOAP 1.2) that checks what DIAN checks.

Per message: the WS-Security header (Timestamp window, X.509 token, signature over wsa:To and the
Timestamp with exclusive C14N); per zip: its structure (one XML for SendBillSync, ≤ 50 for the
async operations); per document: UBL 2.1 XSD validity, the XAdES-EPES signature (signxml's verifier,
an implementation independent of our signer), DIAN's policy digest, the CUFE/CUDE recomputed with
the habilitación technical key or the software PIN, the SoftwareSecurityCode, the number inside
its authorised range, the issue date window, duplicates (rule 90). Answers are DIAN-shaped, built
from the envelopes in contracts/dian/examples/, and carry an ApplicationResponse signed (XAdES, with
signxml) by a throwaway key the simulator makes at start, as DIAN signs its own.

Trust: in the default test mode the signing certificate is taken as the one embedded in the
signature (self-signed and unknown-CA certificates pass; the signature itself is always verified).
The live DIAN rejects such certificates: with `SimSettings.trust` (`--trust CA.pem`) the
simulator is strict and requires a chain to that CA, for the XAdES and the WS-Security certificate.

Registered software: `SimSettings.dian_software` or `PASARELA_SIM_DIAN_SOFTWARE="ID:PIN,ID:PIN"`.

Faults (simulators/control.py) on the sending operations: down → 503; quota → 429 with
Retry-After; reject → a 99 with DIAN rule codes (contracts/dian/examples/send-bill-sync.99.xml);
slow → validate and publish, answer after `slow_s`; hang → DIAN received the document but its
validation result is published only `hang_s` later, and the answer never comes within the client's
timeout: meanwhile GetStatus says 66 ("no validation result yet", research/dian.md §5.5), a resend
is validated normally, and once published a resend gets rule 90.

Rule codes: FAD06/CAD06/DAD06, FAB24b, ZE02, ZD05, ZD07, FAD09e and 90 are DIAN's (research/dian.md);
ZB01 (schema), FAB27b (security code) and FAB10b (range) are this simulator's choice where the
research names no code (contracts/dian/README.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import datetime as dt
import functools
import hashlib
import io
import os
import threading
import uuid
import zipfile
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from typing import Final
from zoneinfo import ZoneInfo

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import NameOID
from litestar import Litestar, Request, Response, post
from lxml import etree
from signxml import DigestAlgorithm
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalid
from signxml.xades import XAdESDataObjectFormat, XAdESSignaturePolicy, XAdESSigner, XAdESVerifier

from canonical.dian import cufe, software_security_code
from contracts import read_bytes
from simulators.control import LedgerEntry, SimState, control_handlers
from simulators.pki import self_signed

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
_WSU_ID: Final = f"{{{WSU}}}Id"

POLICY: Final = XAdESSignaturePolicy(
    Identifier="https://facturaelectronica.dian.gov.co/politicadefirma/v2/politicadefirmav2.pdf",
    Description="Política de firma para facturas electrónicas de la República de Colombia",
    DigestMethod=DigestAlgorithm.SHA256,
    DigestValue="dMoMvtcG5aIzgYo0tIsSQeVJBDnUnfSOfBpxXrmor0Y=",
)
XADES: Final = "http://uri.etsi.org/01903/v1.3.2#"


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


CLOCK_SKEW: Final = dt.timedelta(minutes=5)
ISSUE_WINDOW_DAYS: Final = 10  # ARCHITECTURE.md: issue dates from 10 days back to today
MAX_BATCH: Final = 50

# DIAN's public habilitación range; outside production DIAN checks every CUFE with one test key.
TEST_TECHNICAL_KEY: Final = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
RANGES: Final[dict[tuple[str, str], tuple[int, int, str]]] = {
    # (resolution, prefix) -> (from, to, technical key)
    ("18760000001", "SETP"): (990000000, 995000000, TEST_TECHNICAL_KEY),
}

ROOTS: Final[dict[str, tuple[str, str]]] = {
    # root element -> (XSD, rule prefix for the CUFE/CUDE and date rules)
    "Invoice": ("UBL-Invoice-2.1.xsd", "FA"),
    "CreditNote": ("UBL-CreditNote-2.1.xsd", "CA"),
    "DebitNote": ("UBL-DebitNote-2.1.xsd", "DA"),
}
KIND_NAMES: Final = {
    "Invoice": "Factura electrónica",
    "CreditNote": "Nota crédito electrónica",
    "DebitNote": "Nota débito electrónica",
}
KINDS: Final = {"Invoice": "invoice", "CreditNote": "credit_note", "DebitNote": "debit_note"}

OK_DESCRIPTION: Final = "Procesado Correctamente."
REJECTED_DESCRIPTION: Final = "Validación contiene errores en campos mandatorios."
REJECTED_MESSAGE: Final = "Documento con errores en campos mandatorios."


# -- the UBL schemas, compiled once per process -----------------------------------------------------


@functools.cache
def _schema(xsd: str) -> etree.XMLSchema:
    path = files("contracts").joinpath("dian", "xsd", "maindoc", xsd)
    return etree.XMLSchema(etree.parse(str(path)))


def xsd_errors(root: etree._Element) -> list[str]:
    """UBL 2.1 schema errors of a document ([] when valid; unknown roots are an error)."""
    name = etree.QName(root).localname
    if name not in ROOTS and name not in ("ApplicationResponse", "AttachedDocument"):
        return [f"unknown root element {name}"]
    xsd = ROOTS[name][0] if name in ROOTS else f"UBL-{name}-2.1.xsd"
    schema = _schema(xsd)
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


# -- registered software -------------------------------------------------------------------------------


def registered_software(setting: str | None) -> dict[str, str]:
    """SoftwareID → PIN from "ID:PIN,ID:PIN" (the setting, else PASARELA_SIM_DIAN_SOFTWARE)."""
    value = setting if setting is not None else os.environ.get("PASARELA_SIM_DIAN_SOFTWARE", "")
    software = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        software_id, _, pin = item.partition(":")
        software[software_id.strip()] = pin.strip()
    return software


# -- results -------------------------------------------------------------------------------------------


class Result(msgspec.Struct, kw_only=True):
    """One DianResponse, as the simulator will answer it."""

    status_code: str
    description: str
    message: str | None = None
    errors: list[str] = msgspec.field(default_factory=list)  # "Regla: X, Rechazo: ..." strings
    document_key: str | None = None
    file_name: str | None = None
    application_response: bytes | None = None


class Stored(msgspec.Struct, kw_only=True):
    xml: bytes
    result: Result
    number: str
    kind: str


class SecurityError(Exception):
    """The message is refused before DIAN reads it: a SOAP Fault, not a DianResponse."""


class DianSimulator:
    """State beyond the shared ledger: validation results by CUFE, batches by ZipKey."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.trust: list[x509.Certificate] = []
        if state.settings.trust:
            with open(state.settings.trust, "rb") as f:
                self.trust = x509.load_pem_x509_certificates(f.read())
        self._lock = threading.Lock()
        # DIAN signs its ApplicationResponse; the simulator with a throwaway key of its own.
        self.answer_key, self.answer_cert = self_signed("DIAN simulador", "800197268")
        self.answer_signer = DianAnswerSigner(
            signature_policy=POLICY,
            claimed_roles=["third party"],
            data_object_format=XAdESDataObjectFormat(Description="Respuesta DIAN", MimeType="text/xml"),
            c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        )
        self.published: dict[str, Stored] = {}  # CUFE → validated document (accepted or rejected)
        self.batches: dict[str, list[str]] = {}  # ZipKey → CUFEs
        self.polled: set[str] = set()

    @property
    def software(self) -> dict[str, str]:
        """Read on each use, so a test or the demo can register software on a running simulator."""
        return registered_software(self.state.settings.dian_software)

    # -- WS-Security ---------------------------------------------------------------------------------

    def check_security(self, envelope: etree._Element) -> x509.Certificate:
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
        now = dt.datetime.now(dt.UTC)
        if created > now + CLOCK_SKEW or expires < now - CLOCK_SKEW:
            raise SecurityError("the message Timestamp is outside its validity window")
        token = security.find("wsse:BinarySecurityToken", NS)
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(token.text))
        except (AttributeError, TypeError, ValueError, binascii.Error):
            raise SecurityError("no usable X.509 BinarySecurityToken") from None
        self._check_certificate(cert)
        signature = security.find("ds:Signature", NS)
        if signature is None:
            raise SecurityError("no ds:Signature")
        signed_info = signature.find("ds:SignedInfo", NS)
        if signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm") != EXC_C14N:
            raise SecurityError("SignedInfo must use exclusive C14N")
        by_id = {el.get(_WSU_ID): el for el in envelope.iterfind(".//*[@wsu:Id]", NS)}
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

    def _check_certificate(self, cert: x509.Certificate) -> None:
        now = dt.datetime.now(dt.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SecurityError("certificate expired or not yet valid")
        if not self.trust:
            return  # test mode: self-signed / unknown CA accepted (the live DIAN refuses them)
        for ca in self.trust:
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

    # -- documents -----------------------------------------------------------------------------------

    def unzip(self, content: bytes, *, limit: int) -> list[tuple[str, bytes]] | Result:
        """The XML entries of a zip, or the 89 DIAN answers for a bad package (§5.4)."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
            names = [n for n in archive.namelist() if not n.startswith("__MACOSX")]
            entries = [(n, archive.read(n)) for n in names if n.lower().endswith(".xml")]
        except (zipfile.BadZipFile, ValueError, OSError):
            return Result(status_code="89", description="MIMEType del archivo inválido")
        if not entries or len(entries) != len(names):
            return Result(status_code="89", description="El archivo debe contener solo documentos XML")
        if limit == 1 and len(entries) > 1:
            return Result(status_code="89", description="El método síncrono solo puede recibir un documento")
        if len(entries) > limit:
            return Result(
                status_code="89",
                description=f"Cantidad de documentos dentro del lote ZIP excede máximo permitido: {limit}",
            )
        return entries

    def validate(self, name: str, data: bytes, caller: x509.Certificate) -> tuple[Result, Stored | None]:
        """DIAN's checks on one document; the Stored document when it was judged (accepted or 99)."""
        base = name.rsplit("/", 1)[-1].removesuffix(".xml")
        try:
            root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            return Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=[f"Regla: ZB01, Rechazo: XML mal formado: {exc}"],
                file_name=base,
            ), None
        root_name = etree.QName(root).localname
        if root_name not in ROOTS:
            return Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=[f"Regla: ZB01, Rechazo: Tipo de documento {root_name} no soportado"],
                file_name=base,
            ), None
        text = functools.partial(root.findtext, namespaces=NS)
        number = text("cbc:ID") or ""
        key = (text("cbc:UUID") or "").lower()
        supplier = text("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID") or ""
        caller_nit = _certificate_nit(caller)
        provider = text(".//sts:SoftwareProvider/sts:ProviderID") or ""
        if caller_nit and caller_nit not in (supplier, provider):
            return Result(
                status_code="89",
                description=f"NIT {caller_nit} no autorizado a enviar documentos "
                f"para emisor con NIT {supplier}.",
            ), None
        with self._lock:
            previous = self.published.get(key)
        if previous is not None and previous.result.status_code == "00":
            return Result(
                status_code="99",
                description=f"Documento con CUFE {key} procesado anteriormente.",
                message=REJECTED_MESSAGE,
                errors=["Regla: 90, Rechazo: Documento procesado anteriormente."],
                document_key=key,
                file_name=base,
            ), None

        errors = [f"Regla: ZB01, Rechazo: {e}" for e in xsd_errors(root)[:5]]
        if not errors:
            errors += self._signature_errors(data)
        errors += self._content_errors(root, root_name, number, key)
        kind_name = KIND_NAMES[root_name]
        shown = _display_number(root, number)
        if any(", Rechazo:" in e for e in errors):
            result = Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=errors,
                document_key=key,
                file_name=base,
            )
        else:
            result = Result(
                status_code="00",
                description=OK_DESCRIPTION,
                message=f"La {kind_name} {shown}, ha sido autorizada.",
                errors=errors,
                document_key=key,
                file_name=base,
            )
        result.application_response = self.sign_answer(_application_response(root, key, result))
        return result, Stored(xml=data, result=result, number=number, kind=KINDS[root_name])

    def _signature_errors(self, data: bytes) -> list[str]:
        try:
            embedded = _embedded_certificate(data)
        except ValueError:
            return ["Regla: ZD06, Rechazo: No se encontró el certificado de la firma"]
        now = dt.datetime.now(dt.UTC)
        if not embedded.not_valid_before_utc <= now <= embedded.not_valid_after_utc:
            return ["Regla: ZD07, Rechazo: El certificado de la firma está vencido o aún no es válido"]
        verifier = XAdESVerifier()
        try:
            if self.trust:
                results = verifier.verify(
                    data, ca_pem_file=self.state.settings.trust, expect_signature_policy=POLICY
                )
            else:
                results = verifier.verify(data, x509_cert=embedded, expect_signature_policy=POLICY)
        except InvalidCertificate as exc:
            return [f"Regla: ZD05, Rechazo: Certificado no emitido por una entidad autorizada: {exc}"]
        except (InvalidDigest, XmlInvalid, InvalidInput, ValueError) as exc:
            return [f"Regla: ZE02, Rechazo: Valor de la firma inválido: {exc}"]
        if len(results) != 3:
            return ["Regla: ZE02, Rechazo: La firma debe tener tres referencias"]
        return []

    def _content_errors(self, root, root_name: str, number: str, key: str) -> list[str]:
        text = functools.partial(root.findtext, namespaces=NS)
        prefix = ROOTS[root_name][1]
        errors = []
        software_id = text(".//sts:SoftwareProvider/sts:SoftwareID") or ""
        pin = self.software.get(software_id)
        if pin is None:
            return [
                f"Regla: {prefix}B24b, Rechazo: El software {software_id} no está registrado o habilitado"
            ]
        if (text(".//sts:SoftwareSecurityCode") or "").lower() != software_security_code(
            software_id, pin, number
        ):
            errors.append(f"Regla: {prefix}B27b, Rechazo: El código de seguridad del software no corresponde")
        environment = text("cbc:ProfileExecutionID") or ""
        if root_name == "Invoice":
            control = ".//sts:InvoiceControl/"
            resolution, range_prefix = (
                text(control + "sts:InvoiceAuthorization"),
                text(control + "sts:AuthorizedInvoices/sts:Prefix") or "",
            )
            known = RANGES.get((resolution or "", range_prefix))
            consecutive = number.removeprefix(range_prefix)
            if (
                known is None
                or not number.startswith(range_prefix)
                or not consecutive.isdigit()
                or not known[0] <= int(consecutive) <= known[1]
            ):
                errors.append(
                    "Regla: FAB10b, Rechazo: El número del documento no está en el rango autorizado"
                )
            technical_key = TEST_TECHNICAL_KEY if environment == "2" else (known[2] if known else "")
        else:
            technical_key = pin
        try:
            expected = _recompute(root, root_name, technical_key, environment)
        except (InvalidOperation, ValueError):
            expected = None
        if expected != key:
            errors.append(
                f"Regla: {prefix}D06, Rechazo: Valor del {'CUFE' if root_name == 'Invoice' else 'CUDE'} "
                "no está calculado correctamente."
            )
        today = dt.datetime.now(BOGOTA).date()
        try:
            issued = dt.date.fromisoformat(text("cbc:IssueDate") or "")
        except ValueError:
            issued = None
        if issued is None or not today - dt.timedelta(days=ISSUE_WINDOW_DAYS) <= issued <= today:
            errors.append(f"Regla: {prefix}D09e, Rechazo: La fecha de emisión debe ser la fecha de envío")
        return errors

    def sign_answer(self, answer: bytes) -> bytes:
        """Sign an ApplicationResponse in its first UBLExtension (signxml, placeholder placement)."""
        root = etree.fromstring(answer)
        ext = NS["ext"]
        extensions = etree.Element(f"{{{ext}}}UBLExtensions")
        slot = etree.SubElement(
            etree.SubElement(extensions, f"{{{ext}}}UBLExtension"), f"{{{ext}}}ExtensionContent"
        )
        etree.SubElement(slot, f"{{{DS}}}Signature", Id="placeholder")
        root.insert(0, extensions)
        signed = self.answer_signer.sign(
            root, key=self.answer_key, cert=[self.answer_cert], always_add_key_value=False
        )
        return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")

    def publish(self, stored: Stored, *, payload: dict) -> None:
        """Make a judged document visible to GetStatus; accepted ones enter the ledger."""
        key = stored.result.document_key or ""
        with self._lock:
            previous = self.published.get(key)
            if previous is not None and previous.result.status_code == "00":
                return  # already accepted (a resend won the race): never issued twice
            self.published[key] = stored
        if stored.result.status_code == "00":
            self.state.issue(
                LedgerEntry(
                    reference=key, number=stored.number, fiscal_id=key, kind=stored.kind, payload=payload
                )
            )


# -- helpers ---------------------------------------------------------------------------------------------


def _certificate_nit(cert: x509.Certificate) -> str | None:
    """Where DIAN reads the caller's NIT (§5.3): serialNumber first, digits only."""
    for oid in (
        x509.ObjectIdentifier("1.3.6.1.4.1.23267.2.3"),
        NameOID.SERIAL_NUMBER,
        x509.ObjectIdentifier("1.3.6.1.4.1.31136.1.1.20.2"),
        x509.ObjectIdentifier("2.5.4.97"),
    ):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            digits = "".join(ch for ch in str(attrs[0].value) if ch.isdigit())
            return digits or None
    return None


def _embedded_certificate(data: bytes) -> x509.Certificate:
    root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    found = root.findtext(".//ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    if not found:
        raise ValueError("no X509Certificate in the signature")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(found))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"unreadable X509Certificate: {exc}") from None


def _recompute(root, root_name: str, technical_key: str, environment: str) -> str:
    text = functools.partial(root.findtext, namespaces=NS)
    total = "cac:RequestedMonetaryTotal" if root_name == "DebitNote" else "cac:LegalMonetaryTotal"
    taxes: dict[str, Decimal] = {}
    for tax_total in root.iterfind("cac:TaxTotal", NS):
        scheme = tax_total.findtext("cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:ID", namespaces=NS)
        if scheme and scheme not in taxes:
            taxes[scheme] = Decimal(tax_total.findtext("cbc:TaxAmount", namespaces=NS) or "0")
    return cufe(
        number=text("cbc:ID") or "",
        issue_date=text("cbc:IssueDate") or "",
        issue_time=text("cbc:IssueTime") or "",
        line_extension=Decimal(text(f"{total}/cbc:LineExtensionAmount") or "0"),
        taxes=taxes,
        payable=Decimal(text(f"{total}/cbc:PayableAmount") or "0"),
        supplier_id=text("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID") or "",
        customer_id=text("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID") or "",
        key=technical_key,
        environment=environment,
    )


def _display_number(root, number: str) -> str:
    """DIAN writes "SETP-990000001" in its messages."""
    prefix = root.findtext(".//sts:InvoiceControl/sts:AuthorizedInvoices/sts:Prefix", namespaces=NS) or ""
    return f"{prefix}-{number.removeprefix(prefix)}" if prefix and number.startswith(prefix) else number


def _application_response(document, key: str, result: Result) -> bytes:
    """DIAN's ApplicationResponse (§3.7): 02 validated / 04 rejected, rule messages as LineResponses."""
    ar_ns = "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2"
    cac, cbc = f"{{{NS['cac']}}}", f"{{{NS['cbc']}}}"
    now = dt.datetime.now(BOGOTA)
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
    sub(
        receiver,
        cbc + "RegistrationName",
        document.findtext(
            "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:RegistrationName", namespaces=NS
        )
        or "",
    )
    sub(
        receiver,
        cbc + "CompanyID",
        document.findtext(
            "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS
        )
        or "",
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


# -- the SOAP side ---------------------------------------------------------------------------------------


@functools.cache
def _template(name: str) -> etree._Element:
    return etree.fromstring(read_bytes("dian", "examples", f"{name}.xml"))


def _envelope(template: str) -> tuple[etree._Element, etree._Element]:
    """A fresh copy of an example reply with a current Timestamp, and its `<Op>Result` element."""
    envelope = copy.deepcopy(_template(template))
    now = dt.datetime.now(dt.UTC)
    timestamp = envelope.find("s:Header/wsse:Security/wsu:Timestamp", NS)
    if timestamp is not None:
        timestamp.find("wsu:Created", NS).text = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        timestamp.find("wsu:Expires", NS).text = (now + CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%S.%f")[
            :-3
        ] + "Z"
    return envelope, envelope.find("s:Body", NS)[0][0]


def _fill(element: etree._Element, result: Result) -> None:
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


def _reply(envelope: etree._Element, status: int = 200) -> Response:
    return Response(
        etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), status_code=status, media_type=MEDIA
    )


def _fault(reason: str) -> Response:
    envelope = copy.deepcopy(_template("fault.invalid-security"))
    envelope.find(
        "s:Body/s:Fault/s:Reason/s:Text", NS
    ).text = f"An error occurred when verifying security for the message. {reason}"
    return _reply(envelope, 500)  # SOAP 1.2 over HTTP: faults travel with 500


def _dian_reply(template: str, result: Result) -> Response:
    envelope, element = _envelope(template)
    _fill(element, result)
    return _reply(envelope)


UPLOAD: Final = "{http://schemas.datacontract.org/2004/07/UploadDocumentResponse}"
TRACK: Final = "{http://schemas.datacontract.org/2004/07/XmlParamsResponseTrackId}"


def _upload_refused(result: Result) -> Response:
    """An async batch DIAN would not take: no ZipKey, the reason in ErrorMessageList (§5.5)."""
    envelope, element = _envelope("send-test-set-async")
    element.find(UPLOAD + "ZipKey").text = None
    item = etree.SubElement(element.find(UPLOAD + "ErrorMessageList"), TRACK + "XmlParamsResponseTrackId")
    etree.SubElement(item, TRACK + "Success").text = "false"
    etree.SubElement(item, TRACK + "ProcessedMessage").text = f"{result.status_code}: {result.description}"
    return _reply(envelope)


def create_app(state: SimState) -> Litestar:
    sim = DianSimulator(state)

    def params(operation_el: etree._Element) -> dict[str, str]:
        return {etree.QName(child).localname: (child.text or "") for child in operation_el}

    def decode_content(value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return b""

    async def send(
        request: Request, operation: str, args: dict[str, str], caller: x509.Certificate
    ) -> Response:
        mode = state.next_fault(request)
        if mode == "down":
            return state.unavailable()
        if mode == "quota":
            return state.quota()
        sync = operation == "SendBillSync"
        if mode == "reject" and sync:  # DIAN's documented rejection (the example), nothing issued
            return _reply(_envelope("send-bill-sync.99")[0])
        unpacked = sim.unzip(decode_content(args.get("contentFile", "")), limit=1 if sync else MAX_BATCH)
        if isinstance(unpacked, Result):
            return _dian_reply("send-bill-sync.89", unpacked) if sync else _upload_refused(unpacked)
        judged = [sim.validate(name, data, caller) for name, data in unpacked]
        publish = [s for _, s in judged if s is not None]

        def publish_all() -> None:
            for stored in publish:
                sim.publish(
                    stored,
                    payload={
                        "operation": operation,
                        "file_name": args.get("fileName"),
                        "xml": stored.xml.decode("utf-8", "replace"),
                    },
                )

        if mode == "hang":
            # Received; the validation result appears only later, and the answer never in time.
            asyncio.get_running_loop().call_later(state.settings.hang_s, publish_all)
            await state.after_issue("hang")
        else:
            publish_all()
            if mode == "slow":
                await state.after_issue("slow")
        if sync:
            result = judged[0][0]
            template = {"00": "send-bill-sync.00", "89": "send-bill-sync.89"}.get(
                result.status_code, "send-bill-sync.99"
            )
            return _dian_reply(template, result)
        zip_key = str(uuid.uuid4())
        with sim._lock:
            sim.batches[zip_key] = [r.document_key or "" for r, _ in judged]
        envelope, element = _envelope("send-test-set-async")
        element.find(UPLOAD + "ZipKey").text = zip_key
        return _reply(envelope)

    def get_status(track_id: str) -> Response:
        with sim._lock:
            stored = sim.published.get(track_id.lower())
        if stored is None:
            return _dian_reply(
                "get-status.66", Result(status_code="66", description="TrackId no encontrado.")
            )
        template = {"00": "get-status.00"}.get(stored.result.status_code, "get-status.99")
        return _dian_reply(template, stored.result)

    def get_status_zip(track_id: str) -> Response:
        with sim._lock:
            keys = sim.batches.get(track_id)
            first_poll = track_id not in sim.polled
            sim.polled.add(track_id)
            stored = [sim.published.get(k) for k in keys or ()]
        envelope, element = _envelope(
            "get-status-zip.98" if first_poll or keys is None else "get-status-zip.00"
        )
        item = element[0]
        if keys is None:
            _fill(item, Result(status_code="66", description="TrackId no encontrado."))
            return _reply(envelope)
        if first_poll:  # the batch is validated in the background: the first poll finds it running
            _fill(item, Result(status_code="98", description="Batch en proceso de validación."))
            return _reply(envelope)
        element.remove(item)
        for doc in stored:
            clone = copy.deepcopy(item)
            _fill(clone, doc.result if doc else Result(status_code="98", description="En Proceso"))
            element.append(clone)
        return _reply(envelope)

    def get_xml(track_id: str) -> Response:
        with sim._lock:
            stored = sim.published.get(track_id.lower())
        envelope, element = _envelope("get-xml-by-document-key")
        fields = {etree.QName(c).localname: c for c in element}
        if stored is None or stored.result.status_code != "00":
            fields["Code"].text, fields["Message"].text, fields["XmlBytesBase64"].text = (
                "404",
                "No encontrado",
                None,
            )
        else:
            fields["XmlBytesBase64"].text = base64.b64encode(stored.xml).decode()
        return _reply(envelope)

    @post([PATH, PATH + "/"], status_code=200)
    async def soap(request: Request) -> Response:
        """One SOAP 1.2 operation of WcfDianCustomerServices."""
        try:
            envelope = etree.fromstring(
                await request.body(),
                parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False),
            )
            body = envelope.find("s:Body", NS)
            operation_el = body[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            return _fault("The message is not a SOAP 1.2 envelope.")
        try:
            caller = sim.check_security(envelope)
        except SecurityError as exc:
            return _fault(str(exc))
        operation = etree.QName(operation_el).localname
        args = params(operation_el)
        if operation in ("SendBillSync", "SendTestSetAsync", "SendBillAsync"):
            return await send(request, operation, args, caller)
        if operation == "GetStatus":
            return get_status(args.get("trackId", ""))
        if operation == "GetStatusZip":
            return get_status_zip(args.get("trackId", ""))
        if operation == "GetXmlByDocumentKey":
            return get_xml(args.get("trackId", ""))
        if operation == "GetNumberingRange":
            envelope, _ = _envelope("get-numbering-range")
            return _reply(envelope)
        return _fault(f"Unknown operation {operation}.")

    return Litestar(route_handlers=[soap, *control_handlers(state)], debug=False)
