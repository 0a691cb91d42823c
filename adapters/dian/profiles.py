"""DIAN's document types as the direct adapter writes them: root, type code, ProfileID, hash, groups.

A canonical kind maps to one DIAN type, except a credit note, whose type follows the document it
corrects: 91 on an invoice, 94 (adjustment note) on a POS equivalent document, 95 (adjustment note)
on a support document. Sources: research/dian.md §3.3; contracts/dian/SOURCES.md, "POS equivalent
document (20) and support document (05)".
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from canonical.document import Document

FiscalId = Literal["CUFE", "CUDE", "CUDS"]


class KindProfile(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # DIAN's document type: InvoiceTypeCode / CreditNoteTypeCode (92 is implied)
    root: str
    type_code: str | None  # the element carrying `code`; the UBL DebitNote has none
    profile: str  # cbc:ProfileID
    fiscal_id: FiscalId  # which hash cbc:UUID carries (schemeName <fiscal_id>-SHA384)
    line: str
    quantity: str
    monetary_total: str
    control: bool = False  # sts:InvoiceControl: the kinds with a numbering resolution
    purchase: bool = False  # the tenant is the buyer (AccountingCustomerParty); the seller is `supplier`
    point_of_sale: bool = False  # the POS groups (FabricanteSoftware, BeneficiosComprador, PuntoVenta)

    @property
    def fiscal_id_name(self) -> str:
        return f"{self.fiscal_id}-SHA384"


_INVOICE: Final = {"root": "Invoice", "type_code": "InvoiceTypeCode", "line": "InvoiceLine"}
_INVOICE |= {"quantity": "InvoicedQuantity", "monetary_total": "LegalMonetaryTotal"}
_CREDIT: Final = {"root": "CreditNote", "type_code": "CreditNoteTypeCode", "line": "CreditNoteLine"}
_CREDIT |= {"quantity": "CreditedQuantity", "monetary_total": "LegalMonetaryTotal"}

PROFILES: Final[dict[str, KindProfile]] = {
    p.code: p
    for p in (
        KindProfile(
            code="01",
            **_INVOICE,
            profile="DIAN 2.1: Factura Electrónica de Venta",
            fiscal_id="CUFE",
            control=True,
        ),
        KindProfile(
            code="91",
            **_CREDIT,
            profile="DIAN 2.1: Nota Crédito de Factura Electrónica de Venta",
            fiscal_id="CUDE",
        ),
        KindProfile(
            code="92",
            root="DebitNote",
            type_code=None,
            profile="DIAN 2.1: Nota Débito de Factura Electrónica de Venta",
            fiscal_id="CUDE",
            line="DebitNoteLine",
            quantity="DebitedQuantity",
            monetary_total="RequestedMonetaryTotal",
        ),
        KindProfile(
            code="20",
            **_INVOICE,
            profile="DIAN 2.1: Documento Equivalente POS",
            fiscal_id="CUDE",
            control=True,
            point_of_sale=True,
        ),
        KindProfile(
            code="94",
            **_CREDIT,
            profile="DIAN 2.1: Nota de ajuste crédito al documento equivalente",
            fiscal_id="CUDE",
        ),
        KindProfile(
            code="05",
            **_INVOICE,
            profile="DIAN 2.1: documento soporte en adquisiciones efectuadas a no obligados a facturar.",
            fiscal_id="CUDS",
            control=True,
            purchase=True,
        ),
        KindProfile(
            code="95",
            **_CREDIT,
            profile="DIAN 2.1: Nota de ajuste al documento soporte en adquisiciones efectuadas a sujetos no "
            "obligados a expedir factura o documento equivalente",
            fiscal_id="CUDS",
            purchase=True,
        ),
    )
}

# (canonical kind, kind of the referenced document) -> DIAN type; None = no reference kind given.
DIAN_TYPES: Final[dict[tuple[str, str | None], str]] = {
    ("invoice", None): "01",
    ("credit_note", None): "91",
    ("credit_note", "invoice"): "91",
    ("credit_note", "pos_invoice"): "94",
    ("credit_note", "support_document"): "95",
    ("debit_note", None): "92",
    ("debit_note", "invoice"): "92",
    ("pos_invoice", None): "20",
    ("support_document", None): "05",
}

# CustomizationID (the operation type, research/dian.md §3.3): (with a referenced document, without).
# A support document and its adjustment note say whether the seller is resident (10) or not (11).
CUSTOMIZATION: Final[dict[str, tuple[str, str]]] = {
    "01": ("10", "10"),
    "91": ("20", "22"),
    "92": ("30", "32"),
    "20": ("10", "10"),
    "94": ("20", "22"),
}
SUPPORT_CUSTOMIZATION: Final[dict[bool, str]] = {True: "10", False: "11"}  # seller resident in CO?


def profile_of(doc: Document) -> KindProfile | None:
    """The DIAN type a document is written as, or None when direct DIAN has none for it."""
    if doc.country != "CO":
        return None
    referenced = doc.reference.kind if doc.reference is not None else None
    code = DIAN_TYPES.get((doc.kind, referenced if doc.kind in ("credit_note", "debit_note") else None))
    return PROFILES[code] if code else None


def customization(profile: KindProfile, doc: Document) -> str:
    """cbc:CustomizationID of a document of this profile."""
    if profile.purchase:
        seller = doc.supplier.address if doc.supplier is not None else None
        return SUPPORT_CUSTOMIZATION[seller is None or seller.country == "CO"]
    referenced = doc.reference is not None and doc.reference.fiscal_id is not None
    return CUSTOMIZATION[profile.code][0 if referenced else 1]
