"""SmartBill adapter against its contract (contracts/smartbill/): payloads validate against the request
schema and match the golden files; every documented answer maps to the right Outcome or failure
class; and, over loopback HTTP, the simulator issues a DTE whose amounts are ours."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tomllib
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.base import (
    Account,
    Ambiguous,
    Emission,
    Issuer,
    Misconfigured,
    NotSearchable,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    Unsupported,
    adapter_class,
)
from adapters.smartbill import ENDPOINTS, SmartBillAdapter
from canonical import clock
from canonical.sv_dte import build_dte
from canonical.totals import compute_totals
from contracts import example, example_names, request_errors
from simulators.control import LedgerEntry

PROVIDER = "smartbill"
BASE = "http://127.0.0.1:9/v1"  # never reached: respx answers
PUBLIC, PRIVATE = "pk_contract_public", "sk_contract_private_secret"
SCHEMAS = {"invoice": "factura", "credit_note": "credit-note"}
CCF_CODE = "7C1F0B52-3D1E-4B8A-9F3C-2A6D5E8B1C40"

_tenants = tomllib.loads((Path(__file__).resolve().parents[2] / "examples" / "tenants.toml").read_text())
_tienda = next(t for t in _tenants["tenants"] if t["id"] == "tienda-sv")
SV_ISSUER = msgspec.convert(_tienda["issuer"], Issuer)
TRANSMITTER_CODE = _tienda["accounts"][0]["transmitter_code"]


def as_credit_note(raw: dict[str, Any]) -> None:
    """The SV example as a credit note on a CCF: tax-exclusive prices, as on the CCF it corrects."""
    raw.update(
        kind="credit_note",
        prices_include_tax=False,
        reference={
            "number": "DTE-03-M001P001-000000000000007",
            "fiscal_id": CCF_CODE,
            "issue_date": "2026-11-20",
            "kind": "tax_credit_invoice",
        },
        reason={"code": "partial_return", "description": "Devolución parcial: producto dañado"},
    )


def large_taxpayer_with_tip(raw: dict[str, Any]) -> None:
    """A gran contribuyente buying over USD 100 (1 % IVA retained) and leaving a tip."""
    raw["customer"]["large_taxpayer"] = True
    raw["withholdings"] = [{"tax": "IVA", "rate": "1"}]
    raw["lines"][0]["quantity"] = "20"
    raw["lines"][0]["discount"] = {"amount": "0.35"}
    raw["charges"] = [{"reason": "Propina", "amount": "3.50", "kind": "tip"}]


KIND_EXAMPLES = {"invoice": ("sv-invoice", None), "credit_note": ("sv-invoice", as_credit_note)}


def smartbill(
    base_url: str = BASE, public: str = PUBLIC, private: str = PRIVATE, timeout_s: float = 5.0
) -> SmartBillAdapter:
    return SmartBillAdapter(
        Account(
            name="smartbill",
            provider="smartbill",
            base_url=base_url,
            credentials={"public_key": public, "private_key": private},
            transmitter_code=TRANSMITTER_CODE,
            timeout_s=timeout_s,
        )
    )


@pytest.fixture
async def adapter():
    instance = smartbill()
    yield instance
    await instance.aclose()


@pytest.fixture(autouse=True)
def fixed_calendar():
    """SmartBill dates the DTE the day it receives it: the examples' date (FIXED_DATE, 2026-11-24)
    is "today" in El Salvador, so a dated document is one SmartBill can carry."""
    with clock.set_to(dt.datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("America/El_Salvador"))):
        yield


@pytest.fixture
def sv_emission(make_emission):
    def build(edit=None, **kwargs) -> Emission:
        return make_emission("sv-invoice", edit=edit, issuer=SV_ISSUER, **kwargs)

    return build


# -- capabilities and payloads ----------------------------------------------------------------------


def test_registered_with_capabilities():
    cls = adapter_class("smartbill")
    assert cls is SmartBillAdapter
    assert cls.countries == frozenset({"SV"})
    assert cls.kinds == frozenset({"invoice", "credit_note"})
    assert cls.numbering == "provider"


@pytest.mark.parametrize("kind", sorted(KIND_EXAMPLES))
def test_payload_validates_and_matches_golden(kind, adapter, golden, sv_emission, wire_json):
    _, edit = KIND_EXAMPLES[kind]
    payload = wire_json(adapter.build_payload(sv_emission(edit)))
    assert request_errors("smartbill", SCHEMAS[kind], payload) == {}
    golden(f"smartbill/{kind}", payload)


@pytest.mark.parametrize("name", [n for n in example_names("smartbill") if n.startswith("request.")])
def test_documented_requests_satisfy_the_schema(name):
    schema = name.removeprefix("request.").split(".")[0]
    assert request_errors("smartbill", schema, example("smartbill", name)) == {}


def test_schema_refuses_what_smartbill_does_not_document(wire_json):
    body = {
        "dteJson": {
            "receptor": "Others",
            "products": [
                {
                    "description": "x",
                    "sellType": "gravada",
                    "itemType": "bien",
                    "unitPrice": Decimal("1.005"),
                    "quantity": 1,
                    "iva": 13,
                }
            ],
        }
    }
    assert "dteJson.products.0" in request_errors("smartbill", "factura", body)


def test_invoice_sends_iva_inclusive_prices_and_the_transmitter(adapter, sv_emission, wire_json):
    dte = wire_json(adapter.build_payload(sv_emission()))["dteJson"]
    assert [p["unitPrice"] for p in dte["products"]] == [Decimal("6.50"), Decimal("2.00"), Decimal("12.00")]
    assert [p["sellType"] for p in dte["products"]] == ["gravada", "gravada", "exenta"]
    assert [p["itemType"] for p in dte["products"]] == ["bien", "servicio", "bien"]
    assert dte["receptor"]["documentType"] == "dui" and dte["receptor"]["identification"] == "04567890-3"
    assert dte["transmitterCode"] == 1  # "001": documented as a number
    assert dte["payment"] == {"type": "contado"}


def test_exempt_lines_may_be_priced_without_iva(adapter, sv_emission, wire_json):
    def exempt_only(raw):
        raw["prices_include_tax"] = False
        raw["lines"] = raw["lines"][2:]

    dte = wire_json(adapter.build_payload(sv_emission(exempt_only)))["dteJson"]
    assert [(p["sellType"], p["unitPrice"]) for p in dte["products"]] == [("exenta", Decimal("12.00"))]


def test_tip_retention_and_line_discount(adapter, sv_emission, wire_json):
    emission = sv_emission(large_taxpayer_with_tip)
    dte = wire_json(adapter.build_payload(emission))["dteJson"]
    assert dte["propina"] == Decimal("3.50")
    assert dte["receptor"]["taxPayerType"] == "grande"
    assert dte["products"][0]["descuAmount"] == Decimal("0.35")


def test_renta_retention_is_smartbills_fixed_ten_percent(adapter, sv_emission, wire_json):
    dte = wire_json(adapter.build_payload(sv_emission(renta_retained)))["dteJson"]
    assert dte["receptor"]["retainsRenta"] is True
    assert {p["hasRenta"] for p in dte["products"]} == {True}


def test_credit_terms_in_days(adapter, sv_emission, wire_json):
    def on_credit(raw):
        raw["payment"] = {"form": "credit", "means": "bank_transfer", "due_date": "2026-12-24"}

    dte = wire_json(adapter.build_payload(sv_emission(on_credit)))["dteJson"]
    assert dte["payment"] == {"type": "credito", "timeFormat": "day", "duration": 30}


def test_anonymous_consumer_is_others(adapter, sv_emission):
    payload = adapter.build_payload(sv_emission(lambda raw: raw.pop("customer")))
    assert payload["dteJson"]["receptor"] == "Others"


def test_credit_note_is_one_amount_on_the_ccf(adapter, sv_emission):
    emission = sv_emission(as_credit_note)
    assert adapter.build_payload(emission) == {
        "dteJson": {
            "documentRelated": CCF_CODE,
            "description": "Devolución parcial: producto dañado",
            "amount": emission.totals.tax_inclusive,
        }
    }
    assert any(w.startswith("lines:") for w in adapter.warnings(emission))


def test_warnings_list_every_informational_drop(adapter, sv_emission):
    def extras(raw):
        raw["notes"] = ["Gracias por su compra"]
        raw["payment"]["means"] = "credit_card"
        raw["customer"]["economic_activity"] = "62010"
        raw["lines"][0]["code"] = "CAF-500"

    warnings = adapter.warnings(sv_emission(extras, fixed_date=False))
    assert [w.split(":")[0] for w in warnings] == [
        "notes",
        "payment.means",
        "customer.economic_activity",
        "lines[0].code",
    ]


def test_a_past_issue_date_is_refused(adapter, sv_emission):
    """fecEmi is fiscal: SmartBill would date the DTE today, so a past date is refused (main sent it
    with a warning)."""
    today = clock.today(ZoneInfo("America/El_Salvador"))
    past = (today - dt.timedelta(days=3)).isoformat()
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(sv_emission(lambda raw: raw.update(issue_date=past), fixed_date=False))
    assert [(i.path, i.rule, i.message) for i in caught.value.issues] == [
        (
            "issue_date",
            "smartbill-issue-date",
            f"SmartBill dates the DTE when it receives it ({today}), not {past}",
        )
    ]


def _set(path: str, value: Any):
    def edit(raw):
        target = raw
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "rule"),
    [
        (_set("discounts", [{"reason": "Promo", "amount": "1.00"}]), "smartbill-document-discount"),
        (_set("charges", [{"reason": "Flete", "amount": "1.00"}]), "smartbill-document-charge"),
        (_set("withholdings", [{"tax": "IVA", "rate": "2"}]), "smartbill-retention-rate"),
        (_set("customer.large_taxpayer", True), None),  # taxed net 15.04 < USD 100: nothing to retain
        (large_taxpayer_with_tip, None),
        (lambda raw: (large_taxpayer_with_tip(raw), raw.pop("withholdings")), "smartbill-iva-retention"),
        (_set("withholdings", [{"tax": "IVA", "rate": "1"}]), "smartbill-iva-retention"),  # below USD 100
        (lambda raw: raw["customer"].update(id_type="NRC", id_number="1234567"), "smartbill-receptor-id"),
        # party ids and address codes are fiscal; main dropped both with a warning
        (
            lambda raw: raw["customer"].update(id_type="NIT", id_number="045678903", nrc="1234567"),
            "smartbill-receptor-nrc",
        ),
        (
            _set("customer.address", {"department_code": "06", "city_code": "14", "country": "SV"}),
            "smartbill-receptor-address",
        ),
        (
            lambda raw: (as_credit_note(raw), raw["reference"].update(kind="invoice")),
            "smartbill-credit-note-ccf",
        ),
        (_set("prices_include_tax", False), "smartbill-prices-include-iva"),
        (  # exenta 0.0178 + gravada 0.2871: the engine rounds per column like MH, 0.02 + 0.29 = 0.31
            _set(
                "lines",
                [
                    {
                        "description": "a",
                        "quantity": "1",
                        "unit_price": "0.02",
                        "tax_treatment": "exempt",
                        "discount": {"percent": "11"},
                    },
                    {
                        "description": "b",
                        "quantity": "1",
                        "unit_price": "0.29",
                        "discount": {"percent": "1"},
                        "taxes": [{"tax": "IVA", "rate": "13"}],
                    },
                ],
            ),
            None,
        ),
    ],
)
def test_what_smartbill_cannot_express_is_refused(edit, rule, adapter, sv_emission):
    emission = sv_emission(edit)
    if rule is None:
        adapter.build_payload(emission)
        return
    with pytest.raises(Unsupported) as info:
        adapter.build_payload(emission)
    assert rule in [i.rule for i in info.value.issues]


def test_unsupported_kind(adapter, sv_emission):
    with pytest.raises(Unsupported) as info:
        adapter.build_payload(
            sv_emission(
                lambda raw: (as_credit_note(raw), raw.update(kind="debit_note", reason={"code": "interest"}))
            )
        )
    assert "smartbill-kind" in [i.rule for i in info.value.issues]


# -- documented answers (respx) ---------------------------------------------------------------------


async def test_emit_accepted(adapter, api, sv_emission, documented):
    route = api.post(ENDPOINTS["invoice"]).mock(return_value=documented("smartbill", "factura.200"))
    outcome = await adapter.emit(sv_emission())
    sent = route.calls.last.request
    assert sent.headers["x-smartbill-public-key"] == PUBLIC
    assert sent.headers["x-smartbill-private-key"] == PRIVATE
    assert sent.headers["content-type"] == "application/json"
    body = example("smartbill", "factura.200")["body"]
    assert outcome.status == "accepted"
    assert outcome.fiscal_id == outcome.provider_reference == body["codigoGeneracion"]
    assert outcome.number == body["numeroControl"]
    assert outcome.authority.seal == body["selloRecibido"] and outcome.authority.code == "PROCESADO"
    assert outcome.links == body["urls"]
    assert PRIVATE not in json.dumps(outcome.raw, default=str)


async def test_observaciones_are_warnings_on_acceptance(adapter, api, sv_emission, documented, on_fixed_date):
    api.post(ENDPOINTS["invoice"]).mock(return_value=documented("smartbill", "factura.200.observaciones"))
    outcome = await adapter.emit(sv_emission())
    assert outcome.status == "accepted"
    assert outcome.warnings == ["Hacienda observación: [resumen.totalIva] CALCULO INCORRECTO"]


async def test_contingency_is_pending_with_its_codigo(adapter, api, sv_emission, documented):
    api.post(ENDPOINTS["invoice"]).mock(return_value=documented("smartbill", "factura.200.contingencia"))
    outcome = await adapter.emit(sv_emission())
    assert outcome.status == "pending"
    assert outcome.fiscal_id == example("smartbill", "factura.200.contingencia")["body"]["codigoGeneracion"]
    assert outcome.authority.seal is None


@pytest.mark.parametrize(
    ("name", "failure", "code"),
    [
        ("factura.400.rechazado", Rejected, "RECHAZADO"),
        ("factura.400.validacion", Rejected, "ERROR"),
        ("factura.401", Misconfigured, "ERROR"),
        ("factura.429", Unavailable, "ERROR"),
        ("factura.500", Ambiguous, "ERROR"),
        ("factura.503", Unavailable, "ERROR"),
    ],
)
async def test_emit_errors_are_classified(name, failure, code, adapter, api, sv_emission, documented):
    api.post(ENDPOINTS["invoice"]).mock(return_value=documented("smartbill", name))
    with pytest.raises(failure) as info:
        await adapter.emit(sv_emission())
    body = example("smartbill", name)["body"]
    assert type(info.value) is failure
    assert info.value.message == body["descripcionMsg"]
    assert info.value.code == code
    assert [e.message for e in info.value.errors] == body["observaciones"]


async def test_hacienda_rejection_maps_back_to_canonical_paths(adapter, api, sv_emission, documented):
    api.post(ENDPOINTS["invoice"]).mock(return_value=documented("smartbill", "factura.400.rechazado"))
    with pytest.raises(Rejected) as info:
        await adapter.emit(sv_emission())
    assert [(e.code, e.path) for e in info.value.errors] == [("receptor", "customer")]


async def test_quota_honours_retry_after(adapter, api, sv_emission, documented):
    api.post(ENDPOINTS["invoice"]).mock(return_value=documented("smartbill", "factura.429"))
    with pytest.raises(Unavailable) as info:
        await adapter.emit(sv_emission())
    assert info.value.retry_after == 30


async def test_timeout_after_sending_is_ambiguous(adapter, api, sv_emission):
    api.post(ENDPOINTS["invoice"]).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(Ambiguous):
        await adapter.emit(sv_emission())


async def test_connection_refused_is_unavailable(adapter, api, sv_emission):
    api.post(ENDPOINTS["invoice"]).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Unavailable):
        await adapter.emit(sv_emission())


async def test_answer_without_codigo_is_ambiguous(adapter, api, sv_emission):
    api.post(ENDPOINTS["invoice"]).mock(return_value=httpx.Response(200, json={"estado": "PROCESADO"}))
    with pytest.raises(Ambiguous):
        await adapter.emit(sv_emission())


async def test_secrets_are_redacted_from_raw(adapter, api, sv_emission):
    echo = {
        **example("smartbill", "factura.400.validacion")["body"],
        "observaciones": [f"key {PRIVATE} revoked"],
    }
    api.post(ENDPOINTS["invoice"]).mock(return_value=httpx.Response(400, json=echo))
    with pytest.raises(Rejected) as info:
        await adapter.emit(sv_emission())
    assert PRIVATE not in json.dumps(info.value.raw)


async def test_credit_note_documented_answers(adapter, api, sv_emission, documented):
    route = api.post(ENDPOINTS["credit_note"]).mock(return_value=documented("smartbill", "credit-note.200"))
    outcome = await adapter.emit(sv_emission(as_credit_note))
    assert json.loads(route.calls.last.request.content)["dteJson"]["documentRelated"] == CCF_CODE
    assert outcome.status == "accepted" and outcome.number.startswith("DTE-05-")
    api.post(ENDPOINTS["credit_note"]).mock(return_value=documented("smartbill", "credit-note.400"))
    with pytest.raises(Rejected) as info:
        await adapter.emit(sv_emission(as_credit_note))
    assert "Crédito Fiscal" in info.value.message


async def test_status_reads_get_json(adapter, api, documented):
    body = example("smartbill", "get-json.200")["body"]
    route = api.post("/dte/get-json").mock(return_value=documented("smartbill", "get-json.200"))
    outcome = await adapter.status(ProviderRef(fiscal_id=body["codigoGeneracion"]))
    assert json.loads(route.calls.last.request.content) == {"body": {"document": body["codigoGeneracion"]}}
    assert outcome.status == "accepted" and outcome.authority.seal == body["selloRecibido"]
    assert "json" not in outcome.raw


async def test_status_of_unknown_document_is_not_found(adapter, api, documented):
    api.post("/dte/get-json").mock(return_value=documented("smartbill", "get-json.404"))
    outcome = await adapter.status(ProviderRef(fiscal_id=CCF_CODE))
    assert outcome.status == "not_found"


async def test_status_without_codigo_cannot_ask(adapter):
    with pytest.raises(NotSearchable):
        await adapter.status(ProviderRef(number="DTE-01-M001P001-000000000000001"))


async def test_fetch_xml_is_the_stored_dte(adapter, api, documented):
    api.post("/dte/get-json").mock(return_value=documented("smartbill", "get-json.200"))
    dte = json.loads(await adapter.fetch_xml(ProviderRef(fiscal_id=CCF_CODE)), parse_float=Decimal)
    assert dte == example("smartbill", "get-json.200")["body"]["json"]


async def test_find_cannot_search(adapter, sv_emission):
    with pytest.raises(NotSearchable):  # the gateway's "cannot be searched": an operator resolves
        await adapter.find(sv_emission())


@pytest.mark.parametrize(
    ("name", "failure"),
    [("invalidate.403", Misconfigured), ("invalidate.400", Rejected)],
)
async def test_invalidate_errors(name, failure, adapter, api, documented):
    api.post("/dte/invalidate").mock(return_value=documented("smartbill", name))
    with pytest.raises(failure):
        await adapter.invalidate(ProviderRef(fiscal_id=CCF_CODE), "error en el receptor")


async def test_invalidate_accepted(adapter, api, documented):
    route = api.post("/dte/invalidate").mock(return_value=documented("smartbill", "invalidate.200"))
    outcome = await adapter.invalidate(ProviderRef(fiscal_id=CCF_CODE), "error en el receptor")
    assert json.loads(route.calls.last.request.content) == {"body": {"document": CCF_CODE}}
    assert (outcome.status, outcome.authority.code) == ("accepted", "INVALIDADO")
    assert outcome.warnings == ["reason: SmartBill's invalidate route takes no reason; not sent"]


# -- against the simulator over loopback HTTP -------------------------------------------------------


@pytest.fixture
async def live(simulator):
    simulator.states["smartbill"].set_fault("ok")
    instance = smartbill(simulator.url("smartbill") + "/v1", timeout_s=0.5)
    yield instance
    await instance.aclose()


def renta_retained(raw: dict[str, Any]) -> None:
    raw["withholdings"] = [{"tax": "Renta", "rate": "10"}]


@pytest.mark.parametrize(
    "edit", [None, large_taxpayer_with_tip, renta_retained], ids=["example", "retention-and-tip", "renta"]
)
async def test_live_dte_amounts_are_ours(edit, live, simulator, sv_emission):
    """The simulator builds the DTE SmartBill would issue from the payload alone: its amounts must
    be the ones our totals engine computed."""
    emission = sv_emission(edit, fixed_date=False)
    outcome = await live.emit(emission)
    assert outcome.status == "accepted"
    assert outcome.number.startswith("DTE-01-M001P001-")  # transmitter_code 001
    entry = simulator.states["smartbill"].issued(outcome.fiscal_id)
    resumen, totals = entry.payload["dte"]["resumen"], emission.totals
    assert resumen["totalPagar"] == totals.payable
    assert resumen["totalIva"] == totals.tax_total
    assert resumen["montoTotalOperacion"] == totals.tax_inclusive
    assert resumen["totalNoGravado"] == totals.tips
    assert resumen["ivaRete1"] == sum((w.amount for w in totals.withholdings if w.tax == "IVA"), Decimal(0))
    assert resumen["reteRenta"] == sum(
        (w.amount for w in totals.withholdings if w.tax == "Renta"), Decimal(0)
    )


async def test_live_emit_status_xml_invalidate(live, simulator, sv_emission):
    outcome = await live.emit(sv_emission(fixed_date=False))
    status = await live.status(outcome.ref)
    assert (status.status, status.number, status.authority.seal) == (
        "accepted",
        outcome.number,
        outcome.authority.seal,
    )
    dte = json.loads(await live.fetch_xml(outcome.ref), parse_float=Decimal)
    assert dte["identificacion"]["codigoGeneracion"] == outcome.fiscal_id
    voided = await live.invalidate(outcome.ref, "error")
    assert voided.authority.code == "INVALIDADO" and len(voided.authority.seal) == 40
    assert (await live.status(outcome.ref)).authority.code == "INVALIDADO"
    with pytest.raises(Rejected):
        await live.invalidate(outcome.ref, "again")


async def test_live_invalidate_needs_a_manager_key(simulator, live, sv_emission):
    outcome = await live.emit(sv_emission(fixed_date=False))
    transmitter = smartbill(simulator.url("smartbill") + "/v1", public="transmitter_pk")
    try:
        with pytest.raises(Misconfigured):
            await transmitter.invalidate(outcome.ref, "error")
    finally:
        await transmitter.aclose()


async def test_live_numbers_are_consecutive(live, sv_emission):
    first = await live.emit(sv_emission(fixed_date=False))
    second = await live.emit(sv_emission(fixed_date=False))
    assert int(second.number[-15:]) == int(first.number[-15:]) + 1
    assert first.fiscal_id != second.fiscal_id


@pytest.mark.parametrize(
    ("mode", "failure"),
    [("down", Unavailable), ("quota", Unavailable), ("reject", Rejected), ("hang", Ambiguous)],
)
async def test_live_faults(mode, failure, live, simulator, sv_emission):
    state = simulator.states["smartbill"]
    issued_before = len(state.entries())
    state.set_fault(mode, count=1)
    with pytest.raises(failure) as info:
        await live.emit(sv_emission(fixed_date=False))
    if mode == "quota":
        assert info.value.retry_after == 2
    # hang issues the document, then never answers in time; the others never take it
    assert len(state.entries()) == issued_before + (mode == "hang")
    assert (await live.emit(sv_emission(fixed_date=False))).status == "accepted"


async def test_live_slow_still_accepted(live, simulator, sv_emission):
    simulator.states["smartbill"].set_fault("slow", count=1)
    assert (await live.emit(sv_emission(fixed_date=False))).status == "accepted"


async def test_live_credit_note_on_a_known_ccf(live, simulator, sv_emission):
    state = simulator.states["smartbill"]
    code = str(uuid.uuid4()).upper()
    emission = sv_emission(
        lambda raw: (as_credit_note(raw), raw["reference"].update(fiscal_id=code)), fixed_date=False
    )
    with pytest.raises(Rejected):  # SmartBill knows no CCF with that codigo yet
        await live.emit(emission)
    state.issue(
        LedgerEntry(
            reference=code, fiscal_id=code, kind="03", payload={"estado": "PROCESADO", "total": "113.00"}
        )
    )
    outcome = await live.emit(emission)
    assert outcome.status == "accepted" and outcome.number.startswith("DTE-05-")
    assert (
        state.issued(outcome.fiscal_id).payload["request"]["dteJson"]["amount"]
        == emission.totals.tax_inclusive
    )


async def test_live_without_keys_is_misconfigured(simulator, sv_emission):
    nobody = smartbill(simulator.url("smartbill") + "/v1", public="", private="")
    try:
        with pytest.raises(Misconfigured):
            await nobody.emit(sv_emission(fixed_date=False))
    finally:
        await nobody.aclose()


async def test_live_schema_violation_is_rejected_with_paths(simulator):
    body = {
        "dteJson": {
            "receptor": "Others",
            "products": [{"description": "x", "sellType": "gravada", "itemType": "bien"}],
        }
    }
    async with httpx.AsyncClient(base_url=simulator.url("smartbill") + "/v1") as client:
        response = await client.post(
            "/dte/factura", json=body, headers={"X-Smartbill-Public-Key": "p", "X-Smartbill-Private-Key": "s"}
        )
    assert response.status_code == 400
    assert response.json()["estado"] == "ERROR"
    assert any(o.startswith("dteJson.products.0") for o in response.json()["observaciones"])


async def test_live_big_anonymous_factura_is_refused_by_hacienda_rules(simulator):
    """Over USD 1,095 the factura must identify the receptor (fe-fc-v1): the simulator's DTE check."""
    product = {
        "description": "Refrigeradora",
        "sellType": "gravada",
        "itemType": "bien",
        "unitPrice": 1200,
        "quantity": 1,
    }
    async with httpx.AsyncClient(base_url=simulator.url("smartbill") + "/v1") as client:
        response = await client.post(
            "/dte/factura",
            json={"dteJson": {"receptor": "Others", "products": [product]}},
            headers={"X-Smartbill-Public-Key": "p", "X-Smartbill-Private-Key": "s"},
        )
    assert response.status_code == 400
    assert response.json()["estado"] == "RECHAZADO"
    assert response.json()["observaciones"][0].startswith("[customer]")


# -- SmartBill's arithmetic from our payload equals ours (property) ---------------------------------

_money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("400"), places=2)
_line = st.fixed_dictionaries(
    {
        "description": st.just("Artículo"),
        "quantity": st.one_of(
            st.integers(1, 30).map(str), st.decimals(Decimal("0.5"), Decimal("12"), places=3).map(str)
        ),
        "unit_price": _money.map(str),
        "tax_treatment": st.sampled_from(["taxed", "taxed", "exempt", "not_subject"]),
        "item_type": st.sampled_from(["good", "service", "both"]),
        "discount_percent": st.one_of(st.none(), st.integers(1, 30)),
    }
)


@pytest.fixture(scope="module")
def payload_adapter():
    instance = smartbill()
    yield instance
    asyncio.run(instance.aclose())  # never used for HTTP: nothing in flight


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(_line, min_size=1, max_size=5),
    prices_include_tax=st.booleans(),
    tip=st.one_of(st.none(), _money),
)
def test_simulated_smartbill_dte_amounts_equal_ours(
    lines, prices_include_tax, tip, payload_adapter, make_emission, wire_json
):
    """The simulator reads our payload the way SmartBill documents it and builds the DTE with
    canonical.sv_dte: for any factura we can express, Hacienda would see our totals."""
    from simulators.smartbill import BUSINESS, _document, dte_schema_errors

    def edit(raw):
        raw["prices_include_tax"] = prices_include_tax
        raw["lines"] = [
            {
                "description": line["description"],
                "quantity": line["quantity"],
                "unit_price": line["unit_price"],
                "tax_treatment": line["tax_treatment"],
                "item_type": line["item_type"],
                **({"taxes": [{"tax": "IVA", "rate": "13"}]} if line["tax_treatment"] == "taxed" else {}),
                **(
                    {"discount": {"percent": str(line["discount_percent"])}}
                    if line["discount_percent"]
                    else {}
                ),
            }
            for line in lines
        ]
        if tip is not None:
            raw["charges"] = [{"reason": "Propina", "amount": str(tip), "kind": "tip"}]

    emission = make_emission("sv-invoice", edit=edit, issuer=SV_ISSUER)
    try:
        payload = wire_json(payload_adapter.build_payload(emission))
    except Unsupported:
        assume(False)
    doc = _document(payload["dteJson"])
    dte = build_dte(doc, compute_totals(doc), BUSINESS, sequence=1)
    assert dte_schema_errors(dte) == []
    resumen, totals = dte["resumen"], emission.totals
    assert (resumen["totalIva"], resumen["totalPagar"]) == (totals.tax_total, totals.payable)
    assert resumen["totalNoGravado"] == totals.tips


async def test_a_bare_404_to_a_status_query_is_not_not_found(adapter, api):
    """Only the documented body proves absence (evidence rule, issue 14): a proxy's 404 page fails the query."""
    api.post("/dte/get-json").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(ProviderFailure):
        await adapter.status(ProviderRef(fiscal_id=CCF_CODE))
