"""UBL 2.1 Invoice / CreditNote / DebitNote as DIAN expects them (research/dian.md §3): invoices and
their notes, the POS equivalent document and its adjustment note, the support document and its
adjustment note (which DIAN type is written: adapters/dian/profiles.py).

Every amount comes from `emission.totals`; the CUFE/CUDE/CUDS from `canonical.dian`. Children are
collected by element name and written in the XSD order of the root (`ORDER`), because the three
UBL roots order the same elements differently (a DebitNote puts AllowanceCharge before PaymentMeans).
The last UBLExtension is left empty for the XAdES signature.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

import msgspec
from lxml import etree

from adapters import colombia
from adapters.base import Emission, Misconfigured, UnsupportedIssue, money, unsupported_if
from adapters.dian.profiles import DIAN_TYPES, PROFILES, KindProfile, customization, profile_of
from canonical import catalogs, clock, divipola
from canonical.countries import COUNTRY_NAMES
from canonical.dian import ENVIRONMENTS, FINAL_CONSUMER_ID, qr_url, software_security_code
from canonical.document import Address, Party, PointOfSale

BOGOTA: Final = ZoneInfo("America/Bogota")
_CENT: Final = Decimal("0.01")
_issuer_key = msgspec.json.Encoder().encode

NS: Final[dict[str, str]] = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ext": "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xades": "http://uri.etsi.org/01903/v1.3.2#",
    "xades141": "http://uri.etsi.org/01903/v1.4.1#",
    "sts": "dian:gov:co:facturaelectronica:Structures-2-1",  # §3.1: DIAN's own ApplicationResponse uses it
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
CAC, CBC, EXT = (f"{{{NS[p]}}}" for p in ("cac", "cbc", "ext"))  # Clark names, for lxml readers

DIAN_NIT: Final = "800197268"
DIAN_DV: Final = "4"
DIAN_AGENCY: Final = {
    "schemeAgencyID": "195",
    "schemeAgencyName": "CO, DIAN (Dirección de Impuestos y Aduanas Nacionales)",
}


# Body order per root, from UBL-<Root>-2.1.xsd (only the elements we write).
_HEAD: Final = [
    "UBLExtensions",
    "UBLVersionID",
    "CustomizationID",
    "ProfileID",
    "ProfileExecutionID",
    "ID",
    "UUID",
    "IssueDate",
    "IssueTime",
]
ORDER: Final[dict[str, list[str]]] = {
    "Invoice": [
        *_HEAD,
        "DueDate",
        "InvoiceTypeCode",
        "Note",
        "DocumentCurrencyCode",
        "LineCountNumeric",
        "BillingReference",
        "AccountingSupplierParty",
        "AccountingCustomerParty",
        "PaymentMeans",
        "AllowanceCharge",
        "TaxTotal",
        "WithholdingTaxTotal",
        "LegalMonetaryTotal",
        "InvoiceLine",
    ],
    "CreditNote": [
        *_HEAD,
        "CreditNoteTypeCode",
        "Note",
        "DocumentCurrencyCode",
        "LineCountNumeric",
        "DiscrepancyResponse",
        "BillingReference",
        "AccountingSupplierParty",
        "AccountingCustomerParty",
        "PaymentMeans",
        "AllowanceCharge",
        "TaxTotal",
        "LegalMonetaryTotal",
        "CreditNoteLine",
    ],
    "DebitNote": [
        *_HEAD,
        "Note",
        "DocumentCurrencyCode",
        "LineCountNumeric",
        "DiscrepancyResponse",
        "BillingReference",
        "AccountingSupplierParty",
        "AccountingCustomerParty",
        "AllowanceCharge",
        "PaymentMeans",
        "TaxTotal",
        "RequestedMonetaryTotal",
        "DebitNoteLine",
    ],
}
# Inside a line, the Invoice puts AllowanceCharge before TaxTotal; the notes the other way round.
LINE_ORDER: Final[dict[str, list[str]]] = {
    "InvoiceLine": ["AllowanceCharge", "TaxTotal"],
    "CreditNoteLine": ["TaxTotal", "AllowanceCharge"],
    "DebitNoteLine": ["TaxTotal", "AllowanceCharge"],
}

TAX_NAMES: Final[dict[str, str]] = {
    "01": "IVA",
    "04": "INC",
    "03": "ICA",
    "05": "ReteIVA",
    "06": "ReteRenta",
    "07": "ReteICA",
}

# Document-level AllowanceChargeReasonCode (Anexo 1.9 table "Códigos de descuento"): 00/01 discount
# not conditioned / conditioned, 02/03 charge not conditioned / conditioned. The engine keeps
# document-level discounts and charges (tips included) out of the tax base: the conditioned codes.
ADJUSTMENT_REASON_CODES: Final[dict[str, str]] = {"false": "01", "true": "03"}
FINAL_CONSUMER_NAME: Final = "Consumidor final"

# A party's IVA regime: TaxLevelCode@listName (48 responsable de IVA, 49 no responsable, as facho
# writes it; research/dian.md §3.4) and its PartyTaxScheme (01 IVA, or ZZ "No aplica").
NOT_IVA_RESPONSIBLE: Final = "R-99-PN"
REGIMES: Final[dict[bool, tuple[str, str, str]]] = {
    True: ("48", "01", "IVA"),
    False: ("49", "ZZ", "No aplica"),
}


class Software(msgspec.Struct, frozen=True, kw_only=True):
    """The registered software that signs: who owns it and its DIAN id and PIN."""

    software_id: str
    software_pin: str
    provider_nit: str
    provider_dv: str
    # Who made it (the POS document's FabricanteSoftware group): a person's name, a company, a product.
    manufacturer_name: str = ""
    manufacturer_company: str = ""
    software_name: str = "Pasarela"


class UblDocument:
    """The unsigned document as its inclusive C14N bytes (what the signer digests and sends).

    The builder writes canonical XML directly, so the signer needs no parse and no C14N pass; the
    lxml tree is parsed only when someone asks for `root` (tests, tools)."""

    __slots__ = ("_root", "canonical", "fiscal_id", "issued_at", "nsmap", "number", "warnings")

    def __init__(
        self,
        *,
        canonical: bytes,
        nsmap: dict[str | None, str],  # what the root declares (the signature declares it too)
        number: str,
        fiscal_id: str,  # CUFE (invoice) or CUDE (notes)
        issued_at: dt.datetime,  # issue date and time in Bogotá: also the signing time (deterministic resend)
        warnings: list[str],
        root: etree._Element | None = None,
    ) -> None:
        self.canonical = canonical
        self.nsmap = nsmap
        self.number = number
        self.fiscal_id = fiscal_id
        self.issued_at = issued_at
        self.warnings = warnings
        self._root = root

    @property
    def root(self) -> etree._Element:
        """The document as an lxml tree (tests, tools), parsed from the canonical text."""
        if self._root is None:
            self._root = etree.fromstring(self.canonical, _PARSER)
        return self._root


# The text is written in its C14N 1.0 form (the escaping, attribute order, namespace order and
# start/end tag pairs C14N produces), so that `canonical` is byte-identical to C14N(parse(text)):
# tests/unit/test_dian_equivalence.py checks it. Attribute values: a parser turns a literal tab or
# newline into a space (CDATA normalisation), which is what is written here.
_ESCAPE_TEXT: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
_ESCAPE_ATTR: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\r": "&#xD;", "\n": " ", "\t": " "}
)
# What XML 1.0 refuses (Char production) besides lone surrogates (which UTF-8 cannot encode): the
# C0 controls other than TAB, LF, CR, and U+FFFE / U+FFFF. Such text goes through the parser, which
# says why. Checked on the encoded bytes: a fifth of the time of a regular expression on the text.
_NOT_XML_C0: Final = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
_NOT_XML_NONCHARS: Final = ("\ufffe".encode(), "\uffff".encode())


def _xml_bytes(text: str) -> bytes | None:
    """`text` in UTF-8 if every character of it is XML 1.0, else None."""
    try:
        data = text.encode()
    except UnicodeEncodeError:
        return None
    if len(data.translate(None, _NOT_XML_C0)) != len(data):
        return None
    if b"\xef\xbf" in data and any(n in data for n in _NOT_XML_NONCHARS):  # U+FFFx, rare
        return None
    return data


def _escape_attr(value: str) -> str:
    # Most values need nothing: testing for each character is 5x faster than translate.
    if "&" in value or "<" in value or '"' in value or "\r" in value or "\n" in value or "\t" in value:
        return value.translate(_ESCAPE_ATTR)
    return value


def _escape_text(text: str) -> str:
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        return text.translate(_ESCAPE_TEXT)
    return text


def _attrs(attrs: dict[str, str]) -> str:
    """Attributes in C14N order (none of ours is namespaced: sorted by name)."""
    return "".join(f' {name}="{_escape_attr(attrs[name])}"' for name in sorted(attrs))


def _e(tag: str, text: str, **attrs: str) -> str:
    """One element with text; `tag` is prefixed (cbc:ID): the prefixes are declared on the root."""
    return f"<{tag}{_attrs(attrs) if attrs else ''}>{_escape_text(text)}</{tag}>"


def _w(tag: str, *children: str) -> str:
    """One element wrapping already-written children."""
    return f"<{tag}>{''.join(children)}</{tag}>"


def _amount(tag: str, value: Decimal, currency: str) -> str:
    return f'<cbc:{tag} currencyID="{currency}">{money(value)}</cbc:{tag}>'


def issued_at(emission: Emission) -> dt.datetime:
    """The document's issue instant in Bogotá (the gateway fills date and time before dispatch)."""
    doc = emission.document
    now = clock.now(BOGOTA)
    date = doc.issue_date or now.date()
    time = doc.issue_time or now.time()
    return dt.datetime.combine(date, time.replace(microsecond=0, tzinfo=None), tzinfo=BOGOTA)


def build_document(emission: Emission, software: Software, environment: str) -> UblDocument:
    """The unsigned UBL document for an emission; raises Unsupported / Misconfigured.

    Written as text and parsed once: a third of the time of building it element by element, and
    the builder is the largest share of the pipeline after the two RSA signatures (bench/).
    """
    doc, totals, issuer = emission.document, emission.totals, emission.issuer
    kind = profile_of(doc)
    issues: list[UnsupportedIssue] = []
    if kind is None:
        on = f" on a {doc.reference.kind}" if doc.reference is not None and doc.reference.kind else ""
        issues.append(
            UnsupportedIssue(
                path="kind", rule="dian-kind", message=f"direct DIAN does not emit {doc.kind}{on}"
            )
        )
    elif kind.point_of_sale and doc.point_of_sale is None:
        issues.append(
            UnsupportedIssue(
                path="point_of_sale",
                rule="dian-pos-point-of-sale",
                message="a POS equivalent document needs its point of sale (DIAN PuntoVenta group)",
            )
        )
    if kind is not None and kind.purchase and doc.supplier is None:
        issues.append(
            UnsupportedIssue(
                path="supplier", rule="dian-support-supplier", message="a support document needs the seller"
            )
        )
    if not emission.number:
        raise Misconfigured("direct DIAN needs the gateway's number for the document", code="numbering")
    if doc.kind == "invoice" and doc.customer is None:
        issues.append(
            UnsupportedIssue(
                path="customer",
                rule="co-invoice-customer-required",
                message="a DIAN invoice needs a customer",
            )
        )
    if doc.kind in catalogs.NOTE_KINDS and doc.reason is None:
        issues.append(
            UnsupportedIssue(path="reason", rule="dian-note-reason", message="a note needs a reason")
        )
    elif doc.kind in catalogs.NOTE_KINDS and catalogs.NOTE_REASONS[doc.kind].get(doc.reason.code) is None:
        # Anexo 1.9 dropped credit-note concept 5 "Otros": DIAN has no code for a generic reason.
        issues.append(
            UnsupportedIssue(
                path="reason.code",
                rule="dian-note-reason",
                message=f"DIAN (Anexo 1.9) has no {doc.kind} concept for {doc.reason.code!r}",
            )
        )
    for path, party in (("customer", doc.customer), ("supplier", doc.supplier)):
        if party is not None and party.address is not None:
            issues.extend(_address_issues(party.address, f"{path}.address"))
    if (doc.currency or "COP") != "COP":
        # A foreign currency needs cac:PaymentExchangeRate with the day's TRM, which the model lacks.
        issues.append(
            UnsupportedIssue(
                path="currency", rule="dian-currency-cop", message="direct DIAN emits in COP only"
            )
        )
    unsupported_if(issues)
    assert kind is not None
    if issuer.address is None or _address_issues(issuer.address, "issuer.address"):
        raise Misconfigured(
            "DIAN needs the issuer's address: street line, DIVIPOLA municipality (Anexo 1.9 FAJ08/FAJ28)",
            code="issuer-address",
        )
    warnings: list[str] = []
    currency = "COP"
    at = issued_at(emission)
    issue_date, issue_time = at.strftime("%Y-%m-%d"), at.strftime("%H:%M:%S%z")
    issue_time = issue_time[:-2] + ":" + issue_time[-2:]  # -0500 → -05:00 (§1.1 HorFac)
    env_code = ENVIRONMENTS[environment]
    tax_by_scheme = colombia.taxes_by_scheme(totals)
    fiscal_id = _fiscal_id(kind, emission, software, tax_by_scheme, issue_date, issue_time, env_code)

    parts: dict[str, list[str]] = {}

    def put(name: str, xml: str) -> None:
        parts.setdefault(name, []).append(xml)

    put("UBLExtensions", _extensions(kind, emission, software, environment, fiscal_id))
    put("UBLVersionID", "<cbc:UBLVersionID>UBL 2.1</cbc:UBLVersionID>")
    put("CustomizationID", _e("cbc:CustomizationID", customization(kind, doc)))
    put("ProfileID", _e("cbc:ProfileID", kind.profile))
    put("ProfileExecutionID", _e("cbc:ProfileExecutionID", env_code))
    put("ID", _e("cbc:ID", emission.number))
    put("UUID", _e("cbc:UUID", fiscal_id, schemeID=env_code, schemeName=kind.fiscal_id_name))
    put("IssueDate", _e("cbc:IssueDate", issue_date))
    put("IssueTime", _e("cbc:IssueTime", issue_time))
    if kind.root == "Invoice" and doc.payment and doc.payment.due_date:
        put("DueDate", _e("cbc:DueDate", doc.payment.due_date.isoformat()))
    if kind.type_code:
        put(kind.type_code, _e("cbc:" + kind.type_code, kind.code))
    for note in doc.notes:
        put("Note", _e("cbc:Note", note))
    put("DocumentCurrencyCode", _e("cbc:DocumentCurrencyCode", currency))
    put("LineCountNumeric", _e("cbc:LineCountNumeric", str(len(doc.lines))))
    if doc.kind in catalogs.NOTE_KINDS:
        assert doc.reason is not None
        reasons = catalogs.NOTE_REASONS[doc.kind]
        put(
            "DiscrepancyResponse",
            _w(
                "cac:DiscrepancyResponse",
                _e("cbc:ReferenceID", doc.reference.number) if doc.reference else "",
                _e("cbc:ResponseCode", reasons[doc.reason.code] or ""),
                _e("cbc:Description", doc.reason.description or doc.reason.code),
            ),
        )
    if doc.reference is not None:
        ref = doc.reference
        put(
            "BillingReference",
            _w(
                "cac:BillingReference",
                _w(
                    "cac:InvoiceDocumentReference",
                    _e("cbc:ID", ref.number),
                    _e("cbc:UUID", ref.fiscal_id, schemeName=_referenced(ref.kind).fiscal_id_name)
                    if ref.fiscal_id
                    else "",
                    _e("cbc:IssueDate", ref.issue_date.isoformat()) if ref.issue_date else "",
                ),
            ),
        )
    if kind.purchase:  # the tenant buys: the seller is the supplier party, the tenant the customer
        put(
            "AccountingSupplierParty",
            _party("cac:AccountingSupplierParty", doc.supplier, emission, supplier=False),
        )
        put("AccountingCustomerParty", _issuer_party("cac:AccountingCustomerParty", emission))
    else:
        put("AccountingSupplierParty", _issuer_party("cac:AccountingSupplierParty", emission))
        put(
            "AccountingCustomerParty",
            _party("cac:AccountingCustomerParty", doc.customer, emission, supplier=False),
        )
    if doc.payment:
        put(
            "PaymentMeans",
            _w(
                "cac:PaymentMeans",
                _e("cbc:ID", catalogs.PAYMENT_FORMS[doc.payment.form]["CO"]),
                _e("cbc:PaymentMeansCode", catalogs.PAYMENT_MEANS[doc.payment.means]["CO"]),
                _e("cbc:PaymentDueDate", doc.payment.due_date.isoformat()) if doc.payment.due_date else "",
            ),
        )
    for n, (indicator, items, total) in enumerate(
        (("false", doc.discounts, totals.allowances), ("true", doc.charges, totals.charges)), start=1
    ):
        if items:
            put(
                "AllowanceCharge",
                _document_adjustment(n, indicator, items, total, totals.line_extension, currency),
            )
    for code, amount in tax_by_scheme.items():
        subtotals = [t for t in totals.taxes if catalogs.TAXES["CO"][t.tax] == code]
        put("TaxTotal", _tax_total("cac:TaxTotal", code, amount, subtotals, currency))
    if totals.withholdings:
        if kind.root == "Invoice":
            for w in totals.withholdings:
                code = catalogs.WITHHOLDINGS["CO"][w.tax]
                put(
                    "WithholdingTaxTotal",
                    _tax_total("cac:WithholdingTaxTotal", code, w.amount, [w], currency),
                )
        else:  # UBL 2.1 notes have no WithholdingTaxTotal; CO withholdings never change PayableAmount
            warnings.append("withholdings: not expressible in a DIAN note (informational, dropped)")
    put(
        kind.monetary_total,
        _w(
            "cac:" + kind.monetary_total,
            _amount("LineExtensionAmount", totals.line_extension, currency),
            _amount("TaxExclusiveAmount", totals.tax_exclusive, currency),
            _amount("TaxInclusiveAmount", totals.tax_inclusive, currency),
            _amount("AllowanceTotalAmount", totals.allowances, currency),
            _amount("ChargeTotalAmount", totals.charges, currency),
            _amount("PayableAmount", totals.payable, currency),
        ),
    )
    for i, (line, lt) in enumerate(zip(doc.lines, totals.lines, strict=True), start=1):
        put(kind.line, _line(kind, i, line, lt, currency))

    body = "".join(xml for name in ORDER[kind.root] for xml in parts.get(name, ()))
    text = f"<{kind.root} {_ROOT_NAMESPACES[kind.root]}>{body}</{kind.root}>"
    root = None
    canonical = _xml_bytes(text)
    if canonical is None:
        # Not XML 1.0: the parser raises its own error, as it did when every document was parsed.
        root = etree.fromstring(text, _PARSER)
        canonical = etree.tostring(root, method="c14n")
    return UblDocument(
        canonical=canonical,
        nsmap=_ROOT_NSMAPS[kind.root],
        number=emission.number,
        fiscal_id=fiscal_id,
        issued_at=at,
        warnings=warnings,
        root=root,
    )


def _namespaces(root: str, prefixes) -> str:
    default = f"urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
    return f'xmlns="{default}" ' + " ".join(f'xmlns:{prefix}="{NS[prefix]}"' for prefix in prefixes)


# C14N order (the default namespace first, then by prefix) for the text.
_ROOT_NAMESPACES: Final = {kind.root: _namespaces(kind.root, sorted(NS)) for kind in PROFILES.values()}
_ROOT_NSMAPS: Final[
    dict[str, dict[str | None, str]]
] = {  # in the text's order (the signature declares them so)
    kind.root: {
        None: f"urn:oasis:names:specification:ubl:schema:xsd:{kind.root}-2",
        **{p: NS[p] for p in sorted(NS)},
    }
    for kind in PROFILES.values()
}
_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)

_AGENCY: Final = _attrs(DIAN_AGENCY)
_COUNTRY_SOURCE: Final = (
    '<sts:InvoiceSource><cbc:IdentificationCode listAgencyID="6" listAgencyName="United Nations Economic '
    'Commission for Europe" listSchemeURI="urn:oasis:names:specification:ubl:codelist:gc:'
    'CountryIdentificationCode-2.1">CO</cbc:IdentificationCode></sts:InvoiceSource>'
)


def _fiscal_id(
    kind: KindProfile,
    emission: Emission,
    software: Software,
    taxes: dict[str, Decimal],
    issue_date: str,
    issue_time: str,
    env_code: str,
) -> str:
    """CUFE (technical key), CUDE (software PIN) or CUDS (PIN, IVA only, seller then buyer): §1."""
    if kind.fiscal_id == "CUFE":
        key = emission.numbering.technical_key if emission.numbering else None
        if not key:
            raise Misconfigured("the invoice numbering range has no technical key", code="numbering")
    else:
        key = software.software_pin
    return colombia.fiscal_id(
        emission,
        purchase=kind.fiscal_id == "CUDS",
        key=key,
        taxes=taxes,
        issue_date=issue_date,
        issue_time=issue_time,
        environment=env_code,
    )


def _referenced(kind: str | None) -> KindProfile:
    """The profile of a note's referenced document (an invoice unless the reference says otherwise)."""
    return PROFILES[DIAN_TYPES.get((kind or "invoice", None), "01")]


def _extensions(
    kind: KindProfile, emission: Emission, software: Software, environment: str, fiscal_id: str
) -> str:
    rng = emission.numbering
    control = ""
    if kind.control:
        if rng is None or not rng.resolution or not rng.valid_from or not rng.valid_to:
            raise Misconfigured(
                f"the {emission.document.kind} numbering range needs a resolution and its dates",
                code="numbering",
            )
        control = _w(
            "sts:InvoiceControl",
            _e("sts:InvoiceAuthorization", rng.resolution),
            _w(
                "sts:AuthorizationPeriod",
                _e("cbc:StartDate", rng.valid_from.isoformat()),
                _e("cbc:EndDate", rng.valid_to.isoformat()),
            ),
            _w(
                "sts:AuthorizedInvoices",
                _e("sts:Prefix", rng.prefix) if rng.prefix else "",
                _e("sts:From", str(rng.from_)),
                _e("sts:To", str(rng.to)),
            ),
        )
    security_code = software_security_code(software.software_id, software.software_pin, emission.number or "")
    dian = _w(
        "sts:DianExtensions",
        control,
        _COUNTRY_SOURCE,
        _w(
            "sts:SoftwareProvider",
            _e(
                "sts:ProviderID",
                software.provider_nit,
                **DIAN_AGENCY,
                schemeID=software.provider_dv,
                schemeName="31",
            ),
            _e("sts:SoftwareID", software.software_id, **DIAN_AGENCY),
        ),
        f"<sts:SoftwareSecurityCode{_AGENCY}>{security_code}</sts:SoftwareSecurityCode>",
        f'<sts:AuthorizationProvider><sts:AuthorizationProviderID{_AGENCY} schemeID="{DIAN_DV}" '
        f'schemeName="31">{DIAN_NIT}</sts:AuthorizationProviderID></sts:AuthorizationProvider>',
        _e("sts:QRCode", qr_url(fiscal_id, environment)),
    )
    signature_slot = "<ext:UBLExtension><ext:ExtensionContent></ext:ExtensionContent></ext:UBLExtension>"
    pos = ""
    if kind.point_of_sale and emission.document.point_of_sale is not None:
        pos = _point_of_sale(emission, software, emission.document.point_of_sale)
    return _w(
        "ext:UBLExtensions", pos, _w("ext:UBLExtension", _w("ext:ExtensionContent", dian)), signature_slot
    )


def _name_values(group: str, info: str, pairs: tuple[tuple[str, str], ...]) -> str:
    """One POS group: a UBLExtension holding Name/Value pairs, in the root's default namespace (the
    shape of APIDIAN's accepted POS documents; contracts/dian/SOURCES.md)."""
    values = "".join(_e("Name", name) + _e("Value", value) for name, value in pairs)
    return _w("ext:UBLExtension", _w("ext:ExtensionContent", _w(group, _w(info, values))))


def _point_of_sale(emission: Emission, software: Software, pos: PointOfSale) -> str:
    """FabricanteSoftware, BeneficiosComprador and PuntoVenta, before the DianExtensions. Without a
    loyalty programme the benefits name the buyer (or the final consumer) with 0 points."""
    customer = emission.document.customer
    benefits = pos.buyer_benefits
    code = benefits.code if benefits else (customer.id_number if customer and customer.id_number else None)
    return "".join(
        (
            _name_values(
                "FabricanteSoftware",
                "InformacionDelFabricanteDelSoftware",
                (
                    ("NombreApellido", software.manufacturer_name or emission.issuer.name),
                    ("RazonSocial", software.manufacturer_company or emission.issuer.name),
                    ("NombreSoftware", software.software_name),
                ),
            ),
            _name_values(
                "BeneficiosComprador",
                "InformacionBeneficiosComprador",
                (
                    ("Codigo", code or FINAL_CONSUMER_ID),
                    (
                        "NombresApellidos",
                        benefits.name if benefits else (customer.name if customer else FINAL_CONSUMER_NAME),
                    ),
                    ("Puntos", format(benefits.points, "f") if benefits else "0"),
                ),
            ),
            _name_values(
                "PuntoVenta",
                "InformacionCajaVenta",
                (
                    ("PlacaCaja", pos.register_id),
                    ("UbicaciónCaja", pos.location),
                    ("Cajero", pos.cashier),
                    ("TipoCaja", pos.register_type),
                    ("CódigoVenta", pos.sale_code),
                    ("SubTotal", money(emission.totals.tax_inclusive)),
                ),
            ),
        )
    )


def _company_id(tag: str, party: Party | None) -> str:
    if party is None or not party.id_number:
        return _e(tag, FINAL_CONSUMER_ID, **DIAN_AGENCY, schemeName="13")
    attrs = dict(DIAN_AGENCY, schemeName=catalogs.ID_TYPES["CO"].get(party.id_type or "NIT", "31"))
    if party.id_type in (None, "NIT") and party.check_digit:
        attrs["schemeID"] = party.check_digit  # the DV; empty for non-NIT types (§3.4)
    return _e(tag, party.id_number, **attrs)


def _address_issues(address: Address, path: str) -> list[UnsupportedIssue]:
    """What keeps an address from DIAN's shape: a Colombian one needs a DIVIPOLA municipality (and
    a department that holds it), every one a country DIAN lists and a street line."""
    issues = []
    if address.country not in COUNTRY_NAMES:
        issues.append(
            UnsupportedIssue(
                path=f"{path}.country",
                rule="dian-address-country",
                message=f"{address.country!r} is not in DIAN's country list",
            )
        )
    elif address.country == "CO" and (
        divipola.municipality(address.city_code or "") is None
        or not divipola.agrees(address.city_code or "", _department(address))
    ):
        issues.append(
            UnsupportedIssue(
                path=f"{path}.city_code",
                rule="dian-address-city",
                message="a Colombian address needs a DIVIPOLA municipality in its department",
            )
        )
    if not (address.line or "").strip():
        issues.append(
            UnsupportedIssue(
                path=f"{path}.line",
                rule="dian-address-line",
                message="DIAN needs the street address (AddressLine/Line) of every address",
            )
        )
    return issues


def _department(address: Address) -> str:
    return address.department_code or divipola.department_of(address.city_code or "") or ""


def _address(tag: str, address: Address) -> str:
    """Address or RegistrationAddress, complete (Anexo 1.9 FAJ08/FAJ28 and the customer's rules):
    names come from the codes, never from free text."""
    located = ""
    if address.country == "CO":
        city, department = address.city_code or "", _department(address)
        located = "".join(
            (
                _e("cbc:ID", city),
                _e("cbc:CityName", divipola.municipality(city) or ""),
                _e("cbc:PostalZone", address.postal_code) if address.postal_code else "",
                _e("cbc:CountrySubentity", divipola.department(department) or ""),
                _e("cbc:CountrySubentityCode", department),
            )
        )
    elif address.postal_code:
        located = _e("cbc:PostalZone", address.postal_code)
    return _w(
        tag,
        located,
        _w("cac:AddressLine", _e("cbc:Line", address.line)) if address.line else "",
        _w(
            "cac:Country",
            _e("cbc:IdentificationCode", address.country),
            _e("cbc:Name", COUNTRY_NAMES[address.country], languageID="es"),
        ),
    )


def _party(tag: str, party: Party | None, emission: Emission, *, supplier: bool) -> str:
    party_type = party.party_type if party else "person"
    account = _e("cbc:AdditionalAccountID", catalogs.PARTY_TYPES[party_type]["CO"])
    if party is None:  # anonymous final consumer (§3.4); PartyLegalEntity is mandatory for every customer
        return _w(
            tag,
            account,
            _w(
                "cac:Party",
                _w("cac:PartyIdentification", _e("cbc:ID", FINAL_CONSUMER_ID, schemeName="13")),
                _w("cac:PartyName", _e("cbc:Name", FINAL_CONSUMER_NAME)),
                _w(
                    "cac:PartyTaxScheme",
                    _e("cbc:RegistrationName", FINAL_CONSUMER_NAME),
                    _company_id("cbc:CompanyID", None),
                    _e("cbc:TaxLevelCode", NOT_IVA_RESPONSIBLE, listName=REGIMES[False][0]),
                    _w("cac:TaxScheme", _e("cbc:ID", REGIMES[False][1]), _e("cbc:Name", REGIMES[False][2])),
                ),
                _w(
                    "cac:PartyLegalEntity",
                    _e("cbc:RegistrationName", FINAL_CONSUMER_NAME),
                    _company_id("cbc:CompanyID", None),
                ),
            ),
        )
    responsibilities = party.tax_responsibilities or [NOT_IVA_RESPONSIBLE]
    list_name, scheme_id, scheme_name = REGIMES[NOT_IVA_RESPONSIBLE not in responsibilities]
    identification = ""
    if party.party_type == "person" or not supplier:
        attrs = {"schemeName": catalogs.ID_TYPES["CO"].get(party.id_type or "NIT", "31")}
        if party.id_type in (None, "NIT") and party.check_digit:
            attrs["schemeID"] = party.check_digit
        identification = _w(
            "cac:PartyIdentification", _e("cbc:ID", party.id_number or FINAL_CONSUMER_ID, **attrs)
        )
    prefix = emission.numbering.prefix if emission.numbering else ""
    contact = ""
    if party.email or party.phone:
        contact = _w(
            "cac:Contact",
            _e("cbc:Telephone", party.phone) if party.phone else "",
            _e("cbc:ElectronicMail", party.email) if party.email else "",
        )
    return _w(
        tag,
        account,
        _w(
            "cac:Party",
            identification,
            _w("cac:PartyName", _e("cbc:Name", party.trade_name or party.name)),
            _w("cac:PhysicalLocation", _address("cac:Address", party.address)) if party.address else "",
            _w(
                "cac:PartyTaxScheme",
                _e("cbc:RegistrationName", party.name),
                _company_id("cbc:CompanyID", party),
                _e("cbc:TaxLevelCode", ";".join(responsibilities), listName=list_name),
                _address("cac:RegistrationAddress", party.address) if party.address else "",
                _w("cac:TaxScheme", _e("cbc:ID", scheme_id), _e("cbc:Name", scheme_name)),
            ),
            _w(
                "cac:PartyLegalEntity",
                _e("cbc:RegistrationName", party.name),
                _company_id("cbc:CompanyID", party),
                _w("cac:CorporateRegistrationScheme", _e("cbc:ID", prefix)) if supplier and prefix else "",
            ),
            contact,
        ),
    )


_suppliers: OrderedDict[bytes, str] = OrderedDict()


def _issuer_party(tag: str, emission: Emission) -> str:
    """The issuer's party block: the same for every document of a tenant's range, so written once.
    `tag` is AccountingSupplierParty when the tenant sells, AccountingCustomerParty when it buys."""
    prefix = emission.numbering.prefix if emission.numbering else ""
    key = _issuer_key(emission.issuer) + prefix.encode() + tag.encode()
    cached = _suppliers.get(key)
    if cached is None:
        cached = _suppliers[key] = _party(tag, emission.issuer, emission, supplier=True)
        if len(_suppliers) > 256:
            _suppliers.popitem(last=False)
    return cached


def _tax_total(tag: str, code: str, amount: Decimal, subtotals, currency: str) -> str:
    return _w(
        tag,
        _amount("TaxAmount", amount, currency),
        *(
            _w(
                "cac:TaxSubtotal",
                _amount("TaxableAmount", sub.taxable, currency),
                _amount("TaxAmount", sub.amount, currency),
                _w(
                    "cac:TaxCategory",
                    _e("cbc:Percent", _percent(sub.rate)),
                    _w("cac:TaxScheme", _e("cbc:ID", code), _e("cbc:Name", TAX_NAMES[code])),
                ),
            )
            for sub in subtotals
        ),
    )


def _percent(rate: Decimal) -> str:
    """At least 2 decimals ("19.00"), never fewer than the rate has: ICA rates are per mil (0.966)."""
    return money(rate.quantize(_CENT) if rate.as_tuple().exponent >= -2 else rate)


def _document_adjustment(n: int, indicator: str, items, total: Decimal, base: Decimal, currency: str) -> str:
    """One AllowanceCharge per direction with the engine's total (never recomputed per item), its
    reason code and percentage (Anexo 1.9: both mandatory at document level)."""
    single = items[0].percent if len(items) == 1 else None
    return _w(
        "cac:AllowanceCharge",
        _e("cbc:ID", str(n)),
        _e("cbc:ChargeIndicator", indicator),
        _e("cbc:AllowanceChargeReasonCode", ADJUSTMENT_REASON_CODES[indicator]),
        _e("cbc:AllowanceChargeReason", "; ".join(i.reason for i in items)),
        _e("cbc:MultiplierFactorNumeric", _percent(single if single is not None else _share(total, base))),
        _amount("Amount", total, currency),
        _amount("BaseAmount", base, currency),
    )


_SHARE: Final = Decimal("0.000001")


def _share(amount: Decimal, base: Decimal) -> Decimal:
    """`amount` as a percentage of `base`, to 6 decimals, so BaseAmount × it / 100 gives Amount back
    to the cent (an amount-based adjustment has no percentage of its own)."""
    return (amount * 100 / base).quantize(_SHARE).normalize() if base else Decimal(0)


def _line(kind: KindProfile, index: int, line, lt, currency: str) -> str:
    parts = {"AllowanceCharge": "", "TaxTotal": ""}
    if lt.discount:
        percent = line.discount.percent if line.discount is not None else None
        parts["AllowanceCharge"] = _w(
            "cac:AllowanceCharge",
            "<cbc:ID>1</cbc:ID><cbc:ChargeIndicator>false</cbc:ChargeIndicator>",
            "<cbc:AllowanceChargeReason>Descuento</cbc:AllowanceChargeReason>",
            _e(
                "cbc:MultiplierFactorNumeric",
                _percent(percent if percent is not None else _share(lt.discount, lt.gross)),
            ),
            _amount("Amount", lt.discount, currency),
            _amount("BaseAmount", lt.gross, currency),
        )
    parts["TaxTotal"] = "".join(
        _tax_total("cac:TaxTotal", catalogs.TAXES["CO"][t.tax], t.amount, [t], currency) for t in lt.taxes
    )
    quantity = format(line.quantity, "f")
    item = _w(
        "cac:Item",
        _e("cbc:Description", line.description),
        _w("cac:SellersItemIdentification", _e("cbc:ID", line.code)) if line.code else "",
        _w("cac:StandardItemIdentification", _e("cbc:ID", line.code, schemeID="999")) if line.code else "",
    )
    return _w(
        "cac:" + kind.line,
        _e("cbc:ID", str(index)),
        _e("cbc:" + kind.quantity, quantity, unitCode=line.unit),
        _amount("LineExtensionAmount", lt.net, currency),
        *(parts[name] for name in LINE_ORDER[kind.line]),
        item,
        _w(
            "cac:Price",
            _amount("PriceAmount", lt.unit_price, currency),
            _e("cbc:BaseQuantity", quantity, unitCode=line.unit),
        ),
    )
