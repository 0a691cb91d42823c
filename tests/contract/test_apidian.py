"""APIDIAN adapter against its documented contract (contracts/apidian/): payloads validate against the
request schema, carry APIDIAN's catalog ids and our totals, and match the golden files; every
documented answer and quirk maps to the right Outcome or failure class; and the adapter works
against the simulator over loopback HTTP, reconciliation by CUFE included."""

from __future__ import annotations

import base64
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from adapters.apidian import (
    DOCUMENTS,
    ID_TYPE_IDS,
    TAX_IDS,
    ApidianAdapter,
    classify_error,
    document_of,
    parse_response,
)
from adapters.base import (
    Account,
    Ambiguous,
    Emission,
    Misconfigured,
    NumberingRange,
    ProviderRef,
    Rejected,
    Unavailable,
    Unsupported,
    adapter_class,
)
from canonical import dian
from canonical.document import Address, Issuer
from contracts import example, example_names, request_errors
from contracts.apidian import codes_by_id

PROVIDER = "apidian"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = "http://127.0.0.1:9/api/ubl2.1"  # never reached: respx answers
TOKEN = "3f1c0e9a7b5d4c2e8f6a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e"
SOFTWARE_PIN = "75315"  # the simulator's configured software PIN (contracts/apidian/README.md)
EQDOCS_PIN = "86420"  # its equivalent-documents software PIN
SUPPORT_PIN = "97531"  # its support-document software PIN
CUFE = example("apidian", "invoice.200.accepted")["body"]["cufe"]

RANGES = {
    "invoice": NumberingRange(
        name="setp",
        kinds=["invoice"],
        prefix="SETP",
        resolution="18760000001",
        from_=990000000,
        to=995000000,
        technical_key="fc8eac422eba16e22ffd8c6f94b3f40a6e38162c",
    ),
    "credit_note": NumberingRange(name="nc", kinds=["credit_note"], prefix="NC", from_=1, to=99999999),
    "debit_note": NumberingRange(name="nd", kinds=["debit_note"], prefix="ND", from_=1, to=99999999),
    "pos_invoice": NumberingRange(
        name="epos", kinds=["pos_invoice"], prefix="EPOS", resolution="18760000001", from_=1, to=1000000
    ),
    "support_document": NumberingRange(
        name="dsp", kinds=["support_document"], prefix="DSP", resolution="18760000001", from_=1, to=1000000
    ),
}
_numbers = itertools.count(101)
_invoice_numbers = itertools.count(990000101)
# The POS document sends the issuer's postal code (EqDocRequest postal_zone_code).
ISSUER = Issuer(
    country="CO",
    party_type="company",
    id_type="NIT",
    id_number="900373115",
    check_digit="3",
    name="ACME Colombia SAS",
    tax_responsibilities=["O-13"],
    address=Address(line="Carrera 7 # 71-21", city_code="11001", postal_code="110231", country="CO"),
)


def as_debit_note(raw: dict[str, Any]) -> None:
    raw["kind"] = "debit_note"
    raw["reason"] = {"code": "interest", "description": "Intereses por mora"}


def as_pos_note(raw: dict[str, Any]) -> None:
    raw["reference"].update(number="EPOS1", kind="pos_invoice")


def as_support_note(raw: dict[str, Any]) -> None:
    raw["reference"].update(number="DSP1", kind="support_document")
    raw["supplier"] = json.loads((EXAMPLES / "co-support-document.json").read_bytes())["supplier"]
    del raw["customer"]


# APIDIAN document -> (example, edit)
KIND_EXAMPLES = {
    "invoice": ("co-invoice", None),
    "credit_note": ("co-credit-note", None),
    "debit_note": ("co-credit-note", as_debit_note),
    "pos_invoice": ("co-pos-invoice", None),
    "pos_credit_note": ("co-credit-note", as_pos_note),
    "support_document": ("co-support-document", None),
    "support_adjustment_note": ("co-credit-note", as_support_note),
}


def numbered(emission: Emission, consecutive: int | None = None) -> Emission:
    """The emission with the gateway's number from the kind's range, as dispatch hands it over."""
    numbering = RANGES[emission.document.kind]
    consecutive = consecutive or next(_invoice_numbers if numbering.name == "setp" else _numbers)
    return msgspec.structs.replace(
        emission, number=f"{numbering.prefix}{consecutive}", consecutive=consecutive, numbering=numbering
    )


def apidian(base_url: str = BASE, token: str = TOKEN, timeout_s: float = 5.0, **extra: str) -> ApidianAdapter:
    credentials = {
        "token": token,
        "software_pin": SOFTWARE_PIN,
        "software_pin_eqdocs": EQDOCS_PIN,
        "software_pin_support_document": SUPPORT_PIN,
        **extra,
    }
    return ApidianAdapter(
        Account(
            name="apidian",
            provider="apidian",
            base_url=base_url,
            credentials=credentials,
            timeout_s=timeout_s,
        )
    )


@pytest.fixture
async def adapter():
    instance = apidian()
    yield instance
    await instance.aclose()


@pytest.fixture
def invoice(make_emission) -> Emission:
    return numbered(make_emission("co-invoice"), 990000001)


# -- payloads ---------------------------------------------------------------------------------------


def test_registered_with_capabilities():
    cls = adapter_class("apidian")
    assert cls is ApidianAdapter
    assert cls.countries == {"CO"} and cls.numbering == "ours"
    assert cls.kinds == {"invoice", "credit_note", "debit_note", "pos_invoice", "support_document"}


@pytest.mark.parametrize("kind", sorted(KIND_EXAMPLES))
def test_payload_validates_and_matches_golden(kind, adapter, golden, make_emission, wire_json):
    stem, edit = KIND_EXAMPLES[kind]
    emission = numbered(make_emission(stem, edit=edit, issuer=ISSUER), 990000001 if kind == "invoice" else 1)
    assert document_of(emission.document) == kind
    payload = wire_json(adapter.build_payload(emission))
    assert request_errors("apidian", DOCUMENTS[kind].schema, payload) == {}
    golden(f"apidian/{kind}", payload)


@pytest.mark.parametrize("name", [n for n in example_names("apidian") if n.startswith("request.")])
def test_documented_requests_satisfy_the_schema(name):
    assert request_errors("apidian", name.removeprefix("request."), example("apidian", name)) == {}


def test_takes_our_number_prefix_and_resolution(adapter, invoice):
    payload = adapter.build_payload(invoice)
    assert (payload["number"], payload["prefix"], payload["resolution_number"]) == (
        990000001,
        "SETP",
        "18760000001",
    )
    assert (payload["date"], payload["time"]) == ("2026-11-24", "10:30:00")


def test_codes_travel_as_apidian_catalog_ids(adapter, invoice):
    """NIT -> 6, IVA -> 1, unit 94 -> 70, DANE 11001 -> 149, credit -> 2, bank transfer (47) -> 47."""
    payload = adapter.build_payload(invoice)
    customer = payload["customer"]
    assert customer["type_document_identification_id"] == 6
    assert customer["municipality_id"] == 149
    assert customer["type_organization_id"] == 1 and customer["type_liability_id"] == 7  # company, O-13
    assert (customer["identification_number"], customer["dv"]) == ("900123456", "8")
    assert {line["unit_measure_id"] for line in payload["invoice_lines"]} == {70}
    assert {t["tax_id"] for line in payload["invoice_lines"] for t in line["tax_totals"]} == {1}
    assert payload["payment_form"] == {
        "payment_form_id": 2,
        "payment_method_id": 47,
        "payment_due_date": "2026-12-24",
        "duration_measure": "30",
    }


def test_payment_methods_map_by_dian_code_not_by_id(adapter, make_emission):
    """Quirk: APIDIAN's payment_methods ids stop matching DIAN codes at 54 (ZZZ is id 75)."""
    emission = numbered(
        make_emission("co-invoice", edit=lambda raw: raw.update(payment={"means": "electronic_money"}))
    )
    assert adapter.build_payload(emission)["payment_form"] == {"payment_form_id": 1, "payment_method_id": 75}


def test_totals_are_ours_to_the_cent(adapter, invoice):
    payload = adapter.build_payload(invoice)
    totals = invoice.totals
    sent = {k: Decimal(v) for k, v in payload["legal_monetary_totals"].items()}
    assert sent == {
        "line_extension_amount": Decimal("321000.00"),
        "tax_exclusive_amount": totals.tax_exclusive,
        "tax_inclusive_amount": totals.tax_inclusive,
        "allowance_total_amount": Decimal(0),
        "charge_total_amount": Decimal(0),
        "payable_amount": Decimal("358050.00"),
    }
    assert [(Decimal(t["percent"]), Decimal(t["tax_amount"])) for t in payload["tax_totals"]] == [
        (Decimal(19), Decimal("37050.00")),
        (Decimal(0), Decimal("0.00")),
    ]
    lines = payload["invoice_lines"]
    assert [Decimal(line["line_extension_amount"]) for line in lines] == [lt.net for lt in totals.lines]
    assert lines[1]["allowance_charges"] == [
        {
            "charge_indicator": False,
            "allowance_charge_reason": "Descuento",
            "amount": "5000.00",
            "base_amount": "50000.00",
        }
    ]


def test_documented_tip_invoice_is_reproduced(adapter, make_emission):
    """provider-docs/apidian.txt (request.invoice): one line at 300 000 IVA included, a 7 000 tip."""

    def documented(raw: dict[str, Any]) -> None:
        raw["prices_include_tax"] = True
        raw["lines"] = [
            {
                "code": "COMISION",
                "description": "COMISION POR SERVICIOS",
                "quantity": "1",
                "unit_price": "300000",
                "taxes": [{"tax": "IVA", "rate": "19"}],
            }
        ]
        raw["charges"] = [{"reason": "propina", "amount": "7000.00", "kind": "tip"}]
        raw["payment"] = {"form": "cash", "means": "cash"}

    payload = adapter.build_payload(numbered(make_emission("co-invoice", edit=documented)))
    doc = example("apidian", "request.invoice")
    # the documented type_discount_id 2 predates the 02/03 rows: today id 2 is "01 descuento
    # condicionado", so the tip goes as id 3, "02 recargo no condicionado" (catalogs/SOURCE.md)
    assert [{**a, "type_discount_id": 2} for a in payload["allowance_charges"]] == doc["allowance_charges"]
    assert payload["allowance_charges"][0]["type_discount_id"] == 3
    assert payload["legal_monetary_totals"] == doc["legal_monetary_totals"]
    assert [{k: Decimal(v) for k, v in t.items()} for t in payload["tax_totals"]] == [
        {k: Decimal(v) for k, v in t.items()} for t in doc["tax_totals"]
    ]
    line, doc_line = payload["invoice_lines"][0], doc["invoice_lines"][0]
    assert line["line_extension_amount"] == doc_line["line_extension_amount"]
    assert line["tax_totals"] == doc_line["tax_totals"]


def test_debit_note_uses_requested_monetary_totals(adapter, make_emission):
    payload = adapter.build_payload(numbered(make_emission("co-credit-note", edit=as_debit_note)))
    assert "requested_monetary_totals" in payload and "legal_monetary_totals" not in payload
    assert "debit_note_lines" in payload and payload["type_document_id"] == 5
    assert payload["type_operation_id"] == 6 and payload["discrepancyresponsecode"] == 1


def test_credit_note_references_the_invoice(adapter, make_emission):
    emission = numbered(make_emission("co-credit-note"))
    payload = adapter.build_payload(emission)
    ref = emission.document.reference
    assert payload["billing_reference"] == {
        "number": ref.number,
        "uuid": ref.fiscal_id,
        "issue_date": "2026-11-24",
    }
    assert payload["discrepancyresponsecode"] == 4  # price_adjustment
    assert payload["prefix"] == "NC" and "resolution_number" not in payload


def test_preview_has_no_number_and_emit_refuses_without_one(adapter, make_emission):
    emission = make_emission("co-invoice")
    assert "number" not in adapter.build_payload(emission)


async def test_emit_without_number_is_misconfigured(adapter, make_emission, api):
    route = api.post("/invoice")
    with pytest.raises(Misconfigured):
        await adapter.emit(make_emission("co-invoice"))
    assert not route.called


@pytest.mark.parametrize(
    ("edit", "path", "rule"),
    [
        (lambda raw: raw.update(currency="USD"), "currency", "apidian-currency"),
        (lambda raw: raw["lines"][0].update(unit="XYZ"), "lines[0].unit", "apidian-unit"),
        (
            lambda raw: raw.update(
                discounts=[{"reason": "a", "percent": "1"}, {"reason": "b", "percent": "2"}]
            ),
            "discounts",
            "apidian-percent-adjustments",
        ),
    ],
)
def test_what_apidian_cannot_express_is_refused(edit, path, rule, adapter, make_emission):
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(numbered(make_emission("co-invoice", edit=edit)))
    assert [(i.path, i.rule) for i in caught.value.issues] == [(path, rule)]


def test_document_adjustments_add_up_to_the_engine_totals(adapter, make_emission):
    def adjusted(raw: dict[str, Any]) -> None:
        raw["discounts"] = [
            {"reason": "pronto pago", "amount": "1000"},
            {"reason": "volumen", "percent": "1.5"},
        ]
        raw["charges"] = [{"reason": "flete", "amount": "2500"}]

    emission = numbered(make_emission("co-invoice", edit=adjusted))
    payload = adapter.build_payload(emission)
    items = payload["allowance_charges"]
    assert sum(Decimal(a["amount"]) for a in items if not a["charge_indicator"]) == emission.totals.allowances
    assert sum(Decimal(a["amount"]) for a in items if a["charge_indicator"]) == emission.totals.charges
    assert all("discount_id" in a for a in items if not a["charge_indicator"])
    assert Decimal(payload["legal_monetary_totals"]["payable_amount"]) == emission.totals.payable


def test_every_adjustment_carries_its_anexo_reason_code(adapter, make_emission):
    """Current servers require discount_id or type_discount_id on every item and write the
    type_discount's code as AllowanceChargeReasonCode: 00 for a discount, 02 for a charge or tip."""

    def adjusted(raw: dict[str, Any]) -> None:
        raw["discounts"] = [{"reason": "pronto pago", "amount": "1000"}]
        raw["charges"] = [
            {"reason": "flete", "amount": "2500"},
            {"reason": "propina", "amount": "10", "kind": "tip"},
        ]

    payload = adapter.build_payload(numbered(make_emission("co-invoice", edit=adjusted)))
    codes = codes_by_id("type_discounts")
    assert [(a["charge_indicator"], codes[a["type_discount_id"]]) for a in payload["allowance_charges"]] == [
        (False, "00"),
        (True, "02"),
        (True, "02"),
    ]
    assert codes_by_id("discounts")[payload["allowance_charges"][0]["discount_id"]] == "11"
    assert request_errors("apidian", "invoice", payload) == {}
    del payload["allowance_charges"][1]["type_discount_id"]
    assert request_errors("apidian", "invoice", payload)  # neither id: refused, as APIDIAN does


def test_catalogs_know_the_newer_rows():
    """PEP (47) and PPT (48) id types, taxes 19-23 (ICL 32 ... ADV 36): APIDIAN's migrations. The
    canonical model has no such id types or taxes yet, so nothing sends them (README.md)."""
    assert (ID_TYPE_IDS["47"], ID_TYPE_IDS["48"]) == (11, 12)
    assert [TAX_IDS[c] for c in ("32", "33", "34", "35", "36")] == [19, 20, 21, 22, 23]


def test_debit_note_needs_the_customers_email(adapter, make_emission):
    def without_email(raw: dict[str, Any]) -> None:
        as_debit_note(raw)
        raw["customer"].pop("email", None)

    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(numbered(make_emission("co-credit-note", edit=without_email)))
    assert [(i.path, i.rule) for i in caught.value.issues] == [("customer.email", "apidian-debit-note-email")]
    payload = adapter.build_payload(numbered(make_emission("co-credit-note", edit=as_debit_note)))
    assert payload["customer"]["email"]
    del payload["customer"]["email"]
    assert request_errors("apidian", "debit_note", payload)


def test_duration_measure_is_one_to_three_digits():
    """InvoiceRequest/DebitNoteRequest: duration_measure numeric|digits_between:1,3."""
    payment = {"payment_form_id": 2, "payment_method_id": 47, "payment_due_date": "2027-01-01"}
    body = example("apidian", "request.invoice")
    assert (
        request_errors("apidian", "invoice", {**body, "payment_form": {**payment, "duration_measure": "999"}})
        == {}
    )
    assert request_errors(
        "apidian", "invoice", {**body, "payment_form": {**payment, "duration_measure": "1000"}}
    )


def test_informational_drops_are_listed(adapter, invoice):
    assert adapter.warnings(invoice) == ["metadata: APIDIAN has no metadata field; not sent"]


def test_fiscal_id_is_dians_cufe(adapter, invoice):
    expected = dian.cufe(
        number="SETP990000001",
        issue_date="2026-11-24",
        issue_time="10:30:00-05:00",
        line_extension="321000.00",
        taxes={"01": "37050.00"},
        payable="358050.00",
        supplier_id="900373115",
        customer_id="900123456",
        key="fc8eac422eba16e22ffd8c6f94b3f40a6e38162c",
        environment="2",
    )
    assert adapter.fiscal_id(invoice) == expected


# -- documented answers -------------------------------------------------------------------------------


async def test_sends_bearer_token_and_accept_json(adapter, invoice, api, documented):
    route = api.post("/invoice").mock(return_value=documented("apidian", "invoice.200.accepted"))
    await adapter.emit(invoice)
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"  # else Laravel redirects on a 422
    assert json.loads(request.content)["number"] == 990000001


async def test_accepted(adapter, invoice, api, documented):
    api.post("/invoice").mock(return_value=documented("apidian", "invoice.200.accepted"))
    outcome = await adapter.emit(invoice)
    assert outcome.status == "accepted"
    assert outcome.fiscal_id == outcome.provider_reference == CUFE
    assert outcome.number == "SETP990000001"
    assert (outcome.authority.code, outcome.authority.errors) == ("00", [])
    assert outcome.links["qr"].endswith(CUFE)
    assert outcome.xml == base64.b64decode(example("apidian", "invoice.200.accepted")["body"]["invoicexml"])
    assert outcome.raw["invoicexml"].startswith("<base64")  # blobs kept out of the stored raw answer
    assert TOKEN not in json.dumps(outcome.raw)


async def test_nil_and_empty_elements_mean_no_value(adapter, invoice, api, documented):
    """Quirk: an empty element arrives as {} and xsi:nil as {"_attributes": {"nil": "true"}}."""
    for name in ("invoice.200.accepted", "invoice.200.accepted-empty"):
        api.post("/invoice").mock(return_value=documented("apidian", name))
        outcome = await adapter.emit(invoice)
        assert (outcome.status, outcome.authority.errors) == ("accepted", [])
        assert outcome.warnings == adapter.warnings(invoice)


async def test_single_notification_arrives_as_a_string(adapter, invoice, api, documented):
    """Quirk: a one-item list (ErrorMessage.string) arrives as a plain string, not a list."""
    api.post("/invoice").mock(return_value=documented("apidian", "invoice.200.accepted-notification"))
    outcome = await adapter.emit(invoice)
    assert outcome.status == "accepted"
    assert outcome.warnings[-1].startswith("Regla: FAJ44b, Notificación")


async def test_dian_rejection_inside_success_true(adapter, invoice, api, documented):
    """Quirk: HTTP 200 with success: true although DIAN answered IsValid false / StatusCode 99."""
    answer = documented("apidian", "invoice.200.rejected")
    assert json.loads(answer.content)["success"] is True
    api.post("/invoice").mock(return_value=answer)
    outcome = await adapter.emit(invoice)
    assert outcome.status == "rejected"
    assert outcome.authority.code == "99"
    assert [e.code for e in outcome.authority.errors] == ["FAD06", "FAU14"]


async def test_single_rejection_rule_arrives_as_a_string(adapter, invoice, api, documented):
    api.post("/invoice").mock(return_value=documented("apidian", "invoice.200.rejected-single"))
    outcome = await adapter.emit(invoice)
    assert outcome.status == "rejected"
    assert [e.code for e in outcome.authority.errors] == ["FAD09e"]


@pytest.mark.parametrize(
    ("name", "failure", "code"),
    [
        ("invoice.200.plan-limit", Unavailable, "plan-limit"),
        ("invoice.200.certificate", Misconfigured, "certificate"),
        ("invoice.200.company-inactive", Misconfigured, "company-inactive"),
        # checked before sending: nothing went to DIAN, so retry and fall back
        ("invoice.200.dian-unavailable", Unavailable, "dian-unavailable"),
        # after the SOAP call, with the document's cufe: DIAN may hold it, so reconcile, never fall back
        ("invoice.200.dian-unavailable-after-send", Ambiguous, "dian-unavailable-after-send"),
    ],
)
async def test_success_false_business_failures(name, failure, code, adapter, invoice, api, documented):
    """Quirk: business failures are HTTP 200 with success: false; the message decides the class."""
    api.post("/invoice").mock(return_value=documented("apidian", name))
    with pytest.raises(failure) as caught:
        await adapter.emit(invoice)
    assert type(caught.value) is failure and caught.value.code == code
    assert caught.value.message == example("apidian", name)["body"]["message"]


async def test_unavailable_after_the_soap_call_is_reconciled_by_its_cufe(adapter, invoice, api, documented):
    """Cosmox-SAS/co-apidian2026 InvoiceController: "El servicio DIAN no se encuentra disponible ...,
    reintente mas tarde..." comes from responseStore with the document's cufe, after sendBillSync."""
    api.post("/invoice").mock(return_value=documented("apidian", "invoice.200.dian-unavailable-after-send"))
    with pytest.raises(Ambiguous) as caught:
        await adapter.emit(invoice)
    assert caught.value.raw["cufe"] == CUFE
    status = api.post(f"/status/document/{CUFE}").mock(
        return_value=documented("apidian", "status-document.200.accepted")
    )
    assert (await adapter.status(ProviderRef(fiscal_id=caught.value.raw["cufe"]))).status == "accepted"
    assert status.called


@pytest.mark.parametrize("name", ["invoice.200.already-sent", "invoice.200.rule-90"])
async def test_a_resend_of_a_held_document_is_accepted_by_getstatus(name, adapter, invoice, api, documented):
    """ "Este documento ya fue enviado anteriormente" with its cufe (APIDIAN) or rule 90 "Documento
    procesado anteriormente" (DIAN): GetStatus by that CUFE says accepted, so it is, never rejected."""
    api.post("/invoice").mock(return_value=documented("apidian", name))
    status = api.post(f"/status/document/{CUFE}").mock(
        return_value=documented("apidian", "status-document.200.accepted")
    )
    outcome = await adapter.emit(invoice)
    assert status.called
    assert (outcome.status, outcome.fiscal_id, outcome.number) == ("accepted", CUFE, "SETP990000001")
    assert any("sent before" in w for w in outcome.warnings)


async def test_a_held_document_dian_does_not_know_stays_ambiguous(adapter, invoice, api, documented):
    api.post("/invoice").mock(return_value=documented("apidian", "invoice.200.rule-90"))
    api.post(f"/status/document/{CUFE}").mock(
        return_value=documented("apidian", "status-document.200.not-found")
    )
    with pytest.raises(Ambiguous) as caught:
        await adapter.emit(invoice)
    assert caught.value.code == "held-not-found"


async def test_laravel_422_maps_to_canonical_paths(adapter, invoice, api, documented):
    api.post("/invoice").mock(return_value=documented("apidian", "invoice.422"))
    with pytest.raises(Rejected) as caught:
        await adapter.emit(invoice)
    assert caught.value.message == "The given data was invalid."
    assert [(e.code, e.path) for e in caught.value.errors] == [
        ("customer.name", "customer.name"),
        ("invoice_lines.1.unit_measure_id", "lines[1].unit"),
        ("legal_monetary_totals.payable_amount", None),
    ]


@pytest.mark.parametrize(
    ("name", "failure"),
    [
        ("invoice.401", Misconfigured),
        ("invoice.500", Ambiguous),
        ("invoice.503", Unavailable),
        ("invoice.429", Unavailable),
    ],
)
async def test_http_errors(name, failure, adapter, invoice, api, documented):
    api.post("/invoice").mock(return_value=documented("apidian", name))
    with pytest.raises(failure) as caught:
        await adapter.emit(invoice)
    assert type(caught.value) is failure
    assert caught.value.message == example("apidian", name)["body"]["message"]
    if name == "invoice.429":
        assert caught.value.retry_after == 60


async def test_timeout_after_sending_is_ambiguous(adapter, invoice, api):
    api.post("/invoice").mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Ambiguous):
        await adapter.emit(invoice)


async def test_test_set_is_asynchronous_with_a_zip_key(invoice, api, documented):
    instance = apidian(test_set_id="f9d3b5c1-0000-4000-8000-000000000001")
    route = api.post("/invoice/f9d3b5c1-0000-4000-8000-000000000001").mock(
        return_value=documented("apidian", "invoice-test-set.200")
    )
    outcome = await instance.emit(invoice)
    assert route.called
    assert outcome.status == "pending"
    assert outcome.provider_reference == "a3ac24f4-6d73-4d3e-9c4c-2d2a1e7f9b1e" and outcome.fiscal_id == CUFE

    api.post(f"/status/zip/{outcome.provider_reference}").mock(
        return_value=documented("apidian", "status-zip.200.accepted")
    )
    assert (await instance.status(outcome.ref)).status == "accepted"

    api.post("/invoice/f9d3b5c1-0000-4000-8000-000000000001").mock(
        return_value=documented("apidian", "invoice-test-set.200.refused")
    )
    with pytest.raises(Rejected, match="set de pruebas"):
        await instance.emit(invoice)
    await instance.aclose()


ZIP = "a3ac24f4-6d73-4d3e-9c4c-2d2a1e7f9b1e"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("status-zip.200.accepted", "accepted"),
        ("status-zip.200.processing", "pending"),
        ("status-zip.200.not-found", "not_found"),
    ],
)
async def test_status_by_zip_key(name, status, adapter, api, documented):
    api.post(f"/status/zip/{ZIP}").mock(return_value=documented("apidian", name))
    outcome = await adapter.status(ProviderRef(provider_reference=ZIP, fiscal_id=CUFE))
    assert outcome.status == status


async def test_status_zip_with_several_documents_picks_ours(adapter, api, documented):
    """Quirk: DianResponse is a list when the ZIP held several documents, an object otherwise."""
    api.post(f"/status/zip/{ZIP}").mock(return_value=documented("apidian", "status-zip.200.several"))
    other = example("apidian", "status-zip.200.several")["body"]["ResponseDian"]["Envelope"]["Body"][
        "GetStatusZipResponse"
    ]["GetStatusZipResult"]["DianResponse"][1]["XmlDocumentKey"]
    assert (await adapter.status(ProviderRef(provider_reference=ZIP, fiscal_id=CUFE))).status == "accepted"
    assert (await adapter.status(ProviderRef(provider_reference=ZIP, fiscal_id=other))).status == "rejected"


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("status-document.200.accepted", "accepted"),
        ("status-document.200.rejected", "rejected"),
        ("status-document.200.not-found", "not_found"),
    ],
)
async def test_status_by_cufe(name, status, adapter, api, documented):
    route = api.post(f"/status/document/{CUFE}").mock(return_value=documented("apidian", name))
    outcome = await adapter.status(ProviderRef(fiscal_id=CUFE))
    assert route.called and outcome.status == status and outcome.fiscal_id == CUFE


async def test_find_asks_dian_by_the_computed_cufe(adapter, invoice, api, documented):
    cufe = adapter.fiscal_id(invoice)
    route = api.post(f"/status/document/{cufe}").mock(
        return_value=documented("apidian", "status-document.200.not-found")
    )
    assert await adapter.find(invoice) is None
    route.mock(return_value=documented("apidian", "status-document.200.accepted"))
    found = await adapter.find(invoice)
    assert found is not None and (found.fiscal_id, found.number) == (cufe, "SETP990000001")


async def test_fetch_xml_by_cufe(adapter, api, documented):
    api.post(f"/xml/document/{CUFE}").mock(return_value=documented("apidian", "xml-document.200"))
    xml = await adapter.fetch_xml(ProviderRef(fiscal_id=CUFE))
    assert xml is not None and CUFE.encode() in xml
    api.post(f"/xml/document/{CUFE}").mock(return_value=documented("apidian", "xml-document.200.not-found"))
    assert await adapter.fetch_xml(ProviderRef(fiscal_id=CUFE)) is None


# -- against the simulator over loopback --------------------------------------------------------------


@pytest.fixture
async def live(simulator):
    simulator.states["apidian"].set_fault("ok")
    instance = apidian(base_url=simulator.url("apidian") + "/api/ubl2.1", timeout_s=0.5)
    yield instance
    await instance.aclose()


@pytest.mark.parametrize("kind", sorted(KIND_EXAMPLES))
async def test_simulator_emit_status_and_find(kind, live, simulator, make_emission):
    stem, edit = KIND_EXAMPLES[kind]
    emission = numbered(make_emission(stem, edit=edit, issuer=ISSUER, fixed_date=False))
    outcome = await live.emit(emission)
    assert outcome.status == "accepted", outcome.authority
    assert outcome.fiscal_id == live.fiscal_id(emission)  # the simulator computes DIAN's CUFE/CUDE too
    entry = simulator.states["apidian"].issued(outcome.fiscal_id)
    assert entry is not None and entry.number == emission.number
    assert (await live.status(outcome.ref)).status == "accepted"
    found = await live.find(emission)
    assert found is not None and found.fiscal_id == outcome.fiscal_id
    assert outcome.fiscal_id.encode() in await live.fetch_xml(outcome.ref)


async def test_simulator_checks_our_totals_to_the_cent(live, simulator, make_emission):
    emission = numbered(make_emission("co-invoice", fixed_date=False))
    payload = json.loads(json.dumps(live.build_payload(emission)))
    payload["legal_monetary_totals"]["payable_amount"] = "358050.02"
    payload["invoice_lines"][0]["tax_totals"][0]["tax_amount"] = "28500.01"
    answer = await live.http.send("POST", "/invoice", json=payload)
    assert answer.status_code == 200 and answer.json()["success"] is True
    outcome = parse_response(answer.json(), kind="invoice")
    assert outcome.status == "rejected"
    assert {e.code for e in outcome.authority.errors} == {"FAX05", "FAS07", "FAU06", "FAU14"}
    assert simulator.states["apidian"].issued(outcome.fiscal_id) is None


async def test_simulator_laravel_422(live, make_emission):
    """The simulator validates the schema and APIDIAN's catalog ids; the adapter maps the paths."""
    emission = numbered(make_emission("co-invoice", fixed_date=False))
    body = json.loads(json.dumps(live.build_payload(emission)))
    body["customer"].pop("name")
    body["invoice_lines"][1]["unit_measure_id"] = 999999
    answer = await live.http.send("POST", "/invoice", json=body)
    assert answer.status_code == 422
    failure = classify_error(answer, emits=True)
    assert isinstance(failure, Rejected)
    assert {(e.code, e.path) for e in failure.errors} == {("customer.name", "customer.name")}
    del body["customer"]
    body["customer"] = json.loads(json.dumps(live.build_payload(emission)))["customer"]
    answer = await live.http.send("POST", "/invoice", json=body)
    assert {(e.code, e.path) for e in classify_error(answer, emits=True).errors} == {
        ("invoice_lines.1.unit_measure_id", "lines[1].unit")
    }


async def test_simulator_validates_as_current_servers_do(live, make_emission):
    """Cosmox-SAS/co-apidian2026: an allowance or charge needs discount_id or type_discount_id; a
    debit note needs the customer's e-mail."""

    def charged(raw: dict[str, Any]) -> None:
        raw["charges"] = [{"reason": "flete", "amount": "2500"}]

    body = json.loads(
        json.dumps(live.build_payload(numbered(make_emission("co-invoice", edit=charged, fixed_date=False))))
    )
    del body["allowance_charges"][0]["type_discount_id"]
    answer = await live.http.send("POST", "/invoice", json=body)
    assert answer.status_code == 422 and "allowance_charges.0" in answer.json()["errors"]
    note = numbered(make_emission("co-credit-note", edit=as_debit_note, fixed_date=False))
    body = json.loads(json.dumps(live.build_payload(note)))
    del body["customer"]["email"]
    answer = await live.http.send("POST", "/debit-note", json=body)
    assert answer.status_code == 422 and "customer.email" in answer.json()["errors"]


async def test_simulator_redirects_a_failed_validation_without_accept_json(live, make_emission):
    """Laravel answers a failed FormRequest with a redirect unless asked for JSON: why the adapter
    always sends Accept: application/json."""
    body = json.loads(json.dumps(live.build_payload(numbered(make_emission("co-invoice", fixed_date=False)))))
    body["customer"].pop("name")
    async with httpx.AsyncClient(base_url=live.http.client.base_url) as client:
        answer = await client.post("/invoice", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 302
    assert (await live.http.send("POST", "/invoice", json=body)).status_code == 422


async def test_simulator_number_sent_twice_is_reconciled(live, make_emission):
    emission = numbered(make_emission("co-invoice", fixed_date=False))
    first = await live.emit(emission)
    again = await live.emit(emission)  # "ya fue enviado" + cufe, confirmed by GetStatus
    assert (again.status, again.fiscal_id) == ("accepted", first.fiscal_id)
    found = await live.find(emission)
    assert found is not None and found.fiscal_id == first.fiscal_id


async def test_simulator_requires_the_token(live, make_emission):
    body = live.build_payload(numbered(make_emission("co-invoice", fixed_date=False)))
    async with httpx.AsyncClient(base_url=live.http.client.base_url) as client:
        answer = await client.post("/invoice", json=body, headers={"Accept": "application/json"})
    assert answer.status_code == 401 and answer.json() == {"message": "Unauthenticated."}
    assert isinstance(classify_error(answer, emits=True), Misconfigured)


@pytest.mark.parametrize(("mode", "failure"), [("down", Unavailable), ("quota", Unavailable)])
async def test_simulator_faults_before_taking_the_document(mode, failure, live, simulator, make_emission):
    simulator.states["apidian"].set_fault(mode, 1)
    emission = numbered(make_emission("co-invoice", fixed_date=False))
    with pytest.raises(failure) as caught:
        await live.emit(emission)
    if mode == "quota":
        assert caught.value.retry_after == 2
    assert await live.find(emission) is None  # nothing was issued
    assert (await live.emit(emission)).status == "accepted"  # the fault was for one emission


async def test_simulator_reject_fault_is_a_dian_rejection(live, simulator, make_emission):
    simulator.states["apidian"].set_fault("reject", 1)
    outcome = await live.emit(numbered(make_emission("co-invoice", fixed_date=False)))
    assert outcome.status == "rejected" and outcome.authority.code == "99"


async def test_simulator_hang_is_ambiguous_then_found_by_cufe(live, simulator, make_emission):
    simulator.states["apidian"].set_fault("hang", 1)
    emission = numbered(make_emission("co-invoice", fixed_date=False))
    with pytest.raises(Ambiguous):
        await live.emit(emission)
    found = await live.find(emission)  # issued before the answer hung: reconciliation finds it
    assert found is not None and found.fiscal_id == live.fiscal_id(emission)


async def test_simulator_test_set_then_status_by_zip_key(simulator, make_emission):
    instance = apidian(base_url=simulator.url("apidian") + "/api/ubl2.1", test_set_id="set-1")
    emission = numbered(make_emission("co-invoice", fixed_date=False))
    outcome = await instance.emit(emission)
    assert outcome.status == "pending" and outcome.provider_reference
    polled = await instance.status(outcome.ref)
    assert polled.status == "accepted" and polled.fiscal_id == instance.fiscal_id(emission)
    await instance.aclose()


# -- POS and support documents ------------------------------------------------------------------------


def test_support_document_names_the_seller_and_its_residency(adapter, make_emission):
    def foreign(raw):
        raw["supplier"].update(id_type="FOREIGN_ID")
        raw["supplier"]["address"] = {"line": "5th Avenue 100", "postal_code": "10001", "country": "US"}

    emission = numbered(make_emission("co-support-document", issuer=ISSUER))
    payload = adapter.build_payload(emission)
    assert "customer" not in payload and payload["seller"]["identification_number"] == "1020304050"
    assert payload["seller"]["postal_zone_code"] == "050021" and payload["type_operation_id"] == 23
    payload = adapter.build_payload(
        numbered(make_emission("co-support-document", edit=foreign, issuer=ISSUER))
    )
    assert payload["type_operation_id"] == 24  # No Residente (DIAN CustomizationID 11)


def test_support_document_cuds_is_dians_formula(adapter, make_emission):
    emission = numbered(make_emission("co-support-document", issuer=ISSUER), 7)
    expected = dian.cuds(
        number="DSP7",
        issue_date="2026-11-24",
        issue_time="10:30:00-05:00",
        line_extension="990000.00",
        iva="0",
        payable="990000.00",
        seller_id="1020304050",
        buyer_id="900373115",
        software_pin=SUPPORT_PIN,
        environment="2",
    )
    assert adapter.fiscal_id(emission) == expected


@pytest.mark.parametrize(
    ("stem", "edit", "path", "rule"),
    [
        (
            "co-support-document",
            lambda raw: raw["supplier"].pop("phone"),
            "supplier.phone",
            "apidian-seller-required",
        ),
        (
            "co-pos-invoice",
            lambda raw: raw.pop("point_of_sale"),
            "point_of_sale",
            "apidian-pos-point-of-sale",
        ),
        ("co-credit-note", lambda raw: (as_pos_note(raw), as_debit_note(raw)), "kind", "apidian-kind"),
    ],
)
def test_what_apidian_cannot_send_for_the_new_kinds(stem, edit, path, rule, adapter, make_emission):
    with pytest.raises(Unsupported) as info:
        adapter.build_payload(numbered(make_emission(stem, edit=edit, issuer=ISSUER)))
    assert (path, rule) in [(i.path, i.rule) for i in info.value.issues]


def test_pos_document_needs_the_issuers_postal_code(adapter, make_emission):
    with pytest.raises(Misconfigured) as info:
        adapter.build_payload(numbered(make_emission("co-pos-invoice")))  # issuer without an address
    assert info.value.code == "issuer-postal-code"


@pytest.mark.parametrize(
    ("name", "kind", "key"),
    [
        ("eqdoc.200.accepted", "pos_invoice", "cufe"),
        ("support-document.200.accepted", "support_document", "cuds"),
        ("sd-credit-note.200.accepted", "support_adjustment_note", "cuds"),
    ],
)
def test_new_endpoints_answer_their_hash_under_their_key(name, kind, key):
    body = example("apidian", name)["body"]
    outcome = parse_response(body, kind=kind)
    assert outcome.status == "accepted" and outcome.fiscal_id == body[key]
