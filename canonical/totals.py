"""The totals engine: one set of figures for every provider (ARCHITECTURE.md, Totals).

Rounding is explicit: half-up, per line to `LINE_DECIMALS[country]` (CO 2, SV 8), document totals to
2. Tax amounts are rounded per line and summed, so the document's taxes always equal the sum of
what the lines show (the DIAN and MH validators recompute from the lines).

With `prices_include_tax` the unit prices are what the customer pays: tax = taxed × r / (100 + Σr)
per line (SV factura: × 13/113), net = taxed − tax, and the document's `tax_inclusive` is the sum of
the rounded gross lines, so the printed price is never changed by rounding.

Every figure leaves as a plain decimal string (`"0.00"`, never `"0E-8"` or `"1E+3"`): msgspec writes
a Decimal as `str()` does, which switches to exponent notation for zeros and sub-micro values with 8
places and for positive exponents. So SV line zeros become PLAIN_ZERO, echoed rates and unit prices
pass through `plain`, and 2-place figures are plain by construction. A non-zero line figure below
0.000001 has no plain form at all; validation refuses it (`amount-too-small`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from msgspec import Struct

from canonical.catalogs import LINE_DECIMALS, TOTAL_DECIMALS
from canonical.document import Adjustment, Document

ZERO: Final = Decimal(0)
HUNDRED: Final = Decimal(100)
_QUANTUM: Final = {n: Decimal(1).scaleb(-n) for n in range(0, 9)}
PLAIN_ZERO: Final = Decimal("0.00")
MICRO: Final = Decimal("0.000001")  # below this (non-zero), str() of a Decimal uses an exponent
_PLAIN_PLACES: Final = 6  # str() writes every figure of up to 6 places plainly


def plain(value: Decimal) -> Decimal:
    """`value` in a form `str()` writes without an exponent (same amount; 0E-8 becomes 0.00).

    Non-zero values below MICRO stay as they are: no Decimal form writes them plainly."""
    if "E" not in str(value):  # the usual case, tested as msgspec will write it (4x cheaper than as_tuple)
        return value
    if not value:
        return PLAIN_ZERO
    return value if value.adjusted() < -_PLAIN_PLACES else value.quantize(_QUANTUM[0])


def round_half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(_QUANTUM[places], ROUND_HALF_UP)  # positional: keyword parsing costs 2x


class TaxAmount(Struct, kw_only=True):
    tax: str
    rate: Decimal
    taxable: Decimal
    amount: Decimal


class WithholdingAmount(Struct, kw_only=True):
    tax: str
    rate: Decimal
    taxable: Decimal
    amount: Decimal


class LineTotals(Struct, kw_only=True):
    """Per-line figures, so adapters never recompute them."""

    unit_price: Decimal  # tax-exclusive unit price (derived when prices include tax)
    gross: Decimal  # quantity × tax-exclusive unit price, before the line discount
    discount: Decimal  # line discount, tax-exclusive
    net: Decimal  # gross − discount: the line's taxable base (DIAN LineExtensionAmount)
    taxes: list[TaxAmount]
    total: Decimal  # net + taxes: what the customer pays for the line


class Totals(Struct, kw_only=True):
    """Document totals, all decimal strings in JSON. Calculated: never accepted from clients."""

    lines: list[LineTotals]
    line_extension: Decimal
    taxes: list[TaxAmount]
    tax_total: Decimal
    tax_exclusive: Decimal
    tax_inclusive: Decimal
    allowances: Decimal
    charges: Decimal  # every document-level charge, tips included
    tips: Decimal  # the tip part of `charges` (SV propina, CO propina)
    withholdings: list[WithholdingAmount]
    payable: Decimal


# Withholding base per (country, tax): which figure the rate applies to.
_WITHHOLDING_BASE: Final[dict[tuple[str, str], str]] = {
    ("CO", "ReteFuente"): "line_extension",
    ("CO", "ReteICA"): "line_extension",
    ("CO", "ReteIVA"): "tax:IVA",
    ("SV", "IVA"): "tax_exclusive",  # 1 % of the net taxed amount (CT Art. 162)
    ("SV", "Renta"): "line_extension",
}
# Withholdings that reduce what the buyer pays (SV retentions); CO ones are informational.
_REDUCES_PAYABLE: Final = frozenset({"SV"})
_COLUMN_ROUNDING: Final = frozenset({"SV"})


def compute_totals(doc: Document) -> Totals:
    line_places = LINE_DECIMALS[doc.country]
    lines = [_line_totals(line, doc.prices_include_tax, line_places) for line in doc.lines]

    grouped: dict[tuple[str, Decimal], list[Decimal]] = {}
    for lt in lines:
        for t in lt.taxes:
            acc = grouped.setdefault((t.tax, t.rate), [ZERO, ZERO])
            acc[0] += t.taxable
            acc[1] += t.amount
    taxes = [
        TaxAmount(tax=tax, rate=plain(rate), taxable=_r2(acc[0]), amount=_r2(acc[1]))
        for (tax, rate), acc in grouped.items()
    ]
    tax_total = sum((t.amount for t in taxes), ZERO)
    columns = _columns(doc)
    if doc.prices_include_tax:
        tax_inclusive = sum((_r2(sum((lines[i].total for i in col), ZERO)) for col in columns), ZERO)
        line_extension = tax_inclusive - tax_total
    else:
        line_extension = sum((_r2(sum((lines[i].net for i in col), ZERO)) for col in columns), ZERO)
        tax_inclusive = line_extension + tax_total
    tax_exclusive = _r2(sum((lt.net for lt in lines if lt.taxes), ZERO))
    if doc.prices_include_tax and lines and all(lt.taxes for lt in lines):
        tax_exclusive = line_extension  # keep the identity exact when every line is taxed

    percent_base = tax_inclusive if doc.prices_include_tax else line_extension
    allowances = _adjustments(doc.discounts, percent_base)
    charges = _adjustments(doc.charges, percent_base)
    tips = _adjustments([c for c in doc.charges if c.kind == "tip"], percent_base)

    bases = {"line_extension": line_extension, "tax_exclusive": tax_exclusive}
    for t in taxes:
        bases[f"tax:{t.tax}"] = bases.get(f"tax:{t.tax}", ZERO) + t.amount
    withholdings = []
    for w in doc.withholdings:
        base = bases.get(_WITHHOLDING_BASE.get((doc.country, w.tax), "line_extension"), ZERO)
        withholdings.append(
            WithholdingAmount(
                tax=w.tax, rate=plain(w.rate), taxable=base, amount=_r2(base * w.rate / HUNDRED)
            )
        )
    retained = sum((w.amount for w in withholdings), ZERO) if doc.country in _REDUCES_PAYABLE else ZERO

    return Totals(
        lines=lines,
        line_extension=line_extension,
        taxes=taxes,
        tax_total=tax_total,
        tax_exclusive=tax_exclusive,
        tax_inclusive=tax_inclusive,
        allowances=allowances,
        charges=charges,
        tips=tips,
        withholdings=withholdings,
        payable=tax_inclusive - allowances + charges - retained,
    )


def _columns(doc: Document) -> list[list[int]]:
    """Line indexes summed and rounded together. MH rounds each sales column (gravada, exenta,
    no sujeta) on its own and adds the rounded columns; DIAN sums all lines at once."""
    if doc.country not in _COLUMN_ROUNDING:
        return [list(range(len(doc.lines)))]
    groups: dict[str, list[int]] = {}
    for i, line in enumerate(doc.lines):
        groups.setdefault(line.tax_treatment, []).append(i)
    return list(groups.values())


def _line_totals(line, prices_include_tax: bool, places: int) -> LineTotals:
    gross_as_priced = round_half_up(line.quantity * line.unit_price, places)
    discount_as_priced = PLAIN_ZERO
    if line.discount is not None:
        if line.discount.percent is not None:
            discount_as_priced = round_half_up(gross_as_priced * line.discount.percent / HUNDRED, places)
        elif line.discount.amount is not None:
            discount_as_priced = round_half_up(line.discount.amount, places)
    priced = gross_as_priced - discount_as_priced
    rates = [(t.tax, t.rate) for t in line.taxes] if line.tax_treatment == "taxed" else []

    if prices_include_tax and rates:
        divisor = HUNDRED + sum((r for _, r in rates), ZERO)
        amounts = [round_half_up(priced * r / divisor, places) for _, r in rates]
        net = priced - sum(amounts, ZERO)
        factor = HUNDRED / divisor
        gross = round_half_up(gross_as_priced * factor, places)
        discount = gross - net
        unit_price = round_half_up(line.unit_price * factor, max(places, 2))
    else:
        net = priced
        amounts = [round_half_up(net * r / HUNDRED, places) for _, r in rates]
        gross, discount, unit_price = gross_as_priced, discount_as_priced, line.unit_price

    total = net + sum(amounts, ZERO)
    if places > _PLAIN_PLACES:  # SV: a zero (free line, 100 % discount) would read 0E-8
        gross, discount, net, total = (
            gross or PLAIN_ZERO,
            discount or PLAIN_ZERO,
            net or PLAIN_ZERO,
            total or PLAIN_ZERO,
        )
        amounts = [a or PLAIN_ZERO for a in amounts]
    taxes = [
        TaxAmount(tax=tax, rate=plain(rate), taxable=net, amount=a)
        for (tax, rate), a in zip(rates, amounts, strict=True)
    ]
    return LineTotals(
        unit_price=plain(unit_price),
        gross=gross,
        discount=discount,
        net=net,
        taxes=taxes,
        total=total,
    )


def _adjustments(items: Iterable[Adjustment], base: Decimal) -> Decimal:
    total = ZERO
    for item in items:
        total += item.amount if item.amount is not None else base * (item.percent or ZERO) / HUNDRED
    return _r2(total)


def _r2(value: Decimal) -> Decimal:
    return round_half_up(value, TOTAL_DECIMALS)
