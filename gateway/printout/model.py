"""What a printed document shows, whatever the authority: the neutral shape that `ubl` (DIAN) and `dte`
(Hacienda) fill from the signed document and `layout` draws. Reading the signed document, not the
canonical one, keeps the buyer's copy identical to what the authority holds."""

from __future__ import annotations

from msgspec import Struct


class Party(Struct, kw_only=True):
    """A party's identification block: name, then one line per identification or contact fact."""

    role: str  # "Emisor" / "Adquiriente" / "Receptor"
    name: str
    lines: list[str] = []


class Line(Struct, kw_only=True):
    number: str
    code: str
    description: str
    quantity: str
    unit_price: str
    discount: str
    taxes: str  # "IVA 19 % 28.500,00"
    total: str


class Figure(Struct, kw_only=True):
    """One labelled amount (a total, a tax, a withholding)."""

    label: str
    amount: str
    strong: bool = False


class Printout(Struct, kw_only=True):
    title: str
    number: str
    facts: list[tuple[str, str]]  # issue date, time, due date, payment form, ... beside the number
    issuer: Party
    buyer: Party | None
    lines: list[Line]
    taxes: list[Figure]
    withholdings: list[Figure]
    totals: list[Figure]
    fiscal_id_label: str  # "CUFE" / "CUDE" / "Código de generación"
    fiscal_id: str
    qr: str  # what the QR code encodes: the authority's consultation URL
    qr_caption: str
    reference: list[str] = []  # the referenced document, for notes
    notes: list[str] = []
    legal: list[str] = []  # numbering authorization, software, sello de recepción
    currency: str = ""
