"""SmartApp adapter against its documented contract (contracts/smartapp/): the payload validates
against the quickstart schema and matches the golden file; line discounts are folded into a net
unit price without changing any fiscal amount; every documented (or assumed, README.md) answer maps
to the right Outcome or failure class; and the adapter works against the simulator over loopback."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import (
    Account,
    Ambiguous,
    Emission,
    Misconfigured,
    NotSearchable,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    Unsupported,
    adapter_class,
)
from adapters.smartapp import SmartAppAdapter, net_unit_price
from canonical import clock
from canonical.totals import round_half_up
from contracts import example, example_names, request_errors

PROVIDER = "smartapp"
BASE = "http://127.0.0.1:9"  # the host root; never reached: respx answers
API_KEY = "sk_contract_test_secret"
DOCUMENTED_LINK = "https://..."  # emit.200.json's xml_url / pdf_url placeholders


def expressible(raw: dict[str, Any]) -> None:
    """The examples as SmartApp can carry them: a cash sale to a customer without address codes
    (payment form and DANE codes are fiscal and SmartApp has no field for them, README.md)."""
    if "payment" in raw:
        raw["payment"] = {"form": "cash", "means": raw["payment"].get("means", "cash")}
    if raw.get("customer"):
        raw["customer"].pop("address", None)


@pytest.fixture(autouse=True)
def fixed_calendar():
    """SmartApp stamps the day it receives an invoice: the examples' issue date is "today"."""
    with clock.set_to(dt.datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("America/Bogota"))):  # FIXED_DATE
        yield


@pytest.fixture
def make_emission(make_emission):
    """Every example as SmartApp can carry it first, then the test's own edit."""

    def make(stem: str, *, edit=None, **options: Any) -> Emission:
        def both(raw: dict[str, Any]) -> None:
            expressible(raw)
            if edit is not None:
                edit(raw)

        return make_emission(stem, edit=both, **options)

    return make


def smartapp(base_url: str = BASE, api_key: str = API_KEY, timeout_s: float = 5.0) -> SmartAppAdapter:
    return SmartAppAdapter(
        Account(
            name="smartapp",
            provider="smartapp",
            base_url=base_url,
            credentials={"api_key": api_key},
            timeout_s=timeout_s,
        )
    )


@pytest.fixture
async def adapter():
    instance = smartapp()
    yield instance
    await instance.aclose()


@pytest.fixture
def api(api):
    api.get(DOCUMENTED_LINK).mock(return_value=httpx.Response(404))
    return api


def quickstart_invoice(raw: dict[str, Any]) -> None:
    """The quickstart's invoice (request.invoice.json), expressed canonically."""
    raw["customer"] = {
        "id_type": "NIT",
        "id_number": "900123456",
        "check_digit": "8",
        "name": "Cliente Ejemplo SAS",
        "email": "cliente@ejemplo.com",
    }
    raw["lines"] = [
        {
            "code": "P001",
            "description": "Servicio de consultoría",
            "quantity": "1",
            "unit_price": "150000",
            "taxes": [{"tax": "IVA", "rate": "19"}],
        }
    ]
    raw["payment"] = {"form": "cash", "means": "cash"}
    for key in ("notes", "metadata"):
        raw.pop(key, None)


def with_link(name: str, link: str) -> httpx.Response:
    body = example("smartapp", name)["body"]
    body["xml_url"] = body["pdf_url"] = link
    return httpx.Response(200, content=json.dumps(body, default=str))


# -- payloads ------------------------------------------------------------------------------------


def test_registered_with_capabilities():
    cls = adapter_class("smartapp")
    assert cls is SmartAppAdapter
    assert cls.countries == {"CO"} and cls.kinds == {"invoice"} and cls.numbering == "provider"


def test_payload_validates_and_matches_golden(adapter, golden, make_emission, wire_json):
    payload = wire_json(adapter.build_payload(make_emission("co-invoice")))
    assert request_errors("smartapp", "invoice", payload) == {}
    golden("smartapp/invoice", payload)


@pytest.mark.parametrize("name", [n for n in example_names("smartapp") if n.startswith("request.")])
def test_documented_requests_satisfy_the_schema(name):
    assert request_errors("smartapp", name.removeprefix("request."), example("smartapp", name)) == {}


def test_quickstart_invoice_gives_the_documented_body(adapter, make_emission, wire_json):
    payload = wire_json(adapter.build_payload(make_emission("co-invoice", edit=quickstart_invoice)))
    documented_body = example("smartapp", "request.invoice")
    # a cash sale is due on its issue date: the quickstart's later due date would be a credit sale,
    # whose form SmartApp's payment cannot carry (test_fiscal_content_is_refused)
    documented_body["payment"]["due_date"] = "2026-11-24"
    assert payload == documented_body


def test_line_discount_becomes_the_net_unit_price(adapter, make_emission, wire_json):
    emission = make_emission("co-invoice")
    payload = wire_json(adapter.build_payload(emission))
    sent_lines = payload["lines"]
    for line, figures, sent in zip(emission.document.lines, emission.totals.lines, sent_lines, strict=True):
        assert round_half_up(line.quantity * sent["unit_price"], 2) == figures.net
        assert [t["rate"] for t in sent["taxes"]] == [t.rate for t in figures.taxes]
    assert payload["lines"][1]["unit_price"] == Decimal("22500.00")  # 2 × 25000 − 10 %
    assert any(w.startswith("lines[1].discount") for w in adapter.warnings(emission))


@settings(max_examples=200, deadline=None)
@given(
    quantity=st.decimals(min_value="0.01", max_value="5000", places=2),
    price=st.decimals(min_value="0.01", max_value="1000000", places=2),
    percent=st.decimals(min_value="0", max_value="99", places=2),
)
def test_net_unit_price_is_exact_or_refused(quantity, price, percent):
    from canonical.document import Document, Line, LineDiscount
    from canonical.totals import compute_totals

    line = Line(description="x", quantity=quantity, unit_price=price, discount=LineDiscount(percent=percent))
    figures = compute_totals(Document(country="CO", kind="invoice", lines=[line])).lines[0]
    found = net_unit_price(quantity, figures)
    if found is not None:
        assert round_half_up(quantity * found, 2) == figures.net


def test_inexpressible_net_unit_price_is_refused(adapter, make_emission):
    def edit(raw):
        raw["lines"] = [
            {
                "description": "Tornillo",
                "quantity": "1000000",
                "unit_price": "0.01",
                "discount": {"amount": "9999.99"},
                "taxes": [{"tax": "IVA", "rate": "19"}],
            }
        ]

    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=edit))
    assert [(i.path, i.rule) for i in caught.value.issues] == [
        ("lines[0].unit_price", "smartapp-net-unit-price")
    ]


UNSUPPORTED = {
    "smartapp-document-discounts": lambda raw: raw.update(
        discounts=[{"reason": "Pronto pago", "amount": "1000"}]
    ),
    "smartapp-document-charges": lambda raw: raw.update(
        charges=[{"reason": "Propina", "amount": "1000", "kind": "tip"}]
    ),
    "smartapp-withholdings": lambda raw: raw.update(withholdings=[{"tax": "ReteFuente", "rate": "2.5"}]),
    "smartapp-currency": lambda raw: raw.update(currency="USD"),
    # fiscal content main sent with a "not sent" warning (ARCHITECTURE.md, "Fiscal content, per country"):
    "smartapp-credit-sale": lambda raw: raw.update(
        payment={"form": "credit", "means": "bank_transfer", "due_date": "2026-12-24"}
    ),
    "smartapp-customer-address": lambda raw: raw["customer"].update(
        address={"line": "Calle 1", "city_code": "11001", "department_code": "11", "country": "CO"}
    ),
    "smartapp-issue-date": lambda raw: raw.update(issue_date="2026-11-23"),  # SmartApp stamps today
}


@pytest.mark.parametrize("rule", sorted(UNSUPPORTED))
def test_what_smartapp_cannot_express_is_refused(rule, adapter, make_emission):
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=UNSUPPORTED[rule]))
    assert rule in [issue.rule for issue in caught.value.issues]


def test_notes_are_refused(adapter, make_emission):
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-credit-note"))
    assert [i.rule for i in caught.value.issues] == ["smartapp-kind"]


def test_taxes_use_dian_codes(adapter, make_emission, wire_json):
    def edit(raw):
        raw["lines"][0]["taxes"] = [{"tax": "INC", "rate": "8"}]

    payload = wire_json(adapter.build_payload(make_emission("co-invoice", edit=edit)))
    assert payload["lines"][0]["taxes"] == [{"code": "04", "name": "INC", "rate": 8}]


def test_cash_sale_is_due_on_its_issue_date(adapter, make_emission):
    def edit(raw):
        raw["payment"] = {"form": "cash", "means": "credit_card"}

    payload = adapter.build_payload(make_emission("co-invoice", edit=edit))
    assert payload["payment"] == {"method_code": "48", "due_date": "2026-11-24"}


# -- documented answers ------------------------------------------------------------------------------


async def test_emit_accepted(adapter, api, make_emission, documented):
    route = api.post("/api/v1/service/invoice").mock(return_value=documented("smartapp", "emit.200"))
    outcome = await adapter.emit(make_emission("co-invoice"))
    body = example("smartapp", "emit.200")["body"]
    assert outcome.status == "accepted"
    assert outcome.provider_reference == outcome.fiscal_id == body["cufe"]  # the CUFE is the processId
    assert outcome.authority.message == "Documento validado correctamente"
    assert outcome.links == {"xml": body["xml_url"], "pdf": body["pdf_url"]}
    assert outcome.number is None and any(w.startswith("number:") for w in outcome.warnings)
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert request_errors("smartapp", "invoice", json.loads(sent.content, parse_float=Decimal)) == {}


async def test_number_comes_from_the_signed_xml_without_the_api_key(adapter, api, make_emission):
    link = "http://127.0.0.1:9/files/abc.xml"
    api.post("/api/v1/service/invoice").mock(return_value=with_link("emit.200", link))
    xml = api.get(link).mock(
        return_value=httpx.Response(
            200,
            content=(
                b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
                b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
                b"<cbc:ID>SETP990000042</cbc:ID></Invoice>"
            ),
        )
    )
    outcome = await adapter.emit(make_emission("co-invoice"))
    assert outcome.number == "SETP990000042"
    assert "authorization" not in xml.calls.last.request.headers


@pytest.mark.parametrize(
    ("name", "status"), [("emit.200.rejected", "rejected"), ("emit.200.pending", "pending")]
)
async def test_emit_dian_states(name, status, adapter, api, make_emission, documented):
    api.post("/api/v1/service/invoice").mock(return_value=documented("smartapp", name))
    outcome = await adapter.emit(make_emission("co-invoice"))
    assert outcome.status == status
    assert outcome.fiscal_id == example("smartapp", name)["body"]["cufe"]


async def test_rejection_keeps_the_dian_rule(adapter, api, make_emission, documented):
    api.post("/api/v1/service/invoice").mock(return_value=documented("smartapp", "emit.200.rejected"))
    outcome = await adapter.emit(make_emission("co-invoice"))
    assert [e.code for e in outcome.authority.errors] == ["FAU04"]


@pytest.mark.parametrize(
    ("name", "failure"),
    [("emit.401", Misconfigured), ("emit.422", Rejected), ("emit.429", Unavailable), ("emit.500", Ambiguous)],
)
async def test_emit_errors_are_classified(name, failure, adapter, api, make_emission, documented):
    api.post("/api/v1/service/invoice").mock(return_value=documented("smartapp", name))
    with pytest.raises(failure) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert type(caught.value) is failure
    assert caught.value.message == example("smartapp", name)["body"]["message"]
    assert API_KEY not in caught.value.message and API_KEY not in json.dumps(caught.value.raw, default=str)


async def test_404_on_emission_means_a_wrong_base_url(adapter, api, make_emission):
    api.post("/api/v1/service/invoice").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(Misconfigured) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert caught.value.http_status == 404


async def test_422_field_errors_map_to_canonical_paths(adapter, api, make_emission, documented):
    api.post("/api/v1/service/invoice").mock(return_value=documented("smartapp", "emit.422"))
    with pytest.raises(Rejected) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert [e.path for e in caught.value.errors] == ["customer.id_number", "lines[0].unit_price"]


async def test_429_honours_retry_after(adapter, api, make_emission, documented):
    api.post("/api/v1/service/invoice").mock(return_value=documented("smartapp", "emit.429"))
    with pytest.raises(Unavailable) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert caught.value.retry_after == 60


async def test_timeout_after_sending_is_ambiguous(adapter, api, make_emission):
    api.post("/api/v1/service/invoice").mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Ambiguous):
        await adapter.emit(make_emission("co-invoice"))


async def test_success_false_without_dian_state_is_rejected(adapter, api, make_emission):
    body = {"success": False, "message": "Cliente no válido"}
    api.post("/api/v1/service/invoice").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(Rejected) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert caught.value.message == "Cliente no válido"


async def test_status_path_has_no_api_prefix(adapter, api, documented):
    cufe = example("smartapp", "status.200")["body"]["cufe"]
    route = api.get(f"/v1/billing/status/{cufe}").mock(return_value=documented("smartapp", "status.200"))
    outcome = await adapter.status(ProviderRef(provider_reference=cufe, number="SETP990000001"))
    assert route.called
    assert (outcome.status, outcome.fiscal_id, outcome.number) == ("accepted", cufe, "SETP990000001")


async def test_status_of_unknown_invoice_is_not_found(adapter, api, documented):
    api.get("/v1/billing/status/nope").mock(return_value=documented("smartapp", "status.404"))
    assert (await adapter.status(ProviderRef(provider_reference="nope"))).status == "not_found"


async def test_status_500_is_unavailable(adapter, api, documented):
    api.get("/v1/billing/status/x").mock(return_value=documented("smartapp", "emit.500"))
    with pytest.raises(Unavailable):
        await adapter.status(ProviderRef(provider_reference="x"))


async def test_find_cannot_search(adapter, make_emission):
    with pytest.raises(NotSearchable):
        await adapter.find(make_emission("co-invoice"))


async def test_fetch_xml_and_pdf_follow_the_status_links(adapter, api):
    api.get("/v1/billing/status/c1").mock(
        return_value=with_link("status.200", "http://127.0.0.1:9/files/c1.bin")
    )
    api.get("/files/c1.bin").mock(return_value=httpx.Response(200, content=b"file"))
    assert await adapter.fetch_xml(ProviderRef(provider_reference="c1")) == b"file"
    assert await adapter.fetch_pdf(ProviderRef(provider_reference="c1")) == b"file"


# -- against the simulator, over loopback HTTP ---------------------------------------------------------


@pytest.fixture
async def live(simulator):
    simulator.states["smartapp"].set_fault("ok")
    instance = smartapp(simulator.url("smartapp"), timeout_s=0.5)
    yield instance
    await instance.aclose()


@pytest.fixture
def today_emission(make_emission):
    def build(stem: str = "co-invoice", edit=None) -> Emission:
        return make_emission(stem, edit=edit, fixed_date=False)

    return build


async def test_live_emit_status_files(live, simulator, today_emission):
    outcome = await live.emit(today_emission())
    assert outcome.status == "accepted"
    entry = simulator.states["smartapp"].issued(outcome.provider_reference)
    assert entry is not None and (entry.number, entry.fiscal_id) == (outcome.number, outcome.fiscal_id)
    status = await live.status(outcome.ref)
    assert (status.status, status.fiscal_id, status.number) == ("accepted", outcome.fiscal_id, outcome.number)
    assert outcome.fiscal_id.encode() in await live.fetch_xml(outcome.ref)
    assert (await live.fetch_pdf(outcome.ref)).startswith(b"%PDF")


async def test_live_faults(live, simulator, today_emission):
    state = simulator.states["smartapp"]
    state.set_fault("reject", 1)
    with pytest.raises(Rejected) as rejected:
        await live.emit(today_emission())
    assert rejected.value.errors[0].path == "customer.id_number"
    state.set_fault("quota", 1)
    with pytest.raises(Unavailable) as quota:
        await live.emit(today_emission())
    assert quota.value.retry_after == 2
    state.set_fault("down", 1)
    with pytest.raises(Unavailable):
        await live.emit(today_emission())
    state.set_fault("slow", 1)
    assert (await live.emit(today_emission())).status == "accepted"


async def test_live_hang_is_ambiguous_and_issued(live, simulator, today_emission):
    before = len(simulator.states["smartapp"].entries())
    simulator.states["smartapp"].set_fault("hang", 1)
    with pytest.raises(Ambiguous):
        await live.emit(today_emission())
    assert len(simulator.states["smartapp"].entries()) == before + 1  # issued: never resend blindly


async def test_live_schema_violation_is_rejected_with_paths(live, today_emission):
    emission = today_emission()
    emission.document.customer.email = "not-an-email"
    with pytest.raises(Rejected) as caught:
        await live.emit(emission)
    assert [e.path for e in caught.value.errors] == ["customer.email"]


async def test_live_invoices_belong_to_their_api_key(simulator, today_emission):
    mine, other = smartapp(simulator.url("smartapp")), smartapp(simulator.url("smartapp"), api_key="sk_other")
    outcome = await mine.emit(today_emission())
    assert (await other.status(outcome.ref)).status == "not_found"
    await mine.aclose()
    await other.aclose()


async def test_live_without_api_key_is_401(simulator):
    async with httpx.AsyncClient(base_url=simulator.url("smartapp")) as client:
        response = await client.post("/api/v1/service/invoice", json={})
    assert (response.status_code, response.json()) == (401, example("smartapp", "emit.401")["body"])


def test_empty_api_key_is_misconfigured():
    with pytest.raises(Misconfigured):
        smartapp(api_key="")


async def test_a_bare_404_to_a_status_query_is_not_not_found(adapter, api):
    """Only the documented body proves absence (evidence rule, issue 14): a proxy's 404 page fails the query."""
    api.get("/v1/billing/status/nope").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(ProviderFailure):
        await adapter.status(ProviderRef(provider_reference="nope"))
