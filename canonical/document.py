"""The canonical document: what integrators post, the same for every provider and country.

msgspec Structs, no I/O. Field descriptions flow into the OpenAPI schema. Closed, country-independent
vocabularies are Literals (msgspec names the bad value); country-dependent ones (kind, id_type,
reason code) are strings checked by `canonical.validation` against `canonical.catalogs`, so the
error can say which country's list applies.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct, field

Country = Literal["CO", "SV"]
PartyType = Literal["company", "person"]
TaxTreatment = Literal["taxed", "exempt", "not_subject"]
ItemType = Literal["good", "service", "both"]
PaymentForm = Literal["cash", "credit"]
PaymentMeansCode = Literal[
    "cash", "bank_transfer", "bank_deposit", "credit_card", "debit_card", "check", "electronic_money", "other"
]

Text = Annotated[str, Meta(min_length=1, max_length=1000)]
Amount = Annotated[Decimal, Meta(description="Decimal as a JSON string (or number); never a float")]
Percent = Annotated[Decimal, Meta(description='Percentage, e.g. "19" for 19 %')]


class _Base(Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Unknown fields are refused: a typo ("unit_prize") must not silently drop fiscal content."""


class Address(_Base):
    line: Annotated[str | None, Meta(description="Street address")] = None
    city_code: Annotated[
        str | None, Meta(description="CO: DANE/DIVIPOLA municipality (5 digits); SV: MH CAT-013 municipio")
    ] = None
    department_code: Annotated[
        str | None, Meta(description="CO: DANE department (2 digits); SV: MH CAT-012")
    ] = None
    postal_code: Annotated[str | None, Meta(description="Postal code")] = None
    country: Annotated[str, Meta(description="ISO 3166-1 alpha-2")] = "CO"


class Party(_Base):
    """A customer (or, with the Issuer fields, the tenant issuing the document)."""

    name: Annotated[Text, Meta(description="Legal name (razón social) or full name")]
    party_type: Annotated[PartyType, Meta(description="company (persona jurídica) | person (natural)")] = (
        "company"
    )
    id_type: Annotated[
        str | None,
        Meta(
            description="CO: NIT CC CE TI RC PASSPORT FOREIGN_ID NIT_FOREIGN; SV: NIT DUI NRC PASSPORT RESIDENT_CARD OTHER"
        ),
    ] = None
    id_number: Annotated[str | None, Meta(description="Identification number, without check digit (DV)")] = (
        None
    )
    check_digit: Annotated[str | None, Meta(description="CO: NIT check digit (DV), DIAN mod-11")] = None
    nrc: Annotated[str | None, Meta(description="SV: Número de Registro de Contribuyente (IVA)")] = None
    trade_name: Annotated[str | None, Meta(description="Commercial name (nombre comercial)")] = None
    email: Annotated[str | None, Meta(description="Where the authority's copy is sent")] = None
    phone: Annotated[str | None, Meta(description="Phone number")] = None
    tax_responsibilities: Annotated[
        list[str], Meta(description="CO: DIAN fiscal responsibilities, e.g. O-13, R-99-PN")
    ] = field(default_factory=list)
    economic_activity: Annotated[
        str | None, Meta(description="CO: CIIU; SV: MH CAT-019 actividad económica")
    ] = None
    large_taxpayer: Annotated[bool, Meta(description="SV: gran contribuyente (withholds 1 % IVA)")] = False
    address: Annotated[Address | None, Meta(description="Address with DANE (CO) or MH (SV) codes")] = None


class Issuer(Party):
    """The tenant as issuer: taken from the tenants file, never from the posted document."""

    country: Country = "CO"
    establishment: Annotated[
        str | None, Meta(description="SV: establishment code (M001...), part of numeroControl")
    ] = None
    point_of_sale: Annotated[
        str | None, Meta(description="SV: point-of-sale code (P001...), part of numeroControl")
    ] = None


class TaxRate(_Base):
    tax: Annotated[str, Meta(description="CO: IVA, INC, ICA; SV: IVA")]
    rate: Percent


class LineDiscount(_Base):
    """Exactly one of `percent` (of quantity × unit price) or `amount`."""

    percent: Annotated[Percent | None, Meta(description="Percent of quantity × unit price")] = None
    amount: Annotated[Amount | None, Meta(description="Fixed discount amount")] = None


class Line(_Base):
    description: Annotated[Text, Meta(description="What is sold")]
    quantity: Annotated[Decimal, Meta(description="> 0")]
    unit_price: Annotated[Amount, Meta(description="Per unit; tax-exclusive unless prices_include_tax")]
    code: Annotated[str | None, Meta(description="The seller's item code")] = None
    unit: Annotated[str, Meta(description="UN/ECE Rec 20 unit code; 94 = unit")] = "94"
    discount: Annotated[LineDiscount | None, Meta(description="Line discount: percent or amount")] = None
    taxes: Annotated[list[TaxRate], Meta(description="Taxes on this line, e.g. [{tax: IVA, rate: 19}]")] = (
        field(default_factory=list)
    )
    tax_treatment: Annotated[
        TaxTreatment, Meta(description="taxed | exempt | not_subject (SV gravada / exenta / no sujeta)")
    ] = "taxed"
    item_type: Annotated[ItemType, Meta(description="good | service | both (MH CAT-011)")] = "good"


class Adjustment(_Base):
    """A document-level discount or charge (a tip is a charge outside the tax base)."""

    reason: Annotated[Text, Meta(description="Why the charge or discount applies")]
    amount: Annotated[Amount | None, Meta(description="Fixed amount (or give percent)")] = None
    percent: Annotated[
        Percent | None, Meta(description="Percent of the line total (tax-inclusive when prices include tax)")
    ] = None
    kind: Annotated[Literal["tip", "other"], Meta(description="tip: propina, outside the tax base")] = "other"


class Withholding(_Base):
    tax: Annotated[str, Meta(description="CO: ReteFuente, ReteIVA, ReteICA; SV: IVA, Renta")]
    rate: Percent


class Payment(_Base):
    form: Annotated[PaymentForm, Meta(description="cash (contado) | credit (crédito)")] = "cash"
    means: Annotated[PaymentMeansCode, Meta(description="Mapped to DIAN PaymentMeansCode / MH CAT-017")] = (
        "cash"
    )
    due_date: Annotated[dt.date | None, Meta(description="Required for credit sales in CO")] = None


class Reference(_Base):
    """The document a note corrects."""

    number: Annotated[str, Meta(description="Prefix + consecutive of the referenced document")]
    fiscal_id: Annotated[
        str | None, Meta(description="CO: CUFE, CUDE or CUDS (96 hex); SV: codigoGeneracion (UUID)")
    ] = None
    issue_date: Annotated[dt.date | None, Meta(description="Issue date of the referenced document")] = None
    kind: Annotated[
        str | None,
        Meta(
            description="Kind of the referenced document, when not an invoice: CO pos_invoice (a credit note is "
            "then DIAN's adjustment note 94) or support_document (adjustment note 95); SV tax_credit_invoice"
        ),
    ] = None


class BuyerBenefits(_Base):
    """The buyer's loyalty programme at the point of sale (DIAN BeneficiosComprador)."""

    code: Annotated[Text, Meta(description="The buyer's code in the programme (Codigo)")]
    name: Annotated[Text, Meta(description="The buyer's names and surnames (NombresApellidos)")]
    points: Annotated[Decimal, Meta(description="Points earned with this sale (Puntos)")] = Decimal(0)


class PointOfSale(_Base):
    """Where a retail sale was rung up: the cash register and its cashier (DIAN PuntoVenta)."""

    register_id: Annotated[Text, Meta(description="The cash register's plate or serial (PlacaCaja)")]
    location: Annotated[Text, Meta(description="Where the register stands (UbicaciónCaja)")]
    cashier: Annotated[Text, Meta(description="Who rang the sale up (Cajero)")]
    register_type: Annotated[Text, Meta(description="Kind of register, e.g. POS terminal (TipoCaja)")]
    sale_code: Annotated[Text, Meta(description="The register's own ticket or sale code (CódigoVenta)")]
    buyer_benefits: Annotated[
        BuyerBenefits | None, Meta(description="Loyalty programme data, when the buyer has one")
    ] = None


class Reason(_Base):
    code: Annotated[
        str,
        Meta(
            description="credit: partial_return annulment discount price_adjustment full_return other; debit: interest expenses value_change other"
        ),
    ]
    description: Annotated[str | None, Meta(description="Free text explaining the correction")] = None


class Document(_Base):
    """One fiscal document: invoice, credit or debit note, POS or support document (CO and SV)."""

    country: Annotated[Country, Meta(description="CO (DIAN) or SV (Hacienda)")]
    kind: Annotated[
        str,
        Meta(
            description="CO: invoice credit_note debit_note pos_invoice support_document; SV: invoice tax_credit_invoice credit_note debit_note export_invoice excluded_subject_invoice"
        ),
    ]
    lines: Annotated[list[Line], Meta(description="At least one line")]
    number: Annotated[
        str | None,
        Meta(description="Assigned by the gateway or the provider; set only to re-send a known number"),
    ] = None
    issue_date: Annotated[
        dt.date | None, Meta(description="Defaults to today in the country's time zone")
    ] = None
    issue_time: Annotated[dt.time | None, Meta(description="Defaults to now in the country's time zone")] = (
        None
    )
    currency: Annotated[str | None, Meta(description="ISO 4217; defaults to COP (CO) or USD (SV)")] = None
    prices_include_tax: Annotated[
        bool, Meta(description="Unit prices include the taxes (usual for SV factura)")
    ] = False
    customer: Annotated[
        Party | None,
        Meta(
            description="Required except for an anonymous final consumer (SV factura below USD 1,095; CO POS)"
            " and for purchase documents (CO support_document), which name a supplier instead"
        ),
    ] = None
    supplier: Annotated[
        Party | None,
        Meta(
            description="Purchase documents, where the tenant is the buyer: the seller (CO support_document "
            "and its adjustment note: the person not obliged to invoice)"
        ),
    ] = None
    point_of_sale: Annotated[
        PointOfSale | None,
        Meta(description="Retail sales (CO pos_invoice): the cash register, cashier and buyer benefits"),
    ] = None
    charges: Annotated[list[Adjustment], Meta(description="Document-level charges; kind=tip for a tip")] = (
        field(default_factory=list)
    )
    discounts: Annotated[list[Adjustment], Meta(description="Document-level discounts (allowances)")] = field(
        default_factory=list
    )
    withholdings: Annotated[
        list[Withholding], Meta(description="Taxes the buyer withholds; reduce payable in SV only")
    ] = field(default_factory=list)
    payment: Annotated[Payment | None, Meta(description="Form, means and due date")] = None
    reference: Annotated[Reference | None, Meta(description="Notes: the document being corrected")] = None
    reason: Annotated[Reason | None, Meta(description="Notes: why the document is corrected")] = None
    notes: Annotated[list[str], Meta(description="Free text printed on the document")] = field(
        default_factory=list
    )
    metadata: Annotated[dict[str, str], Meta(description="Free string tags; routing rules match on them")] = (
        field(default_factory=dict)
    )

    @property
    def is_purchase(self) -> bool:
        """The tenant buys (a support document, or a note on one): the other party is `supplier`."""
        purchases = PURCHASE_KINDS.get(self.country, frozenset())
        return self.kind in purchases or (self.reference is not None and self.reference.kind in purchases)


# Kinds where the tenant is the buyer and issues the document for a seller who cannot invoice.
PURCHASE_KINDS: Final[dict[str, frozenset[str]]] = {"CO": frozenset({"support_document"})}

document_decoder = msgspec.json.Decoder(Document)
