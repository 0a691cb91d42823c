"""The public examples decode, validate and produce the totals computed here by hand."""

from __future__ import annotations

from decimal import Decimal as D

from canonical.validation import prepare


def test_co_invoice_totals_by_hand(example_bytes):
    doc, t = prepare(example_bytes["co-invoice"])
    # line 1: 1 × 150000 = 150000, IVA 19 % = 28500
    # line 2: 2 × 25000 = 50000, 10 % discount 5000 → 45000, IVA 19 % = 8550
    # line 3: 3 × 42000 = 126000, IVA 0 % = 0
    assert [lt.net for lt in t.lines] == [D("150000.00"), D("45000.00"), D("126000.00")]
    assert t.lines[1].discount == D("5000.00")
    assert [lt.taxes[0].amount for lt in t.lines] == [D("28500.00"), D("8550.00"), D("0.00")]
    assert t.line_extension == D("321000.00")
    by_rate = {(x.tax, x.rate): (x.taxable, x.amount) for x in t.taxes}
    assert by_rate[("IVA", D("19"))] == (D("195000.00"), D("37050.00"))
    assert by_rate[("IVA", D("0"))] == (D("126000.00"), D("0.00"))
    assert t.tax_exclusive == D("321000.00")  # IVA 0 % lines carry a tax, so they are in the base
    assert t.tax_inclusive == D("358050.00")
    assert t.payable == D("358050.00")
    assert doc.currency == "COP" and doc.issue_date is not None


def test_sv_invoice_totals_by_hand(example_bytes):
    doc, t = prepare(example_bytes["sv-invoice"])
    # prices include IVA: taxed lines 13.00 and 2.00, exempt 12.00; customer pays 27.00
    # IVA per line = taxed × 13/113 (8 decimals): 1.49557522 + 0.23008850 = 1.72566372 → 1.73
    assert t.lines[0].taxes[0].amount == D("1.49557522")
    assert t.lines[1].taxes[0].amount == D("0.23008850")
    assert t.lines[2].taxes == []
    assert t.tax_total == D("1.73")
    assert t.tax_inclusive == D("27.00")
    assert t.line_extension == D("25.27")
    assert t.payable == D("27.00")
    assert doc.currency == "USD"


def test_co_credit_note_totals_by_hand(example_bytes):
    doc, t = prepare(example_bytes["co-credit-note"])
    assert doc.reference is not None and len(doc.reference.fiscal_id or "") == 96
    assert t.line_extension == D("20000.00")
    assert t.tax_total == D("3800.00")
    assert t.payable == D("23800.00")


def test_amounts_stay_decimal_on_the_wire(example_bytes):
    import msgspec

    _, t = prepare(example_bytes["co-invoice"])
    encoded = msgspec.json.decode(msgspec.json.encode(t))
    assert encoded["payable"] == "358050.00"  # a decimal string, never a float
    assert encoded["taxes"][0]["rate"] == "19"


def test_co_pos_invoice_totals_by_hand(example_bytes):
    doc, t = prepare(example_bytes["co-pos-invoice"])
    # 2 × 4200 = 8400, INC 8 % = 672; 3 × 2500 = 7500, INC 8 % = 600; 30000, IVA 19 % = 5700
    assert [lt.net for lt in t.lines] == [D("8400.00"), D("7500.00"), D("30000.00")]
    by_tax = {x.tax: (x.taxable, x.amount) for x in t.taxes}
    assert by_tax == {"INC": (D("15900.00"), D("1272.00")), "IVA": (D("30000.00"), D("5700.00"))}
    assert t.line_extension == D("45900.00")
    assert t.payable == D("52872.00")
    assert doc.customer is None  # the final consumer
    assert doc.point_of_sale is not None and doc.point_of_sale.buyer_benefits is not None
    assert doc.point_of_sale.buyer_benefits.points == D("12")


def test_co_support_document_totals_by_hand(example_bytes):
    doc, t = prepare(example_bytes["co-support-document"])
    # 850000 + 4 × 35000 = 990000, no IVA (a seller not responsible for IVA); ReteFuente 4 % = 39600,
    # informational in Colombia: the payable stays 990000
    assert t.line_extension == D("990000.00")
    assert t.tax_total == D("0.00")
    assert [(w.tax, w.amount) for w in t.withholdings] == [("ReteFuente", D("39600.00"))]
    assert t.payable == D("990000.00")
    assert doc.is_purchase and doc.customer is None
    assert doc.supplier is not None and doc.supplier.id_number == "1020304050"
