"""UBL 2.1 Invoice / CreditNote / DebitNote as DIAN expects them (research/dian.md §3).

Every amount comes from `emission.totals`; the CUFE/CUDE from `canonical.dian`. Children are
collected by element name and written in the XSD order of the root (`ORDER`), because the three
UBL roots order the same elements differently (a DebitNote puts AllowanceCharge before PaymentMeans).
The second UBLExtension is left empty for the XAdES signature.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import OrderedDict
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

import msgspec
from lxml import etree

from adapters.base import Emission, Misconfigured, UnsupportedIssue, money, unsupported_if
from canonical import catalogs
from canonical.dian import ENVIRONMENTS, FINAL_CONSUMER_ID, cufe, qr_url, software_security_code
from canonical.document import Party

BOGOTA: Final = ZoneInfo("America/Bogota")
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
CAC, CBC, EXT, STS = (f"{{{NS[p]}}}" for p in ("cac", "cbc", "ext", "sts"))

DIAN_NIT: Final = "800197268"
DIAN_DV: Final = "4"
DIAN_AGENCY: Final = {
    "schemeAgencyID": "195",
    "schemeAgencyName": "CO, DIAN (Dirección de Impuestos y Aduanas Nacionales)",
}


class KindProfile(msgspec.Struct, frozen=True):
    root: str
    type_code: str | None  # InvoiceTypeCode / CreditNoteTypeCode; the UBL DebitNote has none (92 implied)
    profile: str
    fiscal_id_name: str  # cbc:UUID schemeName
    line: str
    quantity: str
    monetary_total: str


KINDS: Final[dict[str, KindProfile]] = {
    "invoice": KindProfile(
        "Invoice",
        "InvoiceTypeCode",
        "DIAN 2.1: Factura Electrónica de Venta",
        "CUFE-SHA384",
        "InvoiceLine",
        "InvoicedQuantity",
        "LegalMonetaryTotal",
    ),
    "credit_note": KindProfile(
        "CreditNote",
        "CreditNoteTypeCode",
        "DIAN 2.1: Nota Crédito de Factura Electrónica de Venta",
        "CUDE-SHA384",
        "CreditNoteLine",
        "CreditedQuantity",
        "LegalMonetaryTotal",
    ),
    "debit_note": KindProfile(
        "DebitNote",
        None,
        "DIAN 2.1: Nota Débito de Factura Electrónica de Venta",
        "CUDE-SHA384",
        "DebitNoteLine",
        "DebitedQuantity",
        "RequestedMonetaryTotal",
    ),
}

# CustomizationID (operation type, §3.3): (with a referenced e-invoice, without)
CUSTOMIZATION: Final[dict[str, tuple[str, str]]] = {
    "invoice": ("10", "10"),
    "credit_note": ("20", "22"),
    "debit_note": ("30", "32"),
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


class Software(msgspec.Struct, frozen=True, kw_only=True):
    """The registered software that signs: who owns it and its DIAN id and PIN."""

    software_id: str
    software_pin: str
    provider_nit: str
    provider_dv: str


class UblDocument(msgspec.Struct, kw_only=True):
    root: etree._Element
    number: str
    fiscal_id: str  # CUFE (invoice) or CUDE (notes)
    issued_at: dt.datetime  # issue date and time in Bogotá: also the signing time (deterministic resend)
    warnings: list[str]


_SubElement, _Element = etree.SubElement, etree.Element


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = _SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _new(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = _Element(tag, attrs)
    if text is not None:
        el.text = text
    return el


def _amount(parent: etree._Element, tag: str, value: Decimal, currency: str) -> etree._Element:
    return _sub(parent, CBC + tag, money(value), currencyID=currency)


def issued_at(emission: Emission) -> dt.datetime:
    """The document's issue instant in Bogotá (the gateway fills date and time before dispatch)."""
    doc = emission.document
    now = dt.datetime.now(BOGOTA)
    date = doc.issue_date or now.date()
    time = doc.issue_time or now.time()
    return dt.datetime.combine(date, time.replace(microsecond=0, tzinfo=None), tzinfo=BOGOTA)


def build_document(emission: Emission, software: Software, environment: str) -> UblDocument:
    """The unsigned UBL document for an emission; raises Unsupported / Misconfigured."""
    doc, totals, issuer = emission.document, emission.totals, emission.issuer
    kind = KINDS.get(doc.kind)
    issues: list[UnsupportedIssue] = []
    if kind is None or doc.country != "CO":
        issues.append(
            UnsupportedIssue(path="kind", rule="dian-kind", message=f"direct DIAN does not emit {doc.kind}")
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
    unsupported_if(issues)
    assert kind is not None
    warnings: list[str] = []
    currency = doc.currency or "COP"
    at = issued_at(emission)
    issue_date, issue_time = at.strftime("%Y-%m-%d"), at.strftime("%H:%M:%S%z")
    issue_time = issue_time[:-2] + ":" + issue_time[-2:]  # -0500 → -05:00 (§1.1 HorFac)
    env_code = ENVIRONMENTS[environment]
    customer_id = doc.customer.id_number if doc.customer and doc.customer.id_number else FINAL_CONSUMER_ID
    tax_by_scheme: dict[str, Decimal] = {}
    for t in totals.taxes:
        code = catalogs.TAXES["CO"][t.tax]
        tax_by_scheme[code] = tax_by_scheme.get(code, Decimal(0)) + t.amount
    if doc.kind == "invoice":
        key = emission.numbering.technical_key if emission.numbering else None
        if not key:
            raise Misconfigured("the invoice numbering range has no technical key", code="numbering")
    else:
        key = software.software_pin
    fiscal_id = cufe(
        number=emission.number,
        issue_date=issue_date,
        issue_time=issue_time,
        line_extension=totals.line_extension,
        taxes=tax_by_scheme,
        payable=totals.payable,
        supplier_id=issuer.id_number or "",
        customer_id=customer_id,
        key=key,
        environment=env_code,
    )

    parts: dict[str, list[etree._Element]] = {}

    def put(name: str, el: etree._Element) -> etree._Element:
        parts.setdefault(name, []).append(el)
        return el

    put("UBLExtensions", _extensions(emission, software, environment, fiscal_id))
    put("UBLVersionID", _new(CBC + "UBLVersionID", "UBL 2.1"))
    referenced = doc.reference is not None and doc.reference.fiscal_id is not None
    put("CustomizationID", _new(CBC + "CustomizationID", CUSTOMIZATION[doc.kind][0 if referenced else 1]))
    put("ProfileID", _new(CBC + "ProfileID", kind.profile))
    put("ProfileExecutionID", _new(CBC + "ProfileExecutionID", env_code))
    put("ID", _new(CBC + "ID", emission.number))
    put("UUID", _new(CBC + "UUID", fiscal_id, schemeID=env_code, schemeName=kind.fiscal_id_name))
    put("IssueDate", _new(CBC + "IssueDate", issue_date))
    put("IssueTime", _new(CBC + "IssueTime", issue_time))
    if doc.kind == "invoice" and doc.payment and doc.payment.due_date:
        put("DueDate", _new(CBC + "DueDate", doc.payment.due_date.isoformat()))
    if kind.type_code:
        type_code = catalogs.KINDS["CO"]["invoice" if doc.kind == "invoice" else doc.kind]
        put(kind.type_code, _new(CBC + kind.type_code, type_code))
    for note in doc.notes:
        put("Note", _new(CBC + "Note", note))
    put("DocumentCurrencyCode", _new(CBC + "DocumentCurrencyCode", currency))
    put("LineCountNumeric", _new(CBC + "LineCountNumeric", str(len(doc.lines))))
    if doc.kind in catalogs.NOTE_KINDS:
        assert doc.reason is not None
        reasons = catalogs.NOTE_REASONS[doc.kind]
        response = _new(CAC + "DiscrepancyResponse")
        if doc.reference:
            _sub(response, CBC + "ReferenceID", doc.reference.number)
        _sub(response, CBC + "ResponseCode", reasons[doc.reason.code])
        _sub(response, CBC + "Description", doc.reason.description or doc.reason.code)
        put("DiscrepancyResponse", response)
    if doc.reference is not None:
        billing = _new(CAC + "BillingReference")
        ref = _sub(billing, CAC + "InvoiceDocumentReference")
        _sub(ref, CBC + "ID", doc.reference.number)
        if doc.reference.fiscal_id:
            _sub(ref, CBC + "UUID", doc.reference.fiscal_id, schemeName="CUFE-SHA384")
        if doc.reference.issue_date:
            _sub(ref, CBC + "IssueDate", doc.reference.issue_date.isoformat())
        put("BillingReference", billing)
    put("AccountingSupplierParty", _supplier(emission))
    customer = put("AccountingCustomerParty", _new(CAC + "AccountingCustomerParty"))
    _party(customer, doc.customer, emission, supplier=False)
    if doc.payment:
        pm = put("PaymentMeans", _new(CAC + "PaymentMeans"))
        _sub(pm, CBC + "ID", catalogs.PAYMENT_FORMS[doc.payment.form]["CO"])
        _sub(pm, CBC + "PaymentMeansCode", catalogs.PAYMENT_MEANS[doc.payment.means]["CO"])
        if doc.payment.due_date:
            _sub(pm, CBC + "PaymentDueDate", doc.payment.due_date.isoformat())
    for n, (indicator, items, total) in enumerate(
        (("false", doc.discounts, totals.allowances), ("true", doc.charges, totals.charges)), start=1
    ):
        if items:
            put(
                "AllowanceCharge",
                _document_adjustment(n, indicator, items, total, totals.line_extension, currency),
            )
    for code, amount in tax_by_scheme.items():
        put(
            "TaxTotal",
            _tax_total(
                CAC + "TaxTotal",
                code,
                amount,
                [t for t in totals.taxes if catalogs.TAXES["CO"][t.tax] == code],
                currency,
            ),
        )
    if totals.withholdings:
        if doc.kind == "invoice":
            for w in totals.withholdings:
                code = catalogs.WITHHOLDINGS["CO"][w.tax]
                put(
                    "WithholdingTaxTotal",
                    _tax_total(CAC + "WithholdingTaxTotal", code, w.amount, [w], currency),
                )
        else:  # UBL 2.1 notes have no WithholdingTaxTotal; CO withholdings never change PayableAmount
            warnings.append("withholdings: not expressible in a DIAN note (informational, dropped)")
    mt = put(kind.monetary_total, _new(CAC + kind.monetary_total))
    for tag, value in (
        ("LineExtensionAmount", totals.line_extension),
        ("TaxExclusiveAmount", totals.tax_exclusive),
        ("TaxInclusiveAmount", totals.tax_inclusive),
        ("AllowanceTotalAmount", totals.allowances),
        ("ChargeTotalAmount", totals.charges),
        ("PayableAmount", totals.payable),
    ):
        _amount(mt, tag, value, currency)
    for i, (line, lt) in enumerate(zip(doc.lines, totals.lines, strict=True), start=1):
        put(kind.line, _line(kind, i, line, lt, currency))

    root = etree.Element(
        f"{{urn:oasis:names:specification:ubl:schema:xsd:{kind.root}-2}}{kind.root}",
        nsmap={None: f"urn:oasis:names:specification:ubl:schema:xsd:{kind.root}-2", **NS},
    )
    for name in ORDER[kind.root]:
        for el in parts.get(name, ()):
            root.append(el)
    return UblDocument(
        root=root, number=emission.number, fiscal_id=fiscal_id, issued_at=at, warnings=warnings
    )


def _extensions(emission: Emission, software: Software, environment: str, fiscal_id: str) -> etree._Element:
    exts = _new(EXT + "UBLExtensions")
    content = _sub(_sub(exts, EXT + "UBLExtension"), EXT + "ExtensionContent")
    dian = _sub(content, STS + "DianExtensions")
    rng = emission.numbering
    if emission.document.kind == "invoice":
        if rng is None or not rng.resolution or not rng.valid_from or not rng.valid_to:
            raise Misconfigured(
                "the invoice numbering range needs a resolution and its dates", code="numbering"
            )
        control = _sub(dian, STS + "InvoiceControl")
        _sub(control, STS + "InvoiceAuthorization", rng.resolution)
        period = _sub(control, STS + "AuthorizationPeriod")
        _sub(period, CBC + "StartDate", rng.valid_from.isoformat())
        _sub(period, CBC + "EndDate", rng.valid_to.isoformat())
        authorized = _sub(control, STS + "AuthorizedInvoices")
        if rng.prefix:
            _sub(authorized, STS + "Prefix", rng.prefix)
        _sub(authorized, STS + "From", str(rng.from_))
        _sub(authorized, STS + "To", str(rng.to))
    source = _sub(dian, STS + "InvoiceSource")
    _sub(
        source,
        CBC + "IdentificationCode",
        "CO",
        listAgencyID="6",
        listAgencyName="United Nations Economic Commission for Europe",
        listSchemeURI="urn:oasis:names:specification:ubl:codelist:gc:CountryIdentificationCode-2.1",
    )
    provider = _sub(dian, STS + "SoftwareProvider")
    _sub(
        provider,
        STS + "ProviderID",
        software.provider_nit,
        **DIAN_AGENCY,
        schemeID=software.provider_dv,
        schemeName="31",
    )
    _sub(provider, STS + "SoftwareID", software.software_id, **DIAN_AGENCY)
    _sub(
        dian,
        STS + "SoftwareSecurityCode",
        software_security_code(software.software_id, software.software_pin, emission.number or ""),
        **DIAN_AGENCY,
    )
    auth = _sub(dian, STS + "AuthorizationProvider")
    _sub(auth, STS + "AuthorizationProviderID", DIAN_NIT, **DIAN_AGENCY, schemeID=DIAN_DV, schemeName="31")
    _sub(dian, STS + "QRCode", qr_url(fiscal_id, environment))
    _sub(_sub(exts, EXT + "UBLExtension"), EXT + "ExtensionContent")  # the signature goes here
    return exts


def _company_id(parent: etree._Element, tag: str, party: Party | None) -> None:
    if party is None or not party.id_number:
        _sub(parent, tag, FINAL_CONSUMER_ID, **DIAN_AGENCY, schemeName="13")
        return
    attrs = dict(DIAN_AGENCY, schemeName=catalogs.ID_TYPES["CO"].get(party.id_type or "NIT", "31"))
    if party.id_type in (None, "NIT") and party.check_digit:
        attrs["schemeID"] = party.check_digit  # the DV; empty for non-NIT types (§3.4)
    _sub(parent, tag, party.id_number, **attrs)


def _address(parent: etree._Element, tag: str, party: Party) -> None:
    addr = party.address
    if addr is None:
        return
    el = _sub(parent, tag)
    if addr.city_code:
        _sub(el, CBC + "ID", addr.city_code)  # DIVIPOLA municipality
    if addr.department_code:
        _sub(el, CBC + "CountrySubentityCode", addr.department_code)
    if addr.line:
        _sub(_sub(el, CAC + "AddressLine"), CBC + "Line", addr.line)
    country = _sub(el, CAC + "Country")
    _sub(country, CBC + "IdentificationCode", addr.country)


def _party(holder: etree._Element, party: Party | None, emission: Emission, *, supplier: bool) -> None:
    party_type = party.party_type if party else "person"
    _sub(holder, CBC + "AdditionalAccountID", catalogs.PARTY_TYPES[party_type]["CO"])
    p = _sub(holder, CAC + "Party")
    if party is None:  # anonymous final consumer (§3.4)
        _sub(_sub(p, CAC + "PartyIdentification"), CBC + "ID", FINAL_CONSUMER_ID, schemeName="13")
        _sub(_sub(p, CAC + "PartyName"), CBC + "Name", "Consumidor final")
        scheme = _sub(p, CAC + "PartyTaxScheme")
        _sub(scheme, CBC + "RegistrationName", "Consumidor final")
        _company_id(scheme, CBC + "CompanyID", None)
        _sub(scheme, CBC + "TaxLevelCode", "R-99-PN", listName="48")
        ts = _sub(scheme, CAC + "TaxScheme")
        _sub(ts, CBC + "ID", "ZZ")
        _sub(ts, CBC + "Name", "No aplica")
        return
    if party.party_type == "person" or not supplier:
        ident = _sub(
            _sub(p, CAC + "PartyIdentification"),
            CBC + "ID",
            party.id_number or FINAL_CONSUMER_ID,
            schemeName=catalogs.ID_TYPES["CO"].get(party.id_type or "NIT", "31"),
        )
        if party.id_type in (None, "NIT") and party.check_digit:
            ident.set("schemeID", party.check_digit)
    _sub(_sub(p, CAC + "PartyName"), CBC + "Name", party.trade_name or party.name)
    if party.address:
        location = _sub(p, CAC + "PhysicalLocation")
        _address(location, CAC + "Address", party)
    scheme = _sub(p, CAC + "PartyTaxScheme")
    _sub(scheme, CBC + "RegistrationName", party.name)
    _company_id(scheme, CBC + "CompanyID", party)
    _sub(scheme, CBC + "TaxLevelCode", ";".join(party.tax_responsibilities) or "R-99-PN", listName="48")
    if party.address:  # the same address again, under its other name
        registration = copy.deepcopy(location[0])
        registration.tag = CAC + "RegistrationAddress"
        scheme.append(registration)
    ts = _sub(scheme, CAC + "TaxScheme")
    _sub(ts, CBC + "ID", "01")
    _sub(ts, CBC + "Name", "IVA")
    legal = _sub(p, CAC + "PartyLegalEntity")
    _sub(legal, CBC + "RegistrationName", party.name)
    _company_id(legal, CBC + "CompanyID", party)
    if supplier and emission.numbering and emission.numbering.prefix:
        _sub(_sub(legal, CAC + "CorporateRegistrationScheme"), CBC + "ID", emission.numbering.prefix)
    if party.email or party.phone:
        contact = _sub(p, CAC + "Contact")
        if party.phone:
            _sub(contact, CBC + "Telephone", party.phone)
        if party.email:
            _sub(contact, CBC + "ElectronicMail", party.email)


_suppliers: OrderedDict[bytes, etree._Element] = OrderedDict()


def _supplier(emission: Emission) -> etree._Element:
    """The issuer's party block: the same for every document of a tenant's range, so built once."""
    prefix = emission.numbering.prefix if emission.numbering else ""
    key = _issuer_key(emission.issuer) + prefix.encode()
    cached = _suppliers.get(key)
    if cached is None:
        cached = _new(CAC + "AccountingSupplierParty")
        _party(cached, emission.issuer, emission, supplier=True)
        _suppliers[key] = cached
        if len(_suppliers) > 256:
            _suppliers.popitem(last=False)
    return copy.deepcopy(cached)


def _tax_total(tag: str, code: str, amount: Decimal, subtotals, currency: str) -> etree._Element:
    total = _new(tag)
    _amount(total, "TaxAmount", amount, currency)
    for sub in subtotals:
        st = _sub(total, CAC + "TaxSubtotal")
        _amount(st, "TaxableAmount", sub.taxable, currency)
        _amount(st, "TaxAmount", sub.amount, currency)
        category = _sub(st, CAC + "TaxCategory")
        _sub(category, CBC + "Percent", money(sub.rate.quantize(Decimal("0.01"))))
        scheme = _sub(category, CAC + "TaxScheme")
        _sub(scheme, CBC + "ID", code)
        _sub(scheme, CBC + "Name", TAX_NAMES[code])
    return total


def _document_adjustment(n: int, indicator: str, items, total: Decimal, base: Decimal, currency: str):
    """One AllowanceCharge per direction with the engine's total (never recomputed per item)."""
    ac = _new(CAC + "AllowanceCharge")
    _sub(ac, CBC + "ID", str(n))
    _sub(ac, CBC + "ChargeIndicator", indicator)
    _sub(ac, CBC + "AllowanceChargeReason", "; ".join(i.reason for i in items))
    _amount(ac, "Amount", total, currency)
    _amount(ac, "BaseAmount", base, currency)
    return ac


def _line(kind: KindProfile, index: int, line, lt, currency: str) -> etree._Element:
    el = _new(CAC + kind.line)
    _sub(el, CBC + "ID", str(index))
    _sub(el, CBC + kind.quantity, format(line.quantity, "f"), unitCode=line.unit)
    _amount(el, "LineExtensionAmount", lt.net, currency)
    for name in LINE_ORDER[kind.line]:
        if name == "AllowanceCharge" and lt.discount:
            ac = _sub(el, CAC + "AllowanceCharge")
            _sub(ac, CBC + "ID", "1")
            _sub(ac, CBC + "ChargeIndicator", "false")
            _sub(ac, CBC + "AllowanceChargeReason", "Descuento")
            if line.discount is not None and line.discount.percent is not None:
                _sub(ac, CBC + "MultiplierFactorNumeric", format(line.discount.percent, "f"))
            _amount(ac, "Amount", lt.discount, currency)
            _amount(ac, "BaseAmount", lt.gross, currency)
        elif name == "TaxTotal":
            for t in lt.taxes:
                code = catalogs.TAXES["CO"][t.tax]
                el.append(_tax_total(CAC + "TaxTotal", code, t.amount, [t], currency))
    item = _sub(el, CAC + "Item")
    _sub(item, CBC + "Description", line.description)
    if line.code:
        _sub(_sub(item, CAC + "SellersItemIdentification"), CBC + "ID", line.code)
        _sub(_sub(item, CAC + "StandardItemIdentification"), CBC + "ID", line.code, schemeID="999")
    price = _sub(el, CAC + "Price")
    _amount(price, "PriceAmount", lt.unit_price, currency)
    _sub(price, CBC + "BaseQuantity", format(line.quantity, "f"), unitCode=line.unit)
    return el
