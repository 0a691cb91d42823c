"""DIAN's graphic representation read from the signed UBL (Invoice, CreditNote, DebitNote): everything
the representación gráfica must carry (issuer and buyer, number and type, issue date and time, lines
with their taxes, totals and withholdings, payment form and due date, the numbering authorization,
CUFE/CUDE with the QR of DIAN's catalogue, the referenced document for notes, the software) comes from
the document DIAN validated, so the copy cannot disagree with it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

from lxml import etree

from canonical import catalogs
from gateway.printout.amounts import money, quantity
from gateway.printout.model import Figure, Line, Party, Printout

NS: Final = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "sts": "dian:gov:co:facturaelectronica:Structures-2-1",
}
# UBL root -> (title, fiscal id label, line element, quantity element, monetary total element)
ROOTS: Final = {
    "Invoice": (
        "Factura electrónica de venta",
        "CUFE",
        "InvoiceLine",
        "InvoicedQuantity",
        "LegalMonetaryTotal",
    ),
    "CreditNote": (
        "Nota crédito electrónica",
        "CUDE",
        "CreditNoteLine",
        "CreditedQuantity",
        "LegalMonetaryTotal",
    ),
    "DebitNote": (
        "Nota débito electrónica",
        "CUDE",
        "DebitNoteLine",
        "DebitedQuantity",
        "RequestedMonetaryTotal",
    ),
}
# InvoiceTypeCode -> title, where it is not the national sale (01)
INVOICE_TYPES: Final = {
    "02": "Factura electrónica de exportación",
    "03": "Factura electrónica de contingencia",
}
ID_TYPE_NAMES: Final = {code: name for name, code in catalogs.ID_TYPES["CO"].items()} | {
    "31": "NIT",
    "13": "C.C.",
}
PAYMENT_FORMS: Final = {"1": "Contado", "2": "Crédito"}
PAYMENT_MEANS: Final = {
    "10": "Efectivo",
    "20": "Cheque",
    "42": "Consignación bancaria",
    "47": "Transferencia bancaria",
    "48": "Tarjeta crédito",
    "49": "Tarjeta débito",
    "ZZZ": "Otro",
}
# LegalMonetaryTotal element -> label, in print order (PayableAmount is the strong last line)
TOTALS: Final = [
    ("LineExtensionAmount", "Subtotal"),
    ("TaxExclusiveAmount", "Base gravable"),
    ("AllowanceTotalAmount", "Descuentos"),
    ("ChargeTotalAmount", "Recargos"),
    ("TaxInclusiveAmount", "Total con impuestos"),
    ("PrePaidAmount", "Anticipos"),
    ("PayableAmount", "Total a pagar"),
]


def printout(signed: bytes, resolution_dates: Mapping[str, dt.date] | None = None) -> Printout:
    """`resolution_dates` (resolution number -> date, from the tenant's numbering ranges): the UBL
    carries the resolution's number and validity but not its date, which the copy must show."""
    root = etree.fromstring(signed, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    kind = etree.QName(root).localname
    title, fiscal_label, line_tag, quantity_tag, total_tag = ROOTS[kind]
    title = INVOICE_TYPES.get(_text(root, "cbc:InvoiceTypeCode"), title)
    currency = _text(root, "cbc:DocumentCurrencyCode")
    fiscal_id = _text(root, "cbc:UUID")
    return Printout(
        title=title,
        number=_text(root, "cbc:ID"),
        facts=_facts(root),
        issuer=_party(root.find("cac:AccountingSupplierParty/cac:Party", NS), "Emisor"),
        buyer=_party(root.find("cac:AccountingCustomerParty/cac:Party", NS), "Adquiriente"),
        lines=[_line(node, quantity_tag) for node in root.iterfind(f"cac:{line_tag}", NS)],
        taxes=_tax_figures(root, "cac:TaxTotal"),
        withholdings=_tax_figures(root, "cac:WithholdingTaxTotal"),
        totals=[
            Figure(label=label, amount=money(value, "CO"), strong=tag == "PayableAmount")
            for tag, label in TOTALS
            if (value := _text(root, f"cac:{total_tag}/cbc:{tag}"))
            and (tag == "PayableAmount" or tag == "LineExtensionAmount" or _nonzero(value))
        ],
        fiscal_id_label=fiscal_label,
        fiscal_id=fiscal_id,
        qr=_text(root, ".//sts:QRCode"),
        qr_caption="Consulte el documento en el catálogo de la DIAN",
        reference=_reference(root),
        notes=[n.text for n in root.iterfind("cbc:Note", NS) if n.text],
        legal=_legal(root, title, resolution_dates or {}),
        currency=currency,
    )


def _text(node: etree._Element | None, path: str) -> str:
    if node is None:
        return ""
    found = node.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _nonzero(value: str) -> bool:
    return value.strip("0.") != ""


def _facts(root: etree._Element) -> list[tuple[str, str]]:
    means = root.find("cac:PaymentMeans", NS)
    facts = [
        ("Fecha de emisión", _text(root, "cbc:IssueDate")),
        ("Hora de emisión", _text(root, "cbc:IssueTime")),
        ("Forma de pago", PAYMENT_FORMS.get(_text(means, "cbc:ID"), _text(means, "cbc:ID"))),
        (
            "Medio de pago",
            PAYMENT_MEANS.get(_text(means, "cbc:PaymentMeansCode"), _text(means, "cbc:PaymentMeansCode")),
        ),
        ("Vencimiento", _text(means, "cbc:PaymentDueDate") or _text(root, "cbc:DueDate")),
        ("Moneda", _text(root, "cbc:DocumentCurrencyCode")),
    ]
    return [(label, value) for label, value in facts if value]


def _party(party: etree._Element | None, role: str) -> Party | None:
    if party is None:
        return None
    scheme = party.find("cac:PartyTaxScheme", NS)
    company = scheme.find("cbc:CompanyID", NS) if scheme is not None else None
    name = _text(scheme, "cbc:RegistrationName") or _text(party, "cac:PartyName/cbc:Name")
    lines = []
    if company is not None:
        id_name = ID_TYPE_NAMES.get(company.get("schemeName", ""), "Identificación")
        check = company.get("schemeID")
        dv = f"-{check}" if id_name == "NIT" and check else ""
        lines.append(f"{id_name} {company.text}{dv}")
    responsibilities = _text(scheme, "cbc:TaxLevelCode")
    if responsibilities:
        lines.append(f"Responsabilidades: {responsibilities.replace(';', ', ')}")
    address = party.find("cac:PhysicalLocation/cac:Address", NS)
    if address is not None:
        street = _text(address, "cac:AddressLine/cbc:Line")
        place = ", ".join(
            v
            for v in (
                _text(address, "cbc:CityName"),
                _text(address, "cbc:CountrySubentity"),
                _text(address, "cac:Country/cbc:Name"),
            )
            if v
        )
        lines.extend(v for v in (street, place) if v)
    contact = " · ".join(
        v
        for v in (_text(party, "cac:Contact/cbc:Telephone"), _text(party, "cac:Contact/cbc:ElectronicMail"))
        if v
    )
    if contact:
        lines.append(contact)
    return Party(role=role, name=name, lines=lines)


def _taxes_of(node: etree._Element, total: str = "cac:TaxTotal") -> list[tuple[str, str, str, str]]:
    """(tax name, percent, taxable, amount) of each subtotal."""
    return [
        (
            _text(sub, "cac:TaxCategory/cac:TaxScheme/cbc:Name"),
            _text(sub, "cac:TaxCategory/cbc:Percent"),
            _text(sub, "cbc:TaxableAmount"),
            _text(sub, "cbc:TaxAmount"),
        )
        for sub in node.iterfind(f"{total}/cac:TaxSubtotal", NS)
    ]


def _percent(value: str) -> str:
    return quantity(value, "CO") + " %"


def _line(node: etree._Element, quantity_tag: str) -> Line:
    discount = ""
    for charge in node.iterfind("cac:AllowanceCharge", NS):
        if _text(charge, "cbc:ChargeIndicator") == "false":
            discount = money(_text(charge, "cbc:Amount"), "CO")
    taxes = "\n".join(
        f"{name} {_percent(rate)} {money(amount, 'CO')}" for name, rate, _, amount in _taxes_of(node)
    )
    return Line(
        number=_text(node, "cbc:ID"),
        code=_text(node, "cac:Item/cac:SellersItemIdentification/cbc:ID"),
        description=_text(node, "cac:Item/cbc:Description"),
        quantity=quantity(_text(node, f"cbc:{quantity_tag}"), "CO"),
        unit_price=money(_text(node, "cac:Price/cbc:PriceAmount"), "CO"),
        discount=discount,
        taxes=taxes,
        total=money(_text(node, "cbc:LineExtensionAmount"), "CO"),
    )


def _tax_figures(root: etree._Element, total: str) -> list[Figure]:
    return [
        Figure(label=f"{name} {_percent(rate)} sobre {money(taxable, 'CO')}", amount=money(amount, "CO"))
        for name, rate, taxable, amount in _taxes_of(root, total)
    ]


def _reference(root: etree._Element) -> list[str]:
    ref = root.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    if ref is None:
        return []
    lines = [
        f"Factura {_text(ref, 'cbc:ID')} del {_text(ref, 'cbc:IssueDate')}",
        f"CUFE {_text(ref, 'cbc:UUID')}",
    ]
    reason = root.find("cac:DiscrepancyResponse", NS)
    if reason is not None:
        lines.append(f"Concepto {_text(reason, 'cbc:ResponseCode')}: {_text(reason, 'cbc:Description')}")
    return lines


def _legal(root: etree._Element, title: str, resolution_dates: Mapping[str, dt.date]) -> list[str]:
    ext = root.find(".//sts:DianExtensions", NS)
    lines = [f"Representación gráfica de la {title.lower()}."]
    control = ext.find("sts:InvoiceControl", NS) if ext is not None else None
    if control is not None:
        resolution = _text(control, "sts:InvoiceAuthorization")
        dated = f" del {resolution_dates[resolution].isoformat()}" if resolution in resolution_dates else ""
        lines.append(
            f"Numeración autorizada por la DIAN: resolución N.º {resolution}{dated}, "
            f"vigente del {_text(control, 'sts:AuthorizationPeriod/cbc:StartDate')} "
            f"al {_text(control, 'sts:AuthorizationPeriod/cbc:EndDate')}, "
            f"prefijo {_text(control, 'sts:AuthorizedInvoices/sts:Prefix') or '(sin prefijo)'}, "
            f"del {_text(control, 'sts:AuthorizedInvoices/sts:From')} al {_text(control, 'sts:AuthorizedInvoices/sts:To')}."
        )
    if ext is not None:
        lines.append(
            f"Software de facturación: ID {_text(ext, 'sts:SoftwareProvider/sts:SoftwareID')}; "
            f"proveedor del software NIT {_text(ext, 'sts:SoftwareProvider/sts:ProviderID')}. "
            "Emitido por Pasarela (software libre, Apache-2.0)."
        )
    return lines
