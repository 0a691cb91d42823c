"""The totals engine's hot path against the straightforward engine it replaced (hypothesis).

`prepare` runs on every request, so the totals engine uses plain loops and positional `quantize`.
This property pins it to the straightforward version: any divergence is a behaviour change (a
figure off by a cent, an exponent or a sign of zero).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canonical import catalogs as cat
from canonical.document import Adjustment, Document, Line, LineDiscount, TaxRate, Withholding
from canonical.totals import LineTotals, TaxAmount, Totals, WithholdingAmount, compute_totals

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Decimals near every edge _finite knows: NaN/Infinity, 10**14, 8 decimals, trailing zeros, -0,
# and more digits than the context's 28 (msgspec builds Decimals from strings without rounding).
# -- totals against the straightforward engine (the code before the hot-path rewrite) -------------

HUNDRED, ZERO = Decimal(100), Decimal(0)


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _reference_line(line: Line, include: bool, places: int) -> LineTotals:
    gross_as_priced = _round(line.quantity * line.unit_price, places)
    discount_as_priced = Decimal(1).scaleb(-places) * 0
    if line.discount is not None:
        if line.discount.percent is not None:
            discount_as_priced = _round(gross_as_priced * line.discount.percent / HUNDRED, places)
        elif line.discount.amount is not None:
            discount_as_priced = _round(line.discount.amount, places)
    priced = gross_as_priced - discount_as_priced
    rates = [(t.tax, t.rate) for t in line.taxes] if line.tax_treatment == "taxed" else []
    if include and rates:
        divisor = HUNDRED + sum((r for _, r in rates), ZERO)
        amounts = [_round(priced * r / divisor, places) for _, r in rates]
        net = priced - sum(amounts, ZERO)
        factor = HUNDRED / divisor
        gross = _round(gross_as_priced * factor, places)
        discount, unit_price = gross - net, _round(line.unit_price * factor, max(places, 2))
    else:
        net = priced
        amounts = [_round(net * r / HUNDRED, places) for _, r in rates]
        gross, discount, unit_price = gross_as_priced, discount_as_priced, line.unit_price
    taxes = [
        TaxAmount(tax=t, rate=r, taxable=net, amount=a) for (t, r), a in zip(rates, amounts, strict=True)
    ]
    return LineTotals(
        unit_price=unit_price,
        gross=gross,
        discount=discount,
        net=net,
        taxes=taxes,
        total=net + sum(amounts, ZERO),
    )


def _reference_totals(doc: Document) -> Totals:
    include = doc.prices_include_tax
    lines = [_reference_line(line, include, cat.LINE_DECIMALS[doc.country]) for line in doc.lines]
    grouped: dict[tuple[str, Decimal], list[Decimal]] = {}
    for lt in lines:
        for t in lt.taxes:
            acc = grouped.setdefault((t.tax, t.rate), [ZERO, ZERO])
            acc[0] += t.taxable
            acc[1] += t.amount
    taxes = [
        TaxAmount(tax=t, rate=r, taxable=_round(a[0], 2), amount=_round(a[1], 2))
        for (t, r), a in grouped.items()
    ]
    tax_total = sum((t.amount for t in taxes), ZERO)
    if doc.country == "SV":
        groups: dict[str, list[int]] = {}
        for i, line in enumerate(doc.lines):
            groups.setdefault(line.tax_treatment, []).append(i)
        columns = list(groups.values())
    else:
        columns = [list(range(len(doc.lines)))]
    if include:
        tax_inclusive = sum((_round(sum((lines[i].total for i in c), ZERO), 2) for c in columns), ZERO)
        line_extension = tax_inclusive - tax_total
    else:
        line_extension = sum((_round(sum((lines[i].net for i in c), ZERO), 2) for c in columns), ZERO)
        tax_inclusive = line_extension + tax_total
    tax_exclusive = _round(sum((lt.net for lt in lines if lt.taxes), ZERO), 2)
    if include and lines and all(lt.taxes for lt in lines):
        tax_exclusive = line_extension
    base = tax_inclusive if include else line_extension

    def adjust(items: list[Adjustment]) -> Decimal:
        total = ZERO
        for a in items:
            total += a.amount if a.amount is not None else base * (a.percent or ZERO) / HUNDRED
        return _round(total, 2)

    bases = {"line_extension": line_extension, "tax_exclusive": tax_exclusive}
    for t in taxes:
        bases[f"tax:{t.tax}"] = bases.get(f"tax:{t.tax}", ZERO) + t.amount
    which = {("CO", "ReteIVA"): "tax:IVA", ("SV", "IVA"): "tax_exclusive"}
    withholdings = [
        WithholdingAmount(
            tax=w.tax,
            rate=w.rate,
            taxable=(b := bases.get(which.get((doc.country, w.tax), "line_extension"), ZERO)),
            amount=_round(b * w.rate / HUNDRED, 2),
        )
        for w in doc.withholdings
    ]
    retained = sum((w.amount for w in withholdings), ZERO) if doc.country == "SV" else ZERO
    allowances, charges = adjust(doc.discounts), adjust(doc.charges)
    return Totals(
        lines=lines,
        line_extension=line_extension,
        taxes=taxes,
        tax_total=tax_total,
        tax_exclusive=tax_exclusive,
        tax_inclusive=tax_inclusive,
        allowances=allowances,
        charges=charges,
        tips=adjust([c for c in doc.charges if c.kind == "tip"]),
        withholdings=withholdings,
        payable=tax_inclusive - allowances + charges - retained,
    )


def money(places: int, high: str = "200000") -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(0), max_value=Decimal(high), places=places)


valid_lines = st.builds(
    Line,
    description=st.just("item"),
    quantity=st.integers(0, 8).flatmap(lambda n: money(n, "1000")).filter(lambda q: q > 0),
    unit_price=st.integers(0, 8).flatmap(money),
    discount=st.none()
    | st.builds(LineDiscount, percent=money(2, "100"))
    | st.builds(LineDiscount, amount=money(4, "10")),
    taxes=st.sampled_from(
        [
            [],
            [("IVA", "19")],
            [("IVA", "5"), ("ICA", "0.966")],
            [("INC", "8")],
            [("IVA", "0")],
            [("IVA", "13")],
        ]
    ).map(lambda ts: [TaxRate(tax=t, rate=Decimal(r)) for t, r in ts]),
    tax_treatment=st.sampled_from(["taxed", "taxed", "exempt", "not_subject"]),
)
adjustments = st.builds(
    Adjustment, reason=st.just("r"), amount=money(2, "50"), kind=st.sampled_from(["tip", "other"])
) | st.builds(Adjustment, reason=st.just("r"), percent=money(3, "10"))
documents = st.builds(
    Document,
    country=st.sampled_from(["CO", "SV"]),
    kind=st.just("invoice"),
    lines=st.lists(valid_lines, min_size=1, max_size=5),
    prices_include_tax=st.booleans(),
    charges=st.lists(adjustments, max_size=2),
    discounts=st.lists(adjustments, max_size=2),
    withholdings=st.lists(
        st.builds(
            Withholding,
            tax=st.sampled_from(["ReteFuente", "ReteIVA", "ReteICA", "IVA", "Renta"]),
            rate=money(3, "15"),
        ),
        max_size=2,
    ),
)


@FAST
@given(doc=documents)
def test_totals_equal_the_straightforward_engine(doc):
    # JSON bytes compare every figure with its exponent and the sign of zero ("0.00" vs "-0.00").
    assert msgspec.json.encode(compute_totals(doc)) == msgspec.json.encode(_reference_totals(doc))
