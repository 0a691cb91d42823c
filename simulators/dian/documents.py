"""What DIAN checks in a package and in each document (research/dian.md §1–§5, Anexo Técnico 1.9): zip
structure, UBL 2.1 XSD, the XAdES-EPES signature, software and SoftwareSecurityCode, the numbering
range (FAB05b, FAD05a/FAD05c), the CUFE/CUDE recomputed from the XML, the issue date against the
signing time and the window (FAD09e), document-level discounts and charges (reason code and
percentage), note concepts, and the parties (simulators/dian/parties.py)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import io
import os
import zipfile
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from importlib.resources import files
from typing import Final

import msgspec
from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput
from signxml.exceptions import InvalidSignature as XmlInvalid
from signxml.xades import XAdESVerifier

from canonical import clock
from canonical.dian import cufe, software_security_code
from simulators.dian.names import BOGOTA, NS, POLICY, XADES
from simulators.dian.parties import party_errors

ISSUE_WINDOW_DAYS: Final = 10  # ARCHITECTURE.md: issue dates from 10 days back to today
MAX_BATCH: Final = 50

# DIAN's public habilitación range; outside production DIAN checks every CUFE with one test key.
TEST_TECHNICAL_KEY: Final = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
RANGES: Final[dict[tuple[str, str, str], tuple[int, int, str]]] = {
    # (document type, resolution, prefix) -> (from, to, technical key): a resolution numbers one kind.
    ("01", "18760000001", "SETP"): (990000000, 995000000, TEST_TECHNICAL_KEY),
    ("20", "18760000001", "EPOS"): (1, 1000000, TEST_TECHNICAL_KEY),
    ("05", "18760000001", "DSP"): (1, 1000000, TEST_TECHNICAL_KEY),
}

ROOTS: Final[dict[str, str]] = {
    "Invoice": "UBL-Invoice-2.1.xsd",
    "CreditNote": "UBL-CreditNote-2.1.xsd",
    "DebitNote": "UBL-DebitNote-2.1.xsd",
}


class DianType(msgspec.Struct, frozen=True):
    """What DIAN expects of one document type (research/dian.md §1, §3.3; contracts/dian/SOURCES.md)."""

    kind: str  # the ledger's kind
    name: str  # how DIAN names it in its answer
    prefix: str  # of the rule codes: FAD06, CAD06, DAD06, DEAD06, NAAD06, DSAD06, NSAD06
    root: str
    fiscal_id: str  # CUFE (technical key), CUDE (software PIN) or CUDS (PIN, IVA only)
    profile: str  # cbc:ProfileID
    numbered: bool = False  # sts:InvoiceControl with a resolution of this type
    purchase: bool = False  # the issuer is the AccountingCustomerParty (support documents)
    groups: tuple[str, ...] = ()  # mandatory extension groups (the POS document's)


_SUPPORT_NOTE_PROFILE: Final = (
    "DIAN 2.1: Nota de ajuste al documento soporte en adquisiciones efectuadas a sujetos no obligados a "
    "expedir factura o documento equivalente"
)
TYPES: Final[dict[str, DianType]] = {
    "01": DianType(
        "invoice",
        "Factura electrónica",
        "FA",
        "Invoice",
        "CUFE",
        "DIAN 2.1: Factura Electrónica de Venta",
        True,
    ),
    "91": DianType(
        "credit_note",
        "Nota crédito electrónica",
        "CA",
        "CreditNote",
        "CUDE",
        "DIAN 2.1: Nota Crédito de Factura Electrónica de Venta",
    ),
    "92": DianType(
        "debit_note",
        "Nota débito electrónica",
        "DA",
        "DebitNote",
        "CUDE",
        "DIAN 2.1: Nota Débito de Factura Electrónica de Venta",
    ),
    "20": DianType(
        "pos_invoice",
        "Documento equivalente electrónico POS",
        "DEA",
        "Invoice",
        "CUDE",
        "DIAN 2.1: Documento Equivalente POS",
        True,
        groups=("FabricanteSoftware", "BeneficiosComprador", "PuntoVenta"),
    ),
    "94": DianType(
        "credit_note",
        "Nota de ajuste al documento equivalente",
        "NAA",
        "CreditNote",
        "CUDE",
        "DIAN 2.1: Nota de ajuste crédito al documento equivalente",
    ),
    "05": DianType(
        "support_document",
        "Documento soporte",
        "DSA",
        "Invoice",
        "CUDS",
        "DIAN 2.1: documento soporte en adquisiciones efectuadas a no obligados a facturar.",
        True,
        True,
    ),
    "95": DianType(
        "credit_note",
        "Nota de ajuste al documento soporte",
        "NSA",
        "CreditNote",
        "CUDS",
        _SUPPORT_NOTE_PROFILE,
        purchase=True,
    ),
}
TYPE_CODES: Final = {"Invoice": "cbc:InvoiceTypeCode", "CreditNote": "cbc:CreditNoteTypeCode"}
SUPPORT_OPERATIONS: Final = frozenset({"10", "11"})  # CustomizationID: seller resident / not resident


def document_type(root: etree._Element) -> DianType | None:
    """The DIAN type a document declares (the UBL DebitNote has no type code: 92), if DIAN has it
    under that root."""
    name = etree.QName(root).localname
    code = root.findtext(TYPE_CODES[name], namespaces=NS) if name in TYPE_CODES else "92"
    found = TYPES.get((code or "").strip())
    return found if found is not None and found.root == name else None


# Anexo 1.9 "Códigos de descuento": 00/01 discount (not) conditioned, 02/03 charge (not) conditioned.
ADJUSTMENT_REASON_CODES: Final = {"false": frozenset({"00", "01"}), "true": frozenset({"02", "03"})}
ADJUSTMENT_TOLERANCE: Final = Decimal("1.00")  # Amount against BaseAmount × MultiplierFactorNumeric / 100
# Anexo 1.9 note concepts (DiscrepancyResponse/ResponseCode): credit 1–6 ("5 Otros" is gone; 5 and 6
# are the commercial discounts for early payment and volume), debit 1–4.
NOTE_CONCEPTS: Final = {
    "CreditNote": frozenset({"1", "2", "3", "4", "5", "6"}),
    "DebitNote": frozenset({"1", "2", "3", "4"}),
}

OK_DESCRIPTION: Final = "Procesado Correctamente."
REJECTED_DESCRIPTION: Final = "Validación contiene errores en campos mandatorios."
REJECTED_MESSAGE: Final = "Documento con errores en campos mandatorios."
DUPLICATE_ERROR: Final = "Regla: 90, Rechazo: Documento procesado anteriormente."


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
    xsd = ROOTS.get(name, f"UBL-{name}-2.1.xsd")
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


# -- checks ---------------------------------------------------------------------------------------------


def unzip(content: bytes, *, limit: int) -> list[tuple[str, bytes]] | Result:
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


def signature_errors(data: bytes, trust_path: str | None) -> list[str]:
    """The XAdES-EPES checks (rule ZE02 and the certificate rules ZD05–ZD07), with signxml."""
    try:
        embedded = embedded_certificate(data)
    except ValueError:
        return ["Regla: ZD06, Rechazo: No se encontró el certificado de la firma"]
    now = clock.now(dt.UTC)
    if not embedded.not_valid_before_utc <= now <= embedded.not_valid_after_utc:
        return ["Regla: ZD07, Rechazo: El certificado de la firma está vencido o aún no es válido"]
    verifier = XAdESVerifier()
    try:
        if trust_path:
            results = verifier.verify(data, ca_pem_file=trust_path, expect_signature_policy=POLICY)
        else:
            results = verifier.verify(data, x509_cert=embedded, expect_signature_policy=POLICY)
    except InvalidCertificate as exc:
        return [f"Regla: ZD05, Rechazo: Certificado no emitido por una entidad autorizada: {exc}"]
    except (InvalidDigest, XmlInvalid, InvalidInput, ValueError) as exc:
        return [f"Regla: ZE02, Rechazo: Valor de la firma inválido: {exc}"]
    if len(results) != 3:
        return ["Regla: ZE02, Rechazo: La firma debe tener tres referencias"]
    return []


def content_errors(root, dian_type: DianType, number: str, key: str, software: dict[str, str]) -> list[str]:
    """Software, SoftwareSecurityCode, profile, range, CUFE/CUDE/CUDS, issue date, mandatory groups."""
    text = functools.partial(root.findtext, namespaces=NS)
    prefix = dian_type.prefix
    errors = []
    software_id = text(".//sts:SoftwareProvider/sts:SoftwareID") or ""
    pin = software.get(software_id)
    if pin is None:
        return [f"Regla: {prefix}B24b, Rechazo: El software {software_id} no está registrado o habilitado"]
    if (text(".//sts:SoftwareSecurityCode") or "").lower() != software_security_code(
        software_id, pin, number
    ):
        errors.append(f"Regla: {prefix}B27b, Rechazo: El código de seguridad del software no corresponde")
    if text("cbc:ProfileID") != dian_type.profile:
        errors.append(f"Regla: {prefix}B03, Rechazo: ProfileID no corresponde a {dian_type.profile!r}")
    environment = text("cbc:ProfileExecutionID") or ""
    technical_key = pin
    if dian_type.numbered:
        control = ".//sts:InvoiceControl/"
        resolution, range_prefix = (
            text(control + "sts:InvoiceAuthorization"),
            text(control + "sts:AuthorizedInvoices/sts:Prefix") or "",
        )
        code = _type_code(dian_type)
        known = RANGES.get((code, resolution or "", range_prefix))
        errors += _range_errors(number, range_prefix, known, prefix)
        if dian_type.fiscal_id == "CUFE":
            technical_key = TEST_TECHNICAL_KEY if environment == "2" else (known[2] if known else "")
    try:
        if dian_type.fiscal_id == "CUDS":
            expected = recompute_cuds(root, pin, environment)
        else:
            expected = recompute_cufe(root, dian_type.root, technical_key, environment)
    except (InvalidOperation, ValueError):
        expected = None
    if expected != key:
        errors.append(
            f"Regla: {prefix}D06, Rechazo: Valor del {dian_type.fiscal_id} no está calculado correctamente."
        )
    if root.find("cbc:UUID", NS) is not None and root.find("cbc:UUID", NS).get("schemeName") != (
        f"{dian_type.fiscal_id}-SHA384"
    ):
        errors.append(f"Regla: {prefix}D07, Rechazo: UUID@schemeName debe ser {dian_type.fiscal_id}-SHA384")
    if dian_type.purchase and text("cbc:CustomizationID") not in SUPPORT_OPERATIONS:
        errors.append(
            f"Regla: {prefix}D02, Rechazo: CustomizationID debe ser 10 (residente) u 11 (no residente)"
        )
    errors += _group_errors(root, dian_type)
    errors += _date_errors(root, prefix)
    errors += adjustment_errors(root, prefix)
    errors += _note_errors(root, dian_type)
    errors += party_errors(root, prefix)
    return errors


def _type_code(dian_type: DianType) -> str:
    return next(code for code, t in TYPES.items() if t is dian_type)


def _group_errors(root, dian_type: DianType) -> list[str]:
    """The POS document's groups, each a UBLExtension with Name/Value pairs (codes: the simulator's)."""
    errors = []
    for group in dian_type.groups:
        found = root.find(f"ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/{{*}}{group}", NS)
        names = [] if found is None else [e.text for e in found.iter() if etree.QName(e).localname == "Name"]
        values = [] if found is None else [e for e in found.iter() if etree.QName(e).localname == "Value"]
        if not names or len(names) != len(values) or not all((v.text or "").strip() for v in values):
            errors.append(
                f"Regla: {dian_type.prefix}X01, Rechazo: Grupo {group} no informado o con valores vacíos"
            )
    return errors


def _range_errors(number: str, prefix: str, known: tuple[int, int, str] | None, rule: str) -> list[str]:
    """FAB05b: the resolution is not one of the issuer's; FAD05*: the number is not prefix +
    a consecutive inside From..To (the letters a/c are this simulator's reading: README)."""
    if known is None:
        return [
            f"Regla: {rule}B05b, Rechazo: Número de la resolución que autoriza la numeración no corresponde "
            "a un número de resolución de este contribuyente emisor para este Proveedor de Autorización"
        ]
    consecutive = number.removeprefix(prefix)
    if not number.startswith(prefix) or not consecutive.isdigit():
        return [
            f"Regla: {rule}D05a, Rechazo: El número {number} no está formado por el prefijo {prefix} y un consecutivo"
        ]
    if not known[0] <= int(consecutive) <= known[1]:
        return [
            f"Regla: {rule}D05c, Rechazo: El consecutivo {consecutive} no está dentro del rango de numeración "
            f"autorizado ({known[0]}–{known[1]})"
        ]
    return []


def _date_errors(root, prefix: str) -> list[str]:
    """FAD09e: the issue date is the date the document was signed, and within the window the
    simulator accepts (ARCHITECTURE: 10 days back to today, never ahead)."""
    text = functools.partial(root.findtext, namespaces=NS)
    today = clock.now(BOGOTA).date()
    try:
        issued = dt.date.fromisoformat(text("cbc:IssueDate") or "")
    except ValueError:
        return [f"Regla: {prefix}D09e, Rechazo: Fecha de emisión no informada o inválida"]
    errors = []
    try:
        signed = dt.datetime.fromisoformat(text(f".//{{{XADES}}}SigningTime") or "")
        signed_on = signed.astimezone(BOGOTA).date() if signed.tzinfo else None
    except ValueError:
        signed_on = None
    if signed_on != issued:
        errors.append(
            f"Regla: {prefix}D09e, Rechazo: La fecha de emisión ({issued}) no corresponde a la fecha de "
            f"la firma ({signed_on or 'SigningTime ausente o sin zona horaria'})"
        )
    if not today - dt.timedelta(days=ISSUE_WINDOW_DAYS) <= issued <= today:
        errors.append(f"Regla: {prefix}D09e, Rechazo: La fecha de emisión debe ser la fecha de envío")
    return errors


def adjustment_errors(root, prefix: str) -> list[str]:
    """Document-level AllowanceCharge: a reason code of the Anexo's table for its direction
    ({prefix}Q03) and a MultiplierFactorNumeric that turns BaseAmount into Amount ({prefix}Q05).
    Codes chosen by the simulator (README)."""
    errors = []
    for n, charge in enumerate(root.iterfind("cac:AllowanceCharge", NS), start=1):
        text = functools.partial(charge.findtext, namespaces=NS)
        indicator = (text("cbc:ChargeIndicator") or "").strip()
        if text("cbc:AllowanceChargeReasonCode") not in ADJUSTMENT_REASON_CODES.get(indicator, ()):
            errors.append(
                f"Regla: {prefix}Q03, Rechazo: AllowanceCharge {n}: AllowanceChargeReasonCode no corresponde "
                f"a la lista de códigos de {'cargo' if indicator == 'true' else 'descuento'}"
            )
        try:
            factor = Decimal(text("cbc:MultiplierFactorNumeric") or "")
            amount, base = Decimal(text("cbc:Amount") or ""), Decimal(text("cbc:BaseAmount") or "")
            consistent = abs(base * factor / 100 - amount) <= ADJUSTMENT_TOLERANCE
        except InvalidOperation:
            consistent = False
        if not consistent:
            errors.append(
                f"Regla: {prefix}Q05, Rechazo: AllowanceCharge {n}: MultiplierFactorNumeric no informado o "
                "Amount diferente de BaseAmount × MultiplierFactorNumeric / 100"
            )
    return errors


def _note_errors(root, dian_type: DianType) -> list[str]:
    """A note's concept (DiscrepancyResponse/ResponseCode) from the Anexo 1.9 list: CBE03/DBE03
    (codes chosen by the simulator, README)."""
    root_name = dian_type.root
    if root_name not in NOTE_CONCEPTS:
        return []
    code = root.findtext("cac:DiscrepancyResponse/cbc:ResponseCode", namespaces=NS)
    if code in NOTE_CONCEPTS[root_name]:
        return []
    rule = "CBE03" if root_name == "CreditNote" else "DBE03"
    return [
        f"Regla: {rule}, Rechazo: Concepto de corrección {code!r} no corresponde a la lista del Anexo 1.9"
    ]


def certificate_nit(cert: x509.Certificate) -> str | None:
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


def embedded_certificate(data: bytes) -> x509.Certificate:
    root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    found = root.findtext(".//ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    if not found:
        raise ValueError("no X509Certificate in the signature")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(found))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"unreadable X509Certificate: {exc}") from None


def recompute_cufe(root, root_name: str, technical_key: str, environment: str) -> str:
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


def recompute_cuds(root, software_pin: str, environment: str) -> str:
    """CUDS from the XML by the Anexo's formula (DSNO V1.1; research/dian.md §1.4): NumDS, FecDS,
    HorDS, ValDS, "01", ValImp (IVA only), ValTol, the seller (NumSNO, AccountingSupplierParty), the
    buyer (NITABS, AccountingCustomerParty), the software PIN, TipoAmb; amounts truncated to cents."""
    text = functools.partial(root.findtext, namespaces=NS)
    iva = Decimal(0)
    for tax_total in root.iterfind("cac:TaxTotal", NS):
        if tax_total.findtext("cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:ID", namespaces=NS) == "01":
            iva = Decimal(tax_total.findtext("cbc:TaxAmount", namespaces=NS) or "0")
            break

    def cents(value: Decimal | str) -> str:
        return format(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_DOWN), "f")

    party = "cac:{}/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"
    fields = (
        text("cbc:ID") or "",
        text("cbc:IssueDate") or "",
        text("cbc:IssueTime") or "",
        cents(text("cac:LegalMonetaryTotal/cbc:LineExtensionAmount") or "0"),
        "01",
        cents(iva),
        cents(text("cac:LegalMonetaryTotal/cbc:PayableAmount") or "0"),
        text(party.format("AccountingSupplierParty")) or "",
        text(party.format("AccountingCustomerParty")) or "",
        software_pin,
        environment,
    )
    return hashlib.sha384("".join(fields).encode()).hexdigest()


def display_number(root, number: str) -> str:
    """DIAN writes "SETP-990000001" in its messages."""
    prefix = root.findtext(".//sts:InvoiceControl/sts:AuthorizedInvoices/sts:Prefix", namespaces=NS) or ""
    return f"{prefix}-{number.removeprefix(prefix)}" if prefix and number.startswith(prefix) else number
