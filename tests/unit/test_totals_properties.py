"""Property tests for the totals engine's invariants (hypothesis)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from canonical.document import Adjustment, Document, Line, LineDiscount, TaxRate
from canonical.totals import compute_totals, round_half_up

money = st.decimals(min_value=D("0.01"), max_value=D("99999.99"), places=2)
quantity = st.decimals(min_value=D("0.001"), max_value=D("500"), places=3)
co_rate = st.sampled_from([("IVA", D("0")), ("IVA", D("5")), ("IVA", D("19")), ("INC", D("8"))])


@st.composite
def co_lines(draw) -> list[Line]:
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        discount = draw(st.none() | st.decimals(min_value=D("0"), max_value=D("50"), places=2))
        lines.append(
            Line(
                description="item",
                quantity=draw(quantity),
                unit_price=draw(money),
                discount=LineDiscount(percent=discount) if discount is not None else None,
                taxes=[TaxRate(tax=t, rate=r) for t, r in {draw(co_rate)}],
            )
        )
    return lines


@settings(max_examples=150, deadline=None)
@given(lines=co_lines(), allowance=st.decimals(min_value=D("0"), max_value=D("10"), places=2))
def test_totals_equal_the_sum_of_lines(lines, allowance):
    doc = Document(
        country="CO", kind="invoice", lines=lines, discounts=[Adjustment(reason="x", amount=allowance)]
    )
    t = compute_totals(doc)
    assert t.line_extension == sum(lt.net for lt in t.lines)
    assert t.tax_total == sum(a.amount for lt in t.lines for a in lt.taxes)
    assert t.tax_total == sum(x.amount for x in t.taxes)
    for x in t.taxes:  # grouped subtotals equal the lines they group
        assert x.taxable == sum(
            a.taxable for lt in t.lines for a in lt.taxes if (a.tax, a.rate) == (x.tax, x.rate)
        )
    assert t.tax_inclusive == t.line_extension + t.tax_total
    assert t.payable == t.tax_inclusive - t.allowances + t.charges
    for lt in t.lines:  # every figure carries the country's 2 decimals
        assert lt.net == round_half_up(lt.net, 2)
        assert all(a.amount == round_half_up(a.amount, 2) for a in lt.taxes)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(1, 20), st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)),
        min_size=1,
        max_size=10,
    )
)
def test_tax_inclusive_and_exclusive_prices_describe_the_same_sale(items):
    """SV factura (prices with IVA) vs the same sale priced without IVA: same totals within 1 cent a line."""
    inclusive = Document(
        country="SV",
        kind="invoice",
        prices_include_tax=True,
        lines=[
            Line(description="x", quantity=D(q), unit_price=p, taxes=[TaxRate(tax="IVA", rate=D(13))])
            for q, p in items
        ],
    )
    exclusive = Document(
        country="SV",
        kind="invoice",
        lines=[
            Line(
                description="x",
                quantity=D(q),
                unit_price=round_half_up(p * 100 / D(113), 8),
                taxes=[TaxRate(tax="IVA", rate=D(13))],
            )
            for q, p in items
        ],
    )
    a, b = compute_totals(inclusive), compute_totals(exclusive)
    tolerance = D("0.01") * len(items)
    assert a.payable == sum(round_half_up(D(q) * p, 8) for q, p in items).quantize(D("0.01"))
    for field in ("line_extension", "tax_total", "tax_inclusive", "payable"):
        assert abs(getattr(a, field) - getattr(b, field)) <= tolerance, field
    assert a.tax_inclusive == a.line_extension + a.tax_total


@settings(max_examples=100, deadline=None)
@given(price=money, tip=st.decimals(min_value=D("0"), max_value=D("20"), places=2))
def test_tip_is_a_charge_outside_the_tax_base(price, tip):
    doc = Document(
        country="CO",
        kind="invoice",
        lines=[Line(description="x", quantity=D(1), unit_price=price, taxes=[TaxRate(tax="INC", rate=D(8))])],
        charges=[Adjustment(reason="propina", percent=tip, kind="tip")],
    )
    t = compute_totals(doc)
    assert t.taxes[0].taxable == price  # the tip does not enter the tax base
    assert t.tips == t.charges == round_half_up(price * tip / 100, 2)
    assert t.payable == t.tax_inclusive + t.tips


def test_sv_retention_reduces_payable_co_withholding_does_not():
    from canonical.document import Withholding

    line = Line(
        description="x", quantity=D(1), unit_price=D("200.00"), taxes=[TaxRate(tax="IVA", rate=D(13))]
    )
    sv = compute_totals(
        Document(
            country="SV",
            kind="tax_credit_invoice",
            lines=[line],
            withholdings=[Withholding(tax="IVA", rate=D(1))],
        )
    )
    assert sv.withholdings[0].amount == D("2.00")  # 1 % of the net taxed amount
    assert sv.payable == D("226.00") - D("2.00")
    co = compute_totals(
        Document(
            country="CO",
            kind="invoice",
            lines=[line.__copy__()],
            withholdings=[Withholding(tax="ReteFuente", rate=D("2.5"))],
        )
    )
    assert co.withholdings[0].amount == D("5.00")
    assert co.payable == co.tax_inclusive  # informational in Colombia


def test_sv_rounds_each_sales_column_on_its_own():
    """MH: totalGravada, totalExenta, totalNoSuj are each rounded, then added (found by a property
    test against the Hacienda arithmetic: 0.02 exenta −11 % and 0.29 gravada −1 %)."""
    doc = Document(
        country="SV",
        kind="invoice",
        prices_include_tax=True,
        lines=[
            Line(
                description="a",
                quantity=D(1),
                unit_price=D("0.02"),
                discount=LineDiscount(percent=D(11)),
                tax_treatment="exempt",
            ),
            Line(
                description="b",
                quantity=D(1),
                unit_price=D("0.29"),
                discount=LineDiscount(percent=D(1)),
                taxes=[TaxRate(tax="IVA", rate=D(13))],
            ),
        ],
    )
    t = compute_totals(doc)
    exenta = round_half_up(D("0.02") - D("0.0022"), 2)  # 0.0178 → 0.02
    gravada = round_half_up(D("0.29") - D("0.0029"), 2)  # 0.2871 → 0.29
    assert t.tax_inclusive == exenta + gravada == D("0.31")
    assert t.payable == D("0.31")
