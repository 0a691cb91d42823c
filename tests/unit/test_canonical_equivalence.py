"""The canonical hot path's shortcuts against the plain code they stand for (hypothesis).

`prepare` runs on every request, so validation first asks an exact happy-path predicate and only
walks a line with paths and messages when it has a problem, and the totals engine uses plain loops.
These properties pin each shortcut to the straightforward version: any divergence is a behaviour
change (a document accepted or refused differently, or a figure off by a cent or a sign of zero).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from decimal import Decimal as D

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canonical import catalogs as cat
from canonical.document import Adjustment, Document, Line, LineDiscount, TaxRate, Withholding
from canonical.totals import LineTotals, TaxAmount, Totals, WithholdingAmount, compute_totals
from canonical.validation import _clean_amount, _finite, _line_clean, _line_errors

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Decimals near every edge _finite knows: NaN/Infinity, 10**14, 8 decimals, trailing zeros, -0,
# and more digits than the context's 28 (msgspec builds Decimals from strings without rounding).
edge_decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.from_regex(r"\A-?[0-9]{1,16}(\.[0-9]{0,18})?([eE][+-]?[0-9]{1,3})?\Z").map(Decimal),
    st.sampled_from(
        [
            "sNaN",
            "-0",
            "-0.00",
            "0E-9",
            "1.00000000",
            "1.000000000",
            "1E+2",
            "1E-8",
            "1E-9",
            "99999999999999.99999999",
            "99999999999999.999999999999999",
            "100000000000000",
            "-99999999999999",
        ]
    ).map(Decimal),
)


@FAST
@given(value=edge_decimals)
def test_clean_amount_is_exactly_finite_without_errors(value):
    assert _clean_amount(value) == (not list(_finite("x", value=value)))


def _valid_line(draw, country: str) -> Line:
    rates = ["13", "13.00"] if country == "SV" else ["0", "5", "19", "19.00"]
    discount = draw(
        st.sampled_from(
            [
                None,
                LineDiscount(percent=D("10")),
                LineDiscount(percent=D("100")),
                LineDiscount(amount=D("10")),
            ]
        )
    )
    taxes = [TaxRate(tax="IVA", rate=D(draw(st.sampled_from(rates))))]
    if country == "CO" and draw(st.booleans()):
        taxes.append(
            TaxRate(tax=draw(st.sampled_from(["INC", "ICA"])), rate=D(draw(st.sampled_from(["8", "0.966"]))))
        )
    return Line(
        description="item",
        quantity=D(draw(st.sampled_from(["1", "0.5", "3"]))),
        unit_price=D(draw(st.sampled_from(["150000.00", "0", "25000", "0.00000001"]))),
        unit=draw(st.sampled_from(["94", "KGM", "H87"])),
        discount=discount,
        taxes=taxes,
    )


# One change at a time from a valid line, each at the edge of a rule (or any decimal).
PERTURBATIONS = {
    "quantity": ["0", "-0", "-1", "0.000000001", "100000000000000"],
    "unit_price": ["-0.01", "-0", "NaN", "1.000000000"],
    "unit": ["abcd", "", "h87", "9 4"],
    "percent": ["100", "100.000", "100.01", "101", "-0.01", "-0", "0", "1E+2", "Infinity"],
    "amount": ["gross", "gross+0.01", "-0.01", "0", "sNaN"],
    "both": ["10"],
    "neither": [None],
    "tax": ["VAT", "iva", "INC", "ICA"],
    "rate": ["7", "19.0000", "13", "5", "-0", "1E-9", "NaN"],
    "duplicate": [None],
    "treatment": ["exempt", "not_subject"],
    "no-taxes": [None],
}


def _perturb(line: Line, change: str, value: str | None) -> Line:
    gross = line.quantity * line.unit_price
    if change in ("quantity", "unit_price"):
        setattr(line, change, D(value))
    elif change == "unit":
        line.unit = value
    elif change == "percent":
        line.discount = LineDiscount(percent=D(value))
    elif change == "amount":
        edges = {"gross": gross, "gross+0.01": gross + D("0.01")}
        line.discount = LineDiscount(amount=edges[value] if value in edges else D(value))
    elif change == "both":
        line.discount = LineDiscount(percent=D("10"), amount=D("10"))
    elif change == "neither":
        line.discount = LineDiscount()
    elif change == "tax":
        line.taxes[0].tax = value
    elif change == "rate":
        line.taxes[-1].rate = D(value)
    elif change == "duplicate":
        line.taxes.append(TaxRate(tax=line.taxes[0].tax, rate=line.taxes[0].rate))
    elif change == "treatment":
        line.tax_treatment = value
    else:
        line.taxes = []
    return line


def _agree(line: Line, country: str) -> None:
    doc = Document(country=country, kind="invoice", lines=[line])
    allowed = cat.ALLOWED_RATES[country]
    clean = _line_clean(line, allowed, country == "SV")
    assert clean == (not list(_line_errors(doc, 0, line, allowed))), (country, line)


def test_line_clean_at_every_listed_edge():
    for country in ("CO", "SV"):
        rate = "13" if country == "SV" else "19"
        for change, values in PERTURBATIONS.items():
            for value in values:
                line = Line(
                    description="item",
                    quantity=D("3"),
                    unit_price=D("25000"),
                    taxes=[TaxRate(tax="IVA", rate=D(rate))],
                )
                _agree(_perturb(line, change, value), country)


@st.composite
def lines(draw, country: str) -> Line:
    line = _valid_line(draw, country)
    change = draw(st.sampled_from([None, *PERTURBATIONS]))
    if change is None:
        return line
    value = draw(st.sampled_from(PERTURBATIONS[change]) | edge_decimals.map(str))
    if change == "amount" and value not in ("gross", "gross+0.01"):
        value = str(D(value))
    return _perturb(line, change, value)


@FAST
@given(data=st.data(), country=st.sampled_from(["CO", "SV"]))
def test_line_clean_is_exactly_a_line_without_errors(data, country):
    _agree(data.draw(lines(country)), country)


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
