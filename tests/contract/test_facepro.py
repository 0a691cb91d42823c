"""FacEPro adapter against its documented contract (contracts/facepro/): payloads validate against
the request schema and match the golden files; every documented answer maps to the right Outcome
or failure class; and the adapter works against the simulator over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

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
from adapters.facepro import ENDPOINTS, REASONS, WIRE, FaceProAdapter
from canonical.totals import round_half_up
from contracts import example, example_names, request_errors

PROVIDER = "facepro"
BASE = "http://127.0.0.1:9/api/v1"  # never reached: respx answers
TOKEN = "7|contract-test-secret"
SCHEMAS = {"invoice": "documentos", "credit_note": "notas-credito", "debit_note": "notas-debito"}


def as_debit_note(raw: dict[str, Any]) -> None:
    raw["kind"] = "debit_note"
    raw["reason"] = {"code": "interest", "description": "Intereses por mora"}


KIND_EXAMPLES = {
    "invoice": ("co-invoice", None),
    "credit_note": ("co-credit-note", None),
    "debit_note": ("co-credit-note", as_debit_note),
}


def cash_sale(raw: dict[str, Any]) -> None:
    """The examples' credit sale as a cash one: FacEPro cannot carry a credit sale (README.md)."""
    if "payment" in raw:
        raw["payment"] = {"form": "cash", "means": raw["payment"].get("means", "cash")}


@pytest.fixture
def make_emission(make_emission):
    """Every example as a cash sale first, then the test's own edit."""

    def make(stem: str, *, edit=None, **options: Any) -> Emission:
        def both(raw: dict[str, Any]) -> None:
            cash_sale(raw)
            if edit is not None:
                edit(raw)

        return make_emission(stem, edit=both, **options)

    return make


def facepro(base_url: str = BASE, token: str = TOKEN, timeout_s: float = 5.0) -> FaceProAdapter:
    return FaceProAdapter(
        Account(
            name="facepro",
            provider="facepro",
            base_url=base_url,
            credentials={"token": token},
            timeout_s=timeout_s,
        )
    )


@pytest.fixture
async def adapter():
    instance = facepro()
    yield instance
    await instance.aclose()


def juan_perez_invoice(raw: dict[str, Any]) -> None:
    """The invoice of FacEPro's documentation (request.documentos.json), expressed canonically."""
    raw["customer"] = {
        "party_type": "person",
        "id_type": "CC",
        "id_number": "71234567",
        "name": "JUAN PEREZ",
        "tax_responsibilities": ["R-99-PN"],
        "email": "juan@correo.com",
        "address": {"line": "Calle 50 # 30-20", "city_code": "05001", "department_code": "05"},
    }
    raw["lines"] = [
        {
            "code": "PROD-001",
            "description": "Repuesto motocicleta XYZ",
            "quantity": "2",
            "unit_price": "50000",
            "taxes": [{"tax": "IVA", "rate": "19"}],
        },
        {
            "code": "SERV-010",
            "description": "Mano de obra instalación",
            "quantity": "1",
            "unit_price": "25000",
            "discount": {"percent": "10"},
            "taxes": [{"tax": "IVA", "rate": "19"}],
        },
    ]
    for key in ("payment", "notes", "metadata"):
        raw.pop(key, None)


# -- payloads ------------------------------------------------------------------------------------


def test_registered_with_capabilities():
    cls = adapter_class("facepro")
    assert cls is FaceProAdapter
    assert cls.countries == {"CO"} and cls.kinds == set(SCHEMAS) and cls.numbering == "provider"


@pytest.mark.parametrize("kind", sorted(KIND_EXAMPLES))
def test_payload_validates_and_matches_golden(kind, adapter, golden, make_emission, wire_json):
    stem, edit = KIND_EXAMPLES[kind]
    emission = make_emission(stem, edit=edit)
    assert emission.document.kind == kind
    payload = wire_json(adapter.build_payload(emission))
    assert request_errors("facepro", SCHEMAS[kind], payload) == {}
    golden(f"facepro/{kind}", payload)


@pytest.mark.parametrize("name", [n for n in example_names("facepro") if n.startswith("request.")])
def test_documented_requests_satisfy_the_schema(name):
    assert request_errors("facepro", name.removeprefix("request."), example("facepro", name)) == {}


def test_documented_invoice_gives_documented_totals_and_body(adapter, make_emission, wire_json):
    """FacEPro's own example, built canonically: same body (the discount as the amount it comes
    to) and the same totals FacEPro answers in emit.201.json."""
    emission = make_emission("co-invoice", edit=juan_perez_invoice)
    payload = wire_json(adapter.build_payload(emission))
    documented_body = example("facepro", "request.documentos")
    documented_body["lineas"][1]["descuento_valor"] = Decimal("2500.00")
    del documented_body["lineas"][1]["descuento_pct"]
    for linea in documented_body["lineas"]:
        linea["unidad"] = "94"
    payload.pop("factura")
    assert payload == documented_body
    totales = example("facepro", "emit.201")["body"]["data"]["totales"]
    assert emission.totals.line_extension == totales["subtotal"]
    assert emission.totals.tax_total == totales["iva"]
    assert emission.totals.payable == totales["total"]


def test_payload_amounts_are_exact_json_numbers(adapter, make_emission):
    """The wire and any msgspec encoder (the gateway's preview) write the same exact numbers."""
    payload = adapter.build_payload(make_emission("co-invoice"))
    for encoded in (WIRE.encode(payload), msgspec.json.encode(payload)):
        body = json.loads(encoded, parse_float=Decimal)
        linea = body["lineas"][1]
        assert (linea["precio"], linea["descuento_valor"], linea["iva_pct"]) == (
            25000,
            Decimal("5000.00"),
            19,
        )
        assert isinstance(linea["precio"], int) and isinstance(linea["descuento_valor"], Decimal)
    assert b'"precio":150000.00' in WIRE.encode(payload)
    assert payload["factura"] == {"fecha": "2026-11-24", "hora": "10:30:00-05:00"}


@pytest.mark.parametrize(
    ("reason", "codigo"),
    [
        ("partial_return", "1"),
        ("annulment", "2"),
        ("discount", "3"),
        ("price_adjustment", "4"),
        ("other", "5"),
        ("full_return", "6"),
    ],
)
def test_credit_reasons_use_facepro_table(reason, codigo, adapter, make_emission):
    def edit(raw):
        raw["reason"] = {"code": reason}

    payload = adapter.build_payload(make_emission("co-credit-note", edit=edit))
    assert payload["motivo"] == {"codigo": codigo, "descripcion": REASONS["credit_note"][reason][1]}


def test_warnings_list_every_informational_drop(adapter, make_emission):
    warnings = adapter.warnings(make_emission("co-invoice"))
    assert [w.split(":")[0] for w in warnings] == ["notes", "payment.means", "customer.phone", "metadata"]


UNSUPPORTED = {
    "facepro-document-discounts": lambda raw: raw.update(
        discounts=[{"reason": "Pronto pago", "amount": "1000"}]
    ),
    "facepro-document-charges": lambda raw: raw.update(
        charges=[{"reason": "Propina", "amount": "1000", "kind": "tip"}]
    ),
    "facepro-withholdings": lambda raw: raw.update(withholdings=[{"tax": "ReteFuente", "rate": "2.5"}]),
    "facepro-currency": lambda raw: raw.update(currency="USD"),
    "facepro-line-iva-only": lambda raw: raw["lines"][0].update(taxes=[{"tax": "INC", "rate": "8"}]),
    # fiscal in Colombia (PaymentMeans ID 2, PaymentDueDate) and FacEPro has no field: refused,
    # where main sent it accepted with a "not sent" warning
    "facepro-foreign-address": lambda raw: raw["customer"].update(
        address={"line": "5th Avenue 1", "country": "US"}
    ),
    "facepro-credit-sale": lambda raw: raw.update(
        payment={"form": "credit", "means": "bank_transfer", "due_date": "2026-12-24"}
    ),
}


@pytest.mark.parametrize("rule", sorted(UNSUPPORTED))
def test_what_facepro_cannot_express_is_refused(rule, adapter, make_emission):
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=UNSUPPORTED[rule]))
    assert rule in [issue.rule for issue in caught.value.issues]


def tax_included(quantity: str, unit_price: str):
    def edit(raw: dict[str, Any]) -> None:
        raw["prices_include_tax"] = True
        raw["lines"] = [
            {
                "code": "X",
                "description": "Casco",
                "quantity": quantity,
                "unit_price": unit_price,
                "taxes": [{"tax": "IVA", "rate": "19"}],
            }
        ]

    return edit


def test_tax_included_prices_become_exact_exclusive_prices(adapter, make_emission, wire_json):
    emission = make_emission("co-invoice", edit=tax_included("3", "50000"))
    (linea,) = wire_json(adapter.build_payload(emission))["lineas"]
    figures = emission.totals.lines[0]
    assert round_half_up(Decimal(3) * linea["precio"], 2) == figures.gross == Decimal("126050.42")
    assert round_half_up(figures.gross * linea["iva_pct"] / 100, 2) == figures.taxes[0].amount


def test_tax_included_price_without_exact_exclusive_price_is_refused(adapter, make_emission):
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=tax_included("3000000", "0.01")))
    assert [(i.path, i.rule) for i in caught.value.issues] == [
        ("lines[0].unit_price", "facepro-price-exclusive")
    ]


def test_line_without_iva_is_refused(adapter, make_emission):
    def edit(raw):
        raw["lines"][2]["taxes"] = []

    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=edit))
    assert [(i.path, i.rule) for i in caught.value.issues] == [("lines[2].taxes", "facepro-line-iva-only")]


# -- documented answers ------------------------------------------------------------------------------


async def test_emit_accepted(adapter, api, make_emission, documented):
    route = api.post("/documentos").mock(return_value=documented("facepro", "emit.201"))
    outcome = await adapter.emit(make_emission("co-invoice"))
    data = example("facepro", "emit.201")["body"]["data"]
    assert outcome.status == "accepted"
    assert outcome.provider_reference == data["tracking_id"]
    assert outcome.number == "SETP990000011"
    assert outcome.fiscal_id == data["cufe"]
    assert (outcome.authority.code, outcome.authority.message) == ("00", "Procesado correctamente")
    assert outcome.links["xml"] == data["links"]["xml"]
    assert "notes: FacEPro has no notes field; not sent" in outcome.warnings
    sent = route.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert request_errors("facepro", "documentos", json.loads(sent.content, parse_float=Decimal)) == {}
    assert TOKEN not in json.dumps(outcome.raw, default=str)


@pytest.mark.parametrize("kind", ["credit_note", "debit_note"])
async def test_notes_go_to_their_endpoints(kind, adapter, api, make_emission, documented):
    route = api.post(ENDPOINTS[kind]).mock(return_value=documented("facepro", "emit.201"))
    stem, edit = KIND_EXAMPLES[kind]
    await adapter.emit(make_emission(stem, edit=edit))
    assert route.called


@pytest.mark.parametrize(
    ("name", "status"),
    [("emit.201.rechazado", "rejected"), ("emit.201.pendiente", "pending"), ("emit.201.fallido", "pending")],
)
async def test_emit_dian_states(name, status, adapter, api, make_emission, documented):
    api.post("/documentos").mock(return_value=documented("facepro", name))
    outcome = await adapter.emit(make_emission("co-invoice"))
    data = example("facepro", name)["body"]["data"]
    assert outcome.status == status
    assert outcome.number == data["numero_completo"]
    if data.get("ultimo_error"):
        assert outcome.authority.errors[0].message == data["ultimo_error"]


async def test_dian_rule_code_is_kept(adapter, api, make_emission, documented):
    api.post("/documentos").mock(return_value=documented("facepro", "emit.201.rechazado"))
    outcome = await adapter.emit(make_emission("co-invoice"))
    assert outcome.authority.code == "99"
    assert [e.code for e in outcome.authority.errors] == ["FAK24"]


@pytest.mark.parametrize(
    ("name", "failure", "code"),
    [
        ("emit.401", Misconfigured, "no_autenticado"),
        ("emit.403", Misconfigured, "permiso_no_concedido"),
        ("emit.422", Rejected, "422"),
        ("emit.429", Unavailable, "quota_excedida"),
        ("emit.500", Ambiguous, "error_interno"),
    ],
)
async def test_emit_errors_are_classified(name, failure, code, adapter, api, make_emission, documented):
    api.post("/documentos").mock(return_value=documented("facepro", name))
    with pytest.raises(failure) as caught:
        await adapter.emit(make_emission("co-invoice"))
    body = example("facepro", name)["body"]
    assert type(caught.value) is failure
    assert caught.value.code == code
    assert caught.value.message.startswith(body["error"])
    assert TOKEN not in caught.value.message and TOKEN not in json.dumps(caught.value.raw, default=str)


async def test_404_on_emission_means_a_wrong_base_url(adapter, api, make_emission):
    api.post("/documentos").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(Misconfigured) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert caught.value.http_status == 404


async def test_403_names_the_missing_permission(adapter, api, make_emission, documented):
    api.post("/notas-credito").mock(return_value=documented("facepro", "emit.403"))
    with pytest.raises(Misconfigured) as caught:
        await adapter.emit(make_emission("co-credit-note"))
    assert "permite_notas_credito" in caught.value.message


async def test_422_field_errors_map_to_canonical_paths(adapter, api, make_emission, documented):
    api.post("/documentos").mock(return_value=documented("facepro", "emit.422"))
    with pytest.raises(Rejected) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert [(e.path, e.code) for e in caught.value.errors] == [
        ("customer.id_number", "adquiriente.numero_documento"),
        ("lines[0].taxes", "lineas.0.iva_pct"),
    ]
    assert caught.value.errors[0].message == "El número de documento es requerido."


async def test_quota_is_unavailable_until_the_next_period(adapter, api, make_emission, documented):
    api.post("/documentos").mock(return_value=documented("facepro", "emit.429"))
    with pytest.raises(Unavailable) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert 0 < caught.value.retry_after <= 31 * 24 * 3600  # emit.429.json: "periodo": "mensual"


async def test_quota_honours_retry_after_when_sent(adapter, api, make_emission):
    sample = example("facepro", "emit.429")
    api.post("/documentos").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "7"}, json=sample["body"])
    )
    with pytest.raises(Unavailable) as caught:
        await adapter.emit(make_emission("co-invoice"))
    assert caught.value.retry_after == 7


async def test_timeout_after_sending_is_ambiguous(adapter, api, make_emission):
    api.post("/documentos").mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Ambiguous):
        await adapter.emit(make_emission("co-invoice"))


async def test_connection_refused_is_unavailable(adapter, api, make_emission):
    api.post("/documentos").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Unavailable):
        await adapter.emit(make_emission("co-invoice"))


async def test_status_reads_consultar(adapter, api, documented):
    data = example("facepro", "consultar.200")["body"]["documento"]
    api.get(f"/documentos/{data['tracking_id']}/consultar").mock(
        return_value=documented("facepro", "consultar.200")
    )
    outcome = await adapter.status(ProviderRef(provider_reference=data["tracking_id"]))
    assert (outcome.status, outcome.number, outcome.fiscal_id) == (
        "accepted",
        data["numero_completo"],
        data["cufe"],
    )
    assert outcome.authority.code == "00" and outcome.authority.message == "Procesado correctamente"


async def test_status_rejected_carries_dian_errors(adapter, api, documented):
    data = example("facepro", "consultar.200.rechazado")["body"]["documento"]
    api.get(f"/documentos/{data['tracking_id']}/consultar").mock(
        return_value=documented("facepro", "consultar.200.rechazado")
    )
    outcome = await adapter.status(ProviderRef(provider_reference=data["tracking_id"]))
    assert outcome.status == "rejected"
    assert (outcome.authority.code, [e.code for e in outcome.authority.errors]) == ("99", ["FAK24"])


async def test_status_of_unknown_document_is_not_found(adapter, api, documented):
    api.get("/documentos/nope/consultar").mock(return_value=documented("facepro", "consultar.404"))
    outcome = await adapter.status(ProviderRef(provider_reference="nope"))
    assert outcome.status == "not_found"


async def test_status_500_is_unavailable_not_ambiguous(adapter, api, documented):
    api.get("/documentos/x/consultar").mock(return_value=documented("facepro", "emit.500"))
    with pytest.raises(Unavailable):
        await adapter.status(ProviderRef(provider_reference="x"))


def documented_moment(raw: dict[str, Any]) -> None:
    """Dated as the documented list item (fecha_emision 2026-05-10T15:30:00-05:00)."""
    juan_perez_invoice(raw)
    raw["issue_date"], raw["issue_time"] = "2026-05-10", "15:30:00"


async def test_find_matches_customer_total_and_time(adapter, api, make_emission, documented):
    route = api.get("/documentos").mock(return_value=documented("facepro", "list.200"))
    emission = make_emission("co-invoice", edit=documented_moment)
    found = await adapter.find(emission)
    data = example("facepro", "list.200")["body"]["data"][0]
    assert found == ProviderRef(
        provider_reference=data["tracking_id"],
        fiscal_id=data["cufe"],
        number=data["numero_completo"],
        issue_date=emission.document.issue_date,
    )
    params = route.calls.last.request.url.params
    assert (params["desde"], params["hasta"]) == ("2026-05-10", "2026-05-10")


async def test_find_without_match_is_none(adapter, api, make_emission, documented):
    api.get("/documentos").mock(return_value=documented("facepro", "list.200"))
    assert await adapter.find(make_emission("co-invoice")) is None  # other customer and total
    other_time = make_emission(
        "co-invoice", edit=lambda raw: (documented_moment(raw), raw.update(issue_time="15:31:00"))
    )
    assert await adapter.find(other_time) is None  # same order, issued another minute


def listing(*items: dict[str, Any]) -> httpx.Response:
    body = {"ok": True, "data": list(items)}
    return httpx.Response(200, content=json.dumps(body, default=str))


async def test_find_tells_identical_orders_apart_by_time(adapter, api, make_emission):
    first = example("facepro", "list.200")["body"]["data"][0]
    later = {**first, "tracking_id": "later", "fecha_emision": "2026-05-10T16:00:00-05:00"}
    api.get("/documentos").mock(return_value=listing(first, later))
    found = await adapter.find(make_emission("co-invoice", edit=documented_moment))
    assert found.provider_reference == first["tracking_id"]


async def test_find_reads_every_page(adapter, api, make_emission):
    wanted = example("facepro", "list.200")["body"]["data"][0]
    others = [{**wanted, "tracking_id": f"other-{i}", "totales": {"total": i}} for i in range(100)]
    route = api.get("/documentos")
    route.side_effect = [listing(*others), listing(wanted)]
    found = await adapter.find(make_emission("co-invoice", edit=documented_moment))
    assert found.provider_reference == wanted["tracking_id"]
    assert [c.request.url.params["page"] for c in route.calls] == ["1", "2"]
    assert route.calls[0].request.url.params["per_page"] == "100"


async def test_find_with_several_matches_is_ambiguous(adapter, api, make_emission):
    first = example("facepro", "list.200")["body"]["data"][0]
    api.get("/documentos").mock(return_value=listing(first, {**first, "tracking_id": "another"}))
    with pytest.raises(Ambiguous) as caught:
        await adapter.find(make_emission("co-invoice", edit=documented_moment))
    assert caught.value.code == "several-matches"


async def test_status_without_tracking_id_cannot_be_asked(adapter):
    with pytest.raises(NotSearchable):
        await adapter.status(ProviderRef(fiscal_id="a" * 96))


async def test_health_reads_me(adapter, api, documented):
    api.get("/me").mock(return_value=documented("facepro", "me.200"))
    health = await adapter.health("901234567")
    assert health.detail == {"nit": "901234567", "name": "MI EMPRESA SAS", "state": "activo"}


async def test_health_with_bad_token_is_misconfigured(adapter, api, documented):
    api.get("/me").mock(return_value=documented("facepro", "me.401"))
    with pytest.raises(Misconfigured):
        await adapter.health("901234567")


async def test_fetch_xml(adapter, api, documented):
    api.get("/documentos/t1/xml").mock(return_value=httpx.Response(200, content=b"<Invoice/>"))
    api.get("/documentos/t2/xml").mock(return_value=documented("facepro", "consultar.404"))
    assert await adapter.fetch_xml(ProviderRef(provider_reference="t1")) == b"<Invoice/>"
    assert await adapter.fetch_xml(ProviderRef(provider_reference="t2")) is None
    assert await adapter.fetch_pdf(ProviderRef(provider_reference="t1")) is None


# -- against the simulator, over loopback HTTP ---------------------------------------------------------


@pytest.fixture
async def live(simulator):
    simulator.states["facepro"].set_fault("ok")
    instance = facepro(simulator.url("facepro") + "/api/v1", timeout_s=0.5)
    yield instance
    await instance.aclose()


@pytest.fixture
def today_emission(make_emission):
    def build(stem: str = "co-invoice", edit=None) -> Emission:
        return make_emission(stem, edit=edit, fixed_date=False)

    return build


async def test_live_emit_status_xml_for_every_kind(live, simulator, today_emission):
    for kind, (stem, edit) in sorted(KIND_EXAMPLES.items()):
        outcome = await live.emit(today_emission(stem, edit))
        assert outcome.status == "accepted", kind
        entry = simulator.states["facepro"].issued(outcome.provider_reference)
        assert entry is not None and entry.number == outcome.number and entry.fiscal_id == outcome.fiscal_id
        status = await live.status(outcome.ref)
        assert (status.status, status.number) == ("accepted", outcome.number)
        xml = await live.fetch_xml(outcome.ref)
        assert outcome.fiscal_id.encode() in xml and outcome.number.encode() in xml


async def test_live_numbers_are_consecutive(live, today_emission):
    first = await live.emit(today_emission())
    second = await live.emit(today_emission())
    assert int(second.number.removeprefix("SETP")) == int(first.number.removeprefix("SETP")) + 1


async def test_live_faults(live, simulator, today_emission):
    state = simulator.states["facepro"]
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


async def test_live_hang_is_ambiguous_then_found(live, simulator, today_emission):
    """The simulator issues the document and never answers in time: Ambiguous, and find() then
    recovers exactly the document the simulator issued (reconciliation)."""
    emission = today_emission(edit=lambda raw: raw["lines"][0].update(quantity="7"))
    before = len(simulator.states["facepro"].entries())
    simulator.states["facepro"].set_fault("hang", 1)
    with pytest.raises(Ambiguous):
        await live.emit(emission)
    issued = simulator.states["facepro"].entries()[before:]
    assert len(issued) == 1
    found = await live.find(emission)
    assert found is not None and found.provider_reference == issued[0].reference


async def test_live_schema_violation_is_rejected_with_paths(live, today_emission):
    emission = today_emission()
    emission.document.customer.email = "not-an-email"
    with pytest.raises(Rejected) as caught:
        await live.emit(emission)
    assert [e.path for e in caught.value.errors] == ["customer.email"]


def test_empty_token_is_misconfigured():
    with pytest.raises(Misconfigured):
        facepro(token="")


async def test_live_without_token_is_401(simulator):
    url = simulator.url("facepro") + "/api/v1"
    async with httpx.AsyncClient() as client:
        me = await client.get(f"{url}/me")
        emit = await client.post(f"{url}/documentos", json={}, headers={"Authorization": "Basic x"})
    assert (me.status_code, me.json()) == (401, example("facepro", "me.401")["body"])
    assert (emit.status_code, emit.json()) == (401, example("facepro", "emit.401")["body"])


async def test_live_documents_belong_to_their_company(simulator, today_emission):
    url = simulator.url("facepro") + "/api/v1"
    mine, other = facepro(url), facepro(url, token="8|other-company")
    outcome = await mine.emit(today_emission())
    assert (await mine.status(outcome.ref)).status == "accepted"
    assert (await other.status(outcome.ref)).status == "not_found"
    assert await other.fetch_xml(outcome.ref) is None
    await mine.aclose()
    await other.aclose()


async def test_live_future_issue_date_is_rejected(live, today_emission):
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date()
    emission = today_emission()
    emission.document.issue_date = tomorrow
    with pytest.raises(Rejected) as caught:
        await live.emit(emission)
    assert [e.path for e in caught.value.errors] == ["issue_date"]


# -- the evidence rule (issue 14): only documented absence counts --------------------------------


async def test_a_bare_404_to_a_status_query_is_not_not_found(adapter, api):
    api.get("/documentos/x/consultar").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(ProviderFailure):  # a failed query ("cannot tell"), never "not issued"
        await adapter.status(ProviderRef(provider_reference="x"))


@pytest.mark.parametrize("status", [201, 202, 204])
async def test_an_undocumented_2xx_to_a_status_query_is_no_rejection(adapter, api, status):
    api.get("/documentos/x/consultar").mock(return_value=httpx.Response(status))
    with pytest.raises(Unavailable):
        await adapter.status(ProviderRef(provider_reference="x"))


@pytest.mark.parametrize("missing", [("adquirente", "documento"), ("totales", "total")])
async def test_a_listed_item_lacking_a_compared_field_cannot_tell(adapter, api, make_emission, missing):
    item = json.loads(json.dumps(example("facepro", "list.200")["body"]["data"][0]))
    del item[missing[0]][missing[1]]
    api.get("/documentos").mock(return_value=listing(item))
    with pytest.raises(Ambiguous) as caught:
        await adapter.find(make_emission("co-invoice", edit=documented_moment))
    assert caught.value.code == "cannot-tell"


async def test_one_document_listed_twice_is_one_match(adapter, api, make_emission):
    first = example("facepro", "list.200")["body"]["data"][0]
    api.get("/documentos").mock(return_value=listing(first, first))
    found = await adapter.find(make_emission("co-invoice", edit=documented_moment))
    assert found.provider_reference == first["tracking_id"]
