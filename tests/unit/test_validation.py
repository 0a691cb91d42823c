"""Bad input yields the full error list, each with a path and a stable rule code."""

from __future__ import annotations

import json

import pytest

from canonical.errors import InvalidDocument
from canonical.validation import RULES, dui_is_valid, prepare


def errors_of(doc: dict | bytes) -> list[tuple[str, str]]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    with pytest.raises(InvalidDocument) as info:
        prepare(body)
    found = [(e.path, e.rule) for e in info.value.errors]
    assert all(rule in RULES for _, rule in found), found
    return found


@pytest.fixture
def co(example_bytes) -> dict:
    return json.loads(example_bytes["co-invoice"])


@pytest.fixture
def sv(example_bytes) -> dict:
    return json.loads(example_bytes["sv-invoice"])


def test_wrong_types_are_all_reported_with_paths(co):
    co["lines"][0]["quantity"] = True
    co["lines"][2]["unit_price"] = "12,5"
    co["customer"]["party_type"] = "robot"
    co["lines"][1]["colour"] = "red"
    found = errors_of(co)
    assert ("lines[0].quantity", "type") in found
    assert ("lines[2].unit_price", "format") in found
    assert ("customer.party_type", "enum") in found
    assert ("lines[1].colour", "unknown-field") in found


def test_missing_required_fields(co):
    del co["lines"][0]["description"]
    del co["country"]
    found = errors_of(co)
    assert ("lines[0].description", "required") in found
    assert ("country", "required") in found


def test_malformed_json():
    assert errors_of(b'{"country": "CO",') == [("", "json-invalid")]


def test_strings_that_are_not_utf8_are_invalid_json():
    """msgspec raises UnicodeDecodeError for these, not DecodeError (found by the fuzzer)."""
    assert errors_of(b'{"country": "\x80"}') == [("", "json-invalid")]
    assert errors_of(b'"\x80"') == [("", "json-invalid")]


def test_unknown_kind_names_the_country_list(co):
    co["kind"] = "tax_credit_invoice"  # an SV kind
    assert ("kind", "kind-unknown") in errors_of(co)


def test_bad_nit_check_digit(co):
    co["customer"]["check_digit"] = "7"
    with pytest.raises(InvalidDocument) as info:
        prepare(json.dumps(co).encode())
    (e,) = info.value.errors
    assert (e.path, e.rule) == ("customer.check_digit", "co-nit-check-digit")
    assert "has check digit 8" in e.message


def test_negative_quantity_and_nan_and_infinity(co):
    co["lines"][0]["quantity"] = "-1"
    co["lines"][1]["unit_price"] = "NaN"
    co["lines"][2]["taxes"][0]["rate"] = "Infinity"
    found = errors_of(co)
    assert ("lines[0].quantity", "quantity-positive") in found
    assert ("lines[1].unit_price", "decimal-finite") in found
    assert ("lines[2].taxes[0].rate", "decimal-finite") in found


def test_hundred_thousand_lines_refused_quickly(co):
    line = co["lines"][0]
    co["lines"] = [line] * 100_000
    assert errors_of(co) == [("lines", "lines-max")]


def test_rates_allowed_per_country(co, sv):
    co["lines"][0]["taxes"] = [{"tax": "IVA", "rate": "16"}]
    co["lines"][1]["taxes"] = [{"tax": "INC", "rate": "8"}, {"tax": "VAT", "rate": "5"}]
    found = errors_of(co)
    assert ("lines[0].taxes[0].rate", "tax-rate-not-allowed") in found
    assert ("lines[1].taxes[1].tax", "tax-unknown") in found
    assert not any(p.startswith("lines[1].taxes[0]") for p, _ in found)  # INC 8 % is fine
    sv["lines"][0]["taxes"] = [{"tax": "IVA", "rate": "19"}]
    assert ("lines[0].taxes[0].rate", "tax-rate-not-allowed") in errors_of(sv)


def test_notes_need_a_reference(example_bytes):
    note = json.loads(example_bytes["co-credit-note"])
    note["reference"]["fiscal_id"] = "abc"
    del note["reason"]
    found = errors_of(note)
    assert ("reference.fiscal_id", "co-reference-cufe") in found
    assert ("reason", "note-reason-required") in found
    del note["reference"]
    assert ("reference", "note-reference-required") in errors_of(note)


def test_note_reason_must_fit_the_kind(example_bytes):
    note = json.loads(example_bytes["co-credit-note"])
    note["reason"]["code"] = "interest"  # a debit-note reason
    assert errors_of(note) == [("reason.code", "note-reason-unknown")]


def test_sv_factura_over_threshold_identifies_customer(sv):
    del sv["customer"]
    prepare(json.dumps(sv).encode())  # 27.00: an anonymous final consumer is fine
    sv["lines"][0]["quantity"] = "200"  # 200 × 6.50 = 1300.00 ≥ 1095.00
    assert errors_of(sv) == [("customer", "sv-factura-receptor-required")]


def test_sv_ccf_needs_nit_and_nrc(sv):
    sv["kind"] = "tax_credit_invoice"
    sv["prices_include_tax"] = False
    assert ("customer", "sv-ccf-receptor-nit-nrc") in errors_of(sv)
    sv["customer"].update(id_type="NIT", id_number="06142803901121", nrc="2345678")
    prepare(json.dumps(sv).encode())


def test_sv_identification_formats(sv):
    sv["customer"]["id_number"] = "04567890-4"
    assert errors_of(sv) == [("customer.id_number", "sv-dui-check-digit")]
    sv["customer"]["id_number"] = "4567890-3"
    assert errors_of(sv) == [("customer.id_number", "sv-dui-format")]
    sv["customer"].update(id_type="NIT", id_number="0614-280390-112-1")
    assert errors_of(sv) == [("customer.id_number", "sv-nit-format")]
    sv["customer"].update(id_number="06142803901122")
    assert errors_of(sv) == [("customer.id_number", "sv-nit-check-digit")]
    sv["customer"].update(id_number="045678903")  # a DUI doubling as NIT
    prepare(json.dumps(sv).encode())


def test_dui_check_digit():
    assert dui_is_valid("04567890-3")
    assert not dui_is_valid("04567890-2")


def test_dates(co):
    co["issue_date"] = "2999-01-01"
    co["payment"]["due_date"] = "2020-01-01"
    found = errors_of(co)
    assert ("issue_date", "issue-date-future") in found
    assert ("payment.due_date", "due-date-before-issue") in found
    co["issue_date"] = "2026-02-30"
    assert ("issue_date", "format") in errors_of(co)


def test_credit_sale_needs_due_date(co):
    del co["payment"]["due_date"]
    assert errors_of(co) == [("payment.due_date", "co-credit-due-date")]


def test_discounts(co):
    co["lines"][0]["discount"] = {"percent": "10", "amount": "5"}
    co["lines"][1]["discount"] = {"percent": "150"}
    co["lines"][2]["discount"] = {"amount": "999999"}
    found = errors_of(co)
    assert ("lines[0].discount", "discount-one-of") in found
    assert ("lines[1].discount.percent", "discount-percent-range") in found
    assert ("lines[2].discount.amount", "discount-exceeds-gross") in found


def test_co_invoice_requires_customer_but_pos_does_not(co):
    del co["customer"]
    assert errors_of(co) == [("customer", "customer-required")]
    co["kind"] = "pos_invoice"
    prepare(json.dumps(co).encode())


def test_exempt_line_cannot_carry_taxes(sv):
    sv["lines"][2]["taxes"] = [{"tax": "IVA", "rate": "13"}]
    assert errors_of(sv) == [("lines[2].taxes", "tax-treatment-conflict")]


def test_withholdings_and_adjustments(co):
    co["withholdings"] = [{"tax": "ReteFuente", "rate": "4"}, {"tax": "Renta", "rate": "10"}]
    co["discounts"] = [{"reason": "promo", "amount": "5", "percent": "1"}]
    found = errors_of(co)
    assert ("withholdings[1].tax", "withholding-unknown") in found
    assert ("discounts[0]", "adjustment-one-of") in found


def test_amount_magnitude_and_precision_are_bounded(co):
    co["lines"][0]["quantity"] = "1e100000"
    co["lines"][1]["unit_price"] = "1e-100000"
    co["lines"][2]["unit_price"] = "0.123456789"
    found = errors_of(co)
    assert ("lines[0].quantity", "amount-range") in found
    assert ("lines[1].unit_price", "decimals-max") in found
    assert ("lines[2].unit_price", "decimals-max") in found


def test_purchase_documents_name_a_supplier_not_a_customer(co):
    co["kind"] = "support_document"
    assert errors_of(co) == [("customer", "customer-on-purchase"), ("supplier", "supplier-required")]
    co["supplier"] = co.pop("customer")
    co["supplier"]["check_digit"] = "1"
    assert errors_of(co) == [("supplier.check_digit", "co-nit-check-digit")]


def test_a_sale_names_no_supplier(co):
    co["supplier"] = dict(co["customer"])
    assert errors_of(co) == [("supplier", "supplier-on-sale")]


def test_point_of_sale_only_on_pos_documents(example_bytes):
    pos = json.loads(example_bytes["co-pos-invoice"])
    pos["point_of_sale"]["buyer_benefits"]["points"] = "-1"
    assert errors_of(pos) == [("point_of_sale.buyer_benefits.points", "buyer-benefits-points")]
    pos["point_of_sale"]["buyer_benefits"]["points"] = "1"
    pos["kind"] = "invoice"
    assert ("point_of_sale", "point-of-sale-on-non-pos") in errors_of(pos)


def test_adjustment_notes_reference_pos_and_support_documents(example_bytes):
    note = json.loads(example_bytes["co-credit-note"])
    note["reference"]["kind"] = "export_invoice"
    assert errors_of(note) == [("reference.kind", "co-reference-kind")]
    note["reference"]["kind"] = "pos_invoice"
    prepare(json.dumps(note).encode())
    anonymous = {k: v for k, v in note.items() if k != "customer"}  # the POS sale's final consumer
    prepare(json.dumps(anonymous).encode())
    assert errors_of({**anonymous, "reference": {**note["reference"], "kind": "invoice"}}) == [
        ("customer", "customer-required")
    ]
    note["reference"]["kind"] = "support_document"  # the tenant bought: the seller is the supplier
    assert errors_of(note) == [("customer", "customer-on-purchase"), ("supplier", "supplier-required")]
    note["supplier"] = note.pop("customer")
    prepare(json.dumps(note).encode())
    note["kind"] = "debit_note"
    note["reason"] = {"code": "interest"}
    assert errors_of(note) == [("kind", "co-support-document-debit-note")]
