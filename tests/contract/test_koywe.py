"""Koywe adapter against its documented contract (contracts/koywe/): payloads validate against the
request schema and match the golden files, with Koywe's amount conventions; the JWT is cached,
refreshed before expiry and once on a 401; every documented answer maps to the right Outcome or
failure class; and the adapter works against the simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.base import (
    Account,
    Ambiguous,
    Misconfigured,
    ProviderRef,
    Rejected,
    Unavailable,
    Unsupported,
    adapter_class,
)
from adapters.koywe import KoyweAdapter, classify_error
from contracts import example, example_names, request_errors

PROVIDER = "koywe"
BASE = "http://127.0.0.1:9/V1"  # never reached: respx answers
CREDENTIALS = {
    "client_id": "pasarela-client",
    "client_secret": "s3cr3t-client-secret",
    "username": "api-user",
    "password": "api-pass-word",
    "account_id": "39",
    # DANE -> Koywe county_id: Koywe's table is not public, so the account lists it; "496" is the
    # county_id of Koywe's Colombian examples (api-billing-postman)
    "county_ids": {"11001": "496"},
}


BOGOTA_ADDRESS = {"line": "Cra 7 # 71-21", "city_code": "11001", "department_code": "11", "country": "CO"}


def with_address(raw: dict[str, Any]) -> None:
    """The credit-note example's customer with an address: Koywe identifies a Colombian receiver
    by its county (receiver_county_id, openapi.json)."""
    raw["customer"].setdefault("address", dict(BOGOTA_ADDRESS))


def as_debit_note(raw: dict[str, Any]) -> None:
    with_address(raw)
    raw["kind"] = "debit_note"
    raw["reason"] = {"code": "value_change", "description": "Cambio de valor"}


def as_pos(raw: dict[str, Any]) -> None:
    raw["kind"] = "pos_invoice"
    raw["customer"]["address"]["postal_code"] = "110111"
    for key in ("payment", "notes"):
        raw.pop(key, None)


KIND_EXAMPLES = {
    "invoice": ("co-invoice", None),
    "credit_note": ("co-credit-note", with_address),
    "debit_note": ("co-credit-note", as_debit_note),
    "pos_invoice": ("co-invoice", as_pos),
}


def koywe(base_url: str = BASE, timeout_s: float = 5.0, **credentials: str) -> KoyweAdapter:
    return KoyweAdapter(
        Account(
            name="koywe",
            provider="koywe",
            base_url=base_url,
            credentials={**CREDENTIALS, **credentials},
            timeout_s=timeout_s,
        )
    )


@pytest.fixture
async def adapter():
    instance = koywe()
    yield instance
    await instance.aclose()


@pytest.fixture
def api(api, documented):
    api.post("/auth", name="auth").mock(return_value=documented("koywe", "auth.200"))
    return api


@pytest.fixture
def invoice(make_emission):
    return make_emission("co-invoice")


def kemper_invoice(raw: dict[str, Any]) -> None:
    """Koywe's documented invoice (request.invoice), expressed canonically."""
    raw["customer"] = {
        "party_type": "company",
        "id_type": "NIT",
        "id_number": "860517022",
        "check_digit": "2",
        "name": "ESCUELA KEMPER URGATE",
        "address": dict(BOGOTA_ADDRESS),
    }
    raw["lines"] = [
        {
            "description": "Prueba Koywe Marco",
            "quantity": "1",
            "unit_price": "1500",
            "discount": {"amount": "100"},
            "taxes": [{"tax": "IVA", "rate": "19"}],
        }
    ]
    for key in ("payment", "notes", "metadata"):
        raw.pop(key, None)


# -- payloads ---------------------------------------------------------------------------------------


def test_registered_with_capabilities():
    cls = adapter_class("koywe")
    assert cls is KoyweAdapter
    assert cls.countries == {"CO"} and cls.kinds == set(KIND_EXAMPLES) and cls.numbering == "provider"


@pytest.mark.parametrize("kind", sorted(KIND_EXAMPLES))
def test_payload_validates_and_matches_golden(kind, adapter, golden, make_emission, wire_json):
    stem, edit = KIND_EXAMPLES[kind]
    emission = make_emission(stem, edit=edit)
    assert emission.document.kind == kind
    payload = wire_json(adapter.build_payload(emission))
    assert request_errors("koywe", kind, payload) == {}
    golden(f"koywe/{kind}", payload)


@pytest.mark.parametrize("name", [n for n in example_names("koywe") if n.startswith("request.")])
def test_documented_requests_satisfy_the_schema(name):
    assert request_errors("koywe", name.removeprefix("request."), example("koywe", name)) == {}


def test_documented_invoice_is_reproduced(adapter, make_emission, wire_json):
    """Same lines and totals as koywe.txt: unit_price before tax, modifier -100, line total and
    document total including the 19 % IVA (1400 + 266 = 1666)."""
    payload = wire_json(adapter.build_payload(make_emission("co-invoice", edit=kemper_invoice)))
    documented = example("koywe", "request.invoice")
    line, doc_line = payload["details"][0], documented["details"][0]
    for field in (
        "quantity",
        "line_description",
        "unit_measure",
        "unit_price",
        "modifier_amount",
        "total_taxes",
        "total_amount_line",
        "taxes",
    ):
        assert line[field] == doc_line[field], field
    assert payload["totals"] == documented["totals"]
    header = payload["header"]
    assert (header["document_type_id"], header["account_id"], header["currency_id"]) == ("82", 39, 28)
    assert (header["receiver_tax_id_code"], header["receiver_tax_id_type"]) == ("860517022-2", "CO-NIT")
    assert (header["issuer_tax_id_code"], header["issuer_country_id"], header["payment_conditions"]) == (
        "900373115-3",
        "66",
        "0",
    )


def test_colombian_receiver_goes_by_its_county_id(adapter, invoice):
    """openapi.json: receiver_county_id "replaces receiver_city and receiver_district" for
    Colombia, as every current Colombian example sends it; the issuer keeps city and district."""
    header = adapter.build_payload(invoice)["header"]
    assert header["receiver_county_id"] == "496"  # the account's county_ids["11001"]
    assert "receiver_city" not in header and "receiver_district" not in header
    assert "issuer_city" in header and "issuer_district" in header
    del header["receiver_county_id"]
    assert request_errors("koywe", "invoice", {"header": header, "details": [], "totals": {}}).get("header")


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ({"line": "Cl 10", "city_code": "05001", "department_code": "05", "country": "CO"}, "'05001'"),
        (None, "municipality"),
    ],
)
def test_a_municipality_without_county_id_is_refused_at_preview(address, says, adapter, make_emission):
    """Koywe's county table is not public: the account's county_ids lists what it bills; anything
    else is a clear error before sending, never a guessed code."""

    def edit(raw: dict[str, Any]) -> None:
        if address is None:
            raw["customer"].pop("address")
        else:
            raw["customer"]["address"] = address

    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=edit))
    [issue] = caught.value.issues
    assert (issue.path, issue.rule) == (
        "customer.address.city_code",
        "koywe-county",
    ) and says in issue.message


def test_amounts_travel_as_exact_json_numbers(adapter, invoice):
    from adapters.koywe import WIRE

    text = WIRE.encode(adapter.build_payload(invoice)).decode()
    assert '"total_amount":358050.00' in text and '"unit_price":150000.00' in text
    assert '"total_amount":"' not in text


def test_credit_terms_become_payment_conditions(adapter, invoice):
    assert adapter.build_payload(invoice)["header"]["payment_conditions"] == "30"


@pytest.mark.parametrize(
    ("kind", "edit", "type_id", "reference_type", "code"),
    [
        ("credit_note", lambda raw: raw.update(reason={"code": "annulment"}), "83", "82", 1),
        ("credit_note", None, "83", "82", 3),
        ("debit_note", as_debit_note, "84", "82", 3),
        ("credit_note", lambda raw: raw["reference"].update(kind="pos_invoice"), "88", "87", 3),
    ],
)
def test_notes_reference_the_document(kind, edit, type_id, reference_type, code, adapter, make_emission):
    def edited(raw: dict[str, Any]) -> None:
        with_address(raw)
        if edit is not None:
            edit(raw)

    payload = adapter.build_payload(make_emission("co-credit-note", edit=edited))
    assert payload["header"]["document_type_id"] == type_id
    (reference,) = payload["references"]
    assert reference["document_type_id"] == reference_type
    assert reference["reference_code"] == code
    assert (reference["reference_number"], reference["reference_date"]) == ("SETP990000001", "2026-11-24")


@pytest.mark.parametrize(
    ("edit", "path", "rule"),
    [
        (
            lambda raw: raw["lines"][0]["taxes"].__setitem__(0, {"tax": "INC", "rate": "8"}),
            "lines[0].taxes[0].tax",
            "koywe-tax",
        ),
        (lambda raw: raw["lines"][0].update(unit="KGM"), "lines[0].unit", "koywe-unit"),
        (
            lambda raw: raw["customer"].update(id_type="CC", check_digit=None),
            "customer.id_type",
            "koywe-receiver-id",
        ),
        (
            lambda raw: raw.update(discounts=[{"reason": "pronto pago", "amount": "1000"}]),
            "discounts",
            "koywe-document-discounts",
        ),
        (
            lambda raw: raw.update(charges=[{"reason": "propina", "amount": "1000", "kind": "tip"}]),
            "charges",
            "koywe-document-charges",
        ),
        (
            lambda raw: raw.update(withholdings=[{"tax": "ReteFuente", "rate": "4"}]),
            "withholdings",
            "koywe-withholdings",
        ),
        (lambda raw: raw.update(currency="USD"), "currency", "koywe-currency"),
    ],
)
def test_what_the_material_does_not_document_is_refused(edit, path, rule, adapter, make_emission):
    with pytest.raises(Unsupported) as caught:
        adapter.build_payload(make_emission("co-invoice", edit=edit))
    assert [(i.path, i.rule) for i in caught.value.issues] == [(path, rule)]


def test_informational_drops_are_listed(adapter, invoice):
    assert adapter.warnings(invoice) == [
        "payment.means: no Colombian field in the Koywe material; not sent",
        "customer.tax_responsibilities: Koywe takes them from its own customer data; not sent",
        "metadata: Koywe has no metadata field; not sent",
    ]


# -- the bearer token ---------------------------------------------------------------------------------


async def test_auth_body_uses_the_documented_names(adapter, invoice, api, documented):
    api.post("/documents").mock(return_value=documented("koywe", "documents.201"))
    await adapter.emit(invoice)
    sent = json.loads(api["auth"].calls.last.request.content)
    assert sent == {
        "grant_type": "password",
        "client_id": "pasarela-client",
        "client_secret": "s3cr3t-client-secret",
        "username": "api-user",
        "password": "api-pass-word",
    }
    token = example("koywe", "auth.200")["body"]["access_token"]
    assert api.calls.last.request.headers["authorization"] == f"Bearer {token}"


async def test_token_is_cached_per_account(adapter, invoice, api, documented):
    api.post("/documents").mock(return_value=documented("koywe", "documents.201"))
    api.get("/documents/4839211").mock(return_value=documented("koywe", "document.200.accepted"))
    outcome = await adapter.emit(invoice)
    await adapter.status(outcome.ref)
    await adapter.emit(invoice)
    assert api["auth"].call_count == 1
    other = koywe()  # another account instance has its own token
    await other.status(outcome.ref)
    assert api["auth"].call_count == 2
    await other.aclose()


async def test_token_is_refreshed_before_it_expires(adapter, api, documented):
    now = [1000.0]
    adapter.clock = lambda: now[0]
    api.get("/documents/4839211").mock(return_value=documented("koywe", "document.200.accepted"))
    ref = ProviderRef(provider_reference="4839211")
    await adapter.status(ref)
    now[0] += 3600 - 61  # still more than the 60 s margin left
    await adapter.status(ref)
    assert api["auth"].call_count == 1
    now[0] += 2  # inside the margin: fetch a new one before Koywe refuses it
    await adapter.status(ref)
    assert api["auth"].call_count == 2


async def test_a_401_refreshes_the_token_once_and_resends(adapter, invoice, api, documented):
    route = api.post("/documents").mock(
        side_effect=[documented("koywe", "documents.401"), documented("koywe", "documents.201")]
    )
    outcome = await adapter.emit(invoice)
    assert outcome.status == "accepted"
    assert route.call_count == 2 and api["auth"].call_count == 2


async def test_concurrent_401s_share_one_new_token(adapter, invoice, api, documented):
    first = example("koywe", "auth.200")["body"]["access_token"]
    renewed = {**example("koywe", "auth.200")["body"], "access_token": "renewed-token"}
    api["auth"].mock(side_effect=[documented("koywe", "auth.200"), httpx.Response(200, json=renewed)])

    def answer(request: httpx.Request) -> httpx.Response:
        refused = request.headers["authorization"] == f"Bearer {first}"
        return documented("koywe", "documents.401" if refused else "documents.201")

    api.post("/documents").mock(side_effect=answer)
    outcomes = await asyncio.gather(adapter.emit(invoice), adapter.emit(invoice), adapter.emit(invoice))
    assert [o.status for o in outcomes] == ["accepted"] * 3
    assert api["auth"].call_count == 2


async def test_a_second_401_is_misconfigured(adapter, invoice, api, documented):
    route = api.post("/documents").mock(return_value=documented("koywe", "documents.401"))
    with pytest.raises(Misconfigured, match="Invalid or expired token"):
        await adapter.emit(invoice)
    assert route.call_count == 2 and api["auth"].call_count == 2


async def test_refused_credentials_are_misconfigured_without_the_secret(adapter, invoice, api, documented):
    api["auth"].mock(return_value=documented("koywe", "auth.401"))
    route = api.post("/documents")
    with pytest.raises(Misconfigured) as caught:
        await adapter.emit(invoice)
    assert not route.called
    assert caught.value.message == "Invalid client credentials"
    assert CREDENTIALS["client_secret"] not in repr(caught.value.raw) + caught.value.message


async def test_auth_quota_is_unavailable(adapter, invoice, api):
    api["auth"].mock(
        return_value=httpx.Response(429, headers={"Retry-After": "5"}, json={"error": "Too many requests"})
    )
    with pytest.raises(Unavailable) as caught:
        await adapter.emit(invoice)
    assert caught.value.retry_after == 5


# -- documented answers -------------------------------------------------------------------------------


async def test_created_and_accepted(adapter, invoice, api, documented):
    api.post("/documents").mock(return_value=documented("koywe", "documents.201"))
    outcome = await adapter.emit(invoice)
    assert outcome.status == "accepted"
    assert (outcome.provider_reference, outcome.number) == ("4839211", "1040109")
    cufe = outcome.fiscal_id
    assert cufe is not None and len(cufe) == 96 and cufe.encode() in outcome.xml  # read from the signed XML
    assert outcome.links == {"self": "https://api-billing.koywe.com/V1/documents/4839211"}
    assert outcome.raw["electronic_document"]["document_xml"].startswith("<base64")
    assert outcome.warnings == adapter.warnings(invoice)


async def test_created_while_dian_validates(adapter, invoice, api, documented):
    api.post("/documents").mock(return_value=documented("koywe", "documents.201.processing"))
    outcome = await adapter.emit(invoice)
    assert (outcome.status, outcome.fiscal_id, outcome.provider_reference) == ("pending", None, "4839211")


@pytest.mark.parametrize(
    ("name", "status", "errors", "warned"),
    [
        ("document.200.accepted", "accepted", 0, False),
        ("document.200.processing", "pending", 0, False),
        ("document.200.warnings", "accepted", 0, True),
        ("document.200.rejected", "rejected", 1, False),
        ("document.200.sending-rejected", "rejected", 1, False),
    ],
)
async def test_status_reads_taxbureau_validation(name, status, errors, warned, adapter, api, documented):
    api.get("/documents/4839211").mock(return_value=documented("koywe", name))
    outcome = await adapter.status(ProviderRef(provider_reference="4839211"))
    assert outcome.status == status
    assert len(outcome.authority.errors) == errors
    assert bool(outcome.warnings) is warned
    comments = example("koywe", name)["body"]["header"]["taxbureau_validation_comments"]
    assert outcome.authority.message == (comments or None)


async def test_status_of_an_unknown_document(adapter, api, documented):
    api.get("/documents/1").mock(return_value=documented("koywe", "document.404"))
    assert (await adapter.status(ProviderRef(provider_reference="1"))).status == "not_found"


@pytest.mark.parametrize(
    ("name", "failure"),
    [("documents.400", Rejected), ("documents.429", Unavailable), ("documents.500", Ambiguous)],
)
async def test_documented_errors(name, failure, adapter, invoice, api, documented):
    api.post("/documents").mock(return_value=documented("koywe", name))
    with pytest.raises(failure) as caught:
        await adapter.emit(invoice)
    assert type(caught.value) is failure
    assert caught.value.message == example("koywe", name)["body"]["error"]
    if name == "documents.429":
        assert caught.value.retry_after == 30


async def test_timeout_after_sending_is_ambiguous(adapter, invoice, api):
    api.post("/documents").mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(Ambiguous):
        await adapter.emit(invoice)


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("documents-list.200", "4839211"),
        ("documents-list.200.empty", None),
        ("documents-list.200.several", Ambiguous),
    ],
)
async def test_find_searches_by_receiver_total_and_day(name, found, adapter, make_emission, api, documented):
    emission = make_emission("co-invoice", edit=kemper_invoice)
    route = api.get("/documents").mock(return_value=documented("koywe", name))
    if found is Ambiguous:
        with pytest.raises(Ambiguous):
            await adapter.find(emission)
        return
    ref = await adapter.find(emission)
    assert (ref.provider_reference if ref else None) == found
    params = route.calls.last.request.url.params
    assert params["receiver_tax_id_code"] == "860517022-2" and params["document_type_id"] == "82"
    assert params["min_total_amount"] == params["max_total_amount"] == "1666.00"
    assert params["issue_date_from"] == params["issue_date_to"] == "2026-11-24"


async def test_fetch_xml_and_pdf(adapter, api, documented):
    api.get("/documents/4839211").mock(return_value=documented("koywe", "document.200.accepted"))
    ref = ProviderRef(provider_reference="4839211")
    assert (await adapter.fetch_xml(ref)).startswith(b"<?xml")
    assert (await adapter.fetch_pdf(ref)).startswith(b"%PDF")


def test_classify_keeps_koywes_message(documented):
    failure = classify_error(documented("koywe", "documents.400"), emits=True)
    assert isinstance(failure, Rejected) and failure.message == "Invalid document type ID"


# -- against the simulator over loopback --------------------------------------------------------------


@pytest.fixture
async def live(simulator):
    simulator.states["koywe"].set_fault("ok")
    instance = koywe(base_url=simulator.url("koywe") + "/V1", timeout_s=0.5)
    yield instance
    await instance.aclose()


@pytest.mark.parametrize("kind", sorted(KIND_EXAMPLES))
async def test_simulator_emit_status_and_find(kind, live, simulator, make_emission):
    stem, edit = KIND_EXAMPLES[kind]
    emission = make_emission(stem, edit=edit, fixed_date=False)
    outcome = await live.emit(emission)
    assert outcome.status == "accepted", outcome
    entry = simulator.states["koywe"].issued(outcome.provider_reference)
    assert entry is not None and entry.fiscal_id == outcome.fiscal_id and entry.number == outcome.number
    polled = await live.status(outcome.ref)
    assert (polled.status, polled.fiscal_id) == ("accepted", outcome.fiscal_id)
    assert (await live.fetch_xml(outcome.ref)) == outcome.xml
    assert (await live.fetch_pdf(outcome.ref) is None) == (kind == "pos_invoice")  # POS: XML only


async def test_simulator_recomputes_the_amounts(live, make_emission):
    payload = live.build_payload(make_emission("co-invoice", fixed_date=False))
    payload["details"][0]["total_amount_line"] += Decimal("0.01")
    from adapters.koywe import WIRE

    answer = await live.http.send(
        "POST",
        "/documents",
        content=WIRE.encode(payload),
        headers={"Authorization": f"Bearer {await live.token()}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and "total_amount_line" in answer.json()["error"]
    assert isinstance(classify_error(answer, emits=True), Rejected)


async def test_simulator_wants_the_county_of_a_colombian_receiver(live, make_emission):
    """Like Koywe (openapi.json), the simulator refuses a Colombian receiver given by city and
    district instead of receiver_county_id."""
    from adapters.koywe import WIRE

    payload = live.build_payload(make_emission("co-invoice", fixed_date=False))
    payload["header"].pop("receiver_county_id")
    payload["header"].update(receiver_city="Bogotá, D.C.", receiver_district="Bogotá")
    answer = await live.http.send(
        "POST",
        "/documents",
        content=WIRE.encode(payload),
        headers={"Authorization": f"Bearer {await live.token()}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and "receiver_county_id" in answer.json()["error"]


async def test_simulator_refuses_empty_credentials(simulator, make_emission):
    instance = koywe(base_url=simulator.url("koywe") + "/V1", password="")
    with pytest.raises(Misconfigured):
        await instance.emit(make_emission("co-invoice", fixed_date=False))
    await instance.aclose()


async def test_simulator_refuses_an_unknown_token(live, simulator):
    live._token, live._expires_at = "not-a-koywe-token", live.clock() + 3600  # e.g. revoked by Koywe
    polled = await live.status(ProviderRef(provider_reference="1"))
    assert polled.status == "not_found"  # the 401 was answered by a fresh token, then a 404


@pytest.mark.parametrize(
    ("mode", "failure"), [("down", Unavailable), ("quota", Unavailable), ("reject", Rejected)]
)
async def test_simulator_faults(mode, failure, live, simulator, make_emission):
    simulator.states["koywe"].set_fault(mode, 1)
    emission = make_emission("co-invoice", edit=kemper_invoice, fixed_date=False)
    before = len(simulator.states["koywe"].entries())
    with pytest.raises(failure) as caught:
        await live.emit(emission)
    assert type(caught.value) is failure
    if mode == "quota":
        assert caught.value.retry_after == 2
    assert len(simulator.states["koywe"].entries()) == before  # nothing issued


async def test_simulator_hang_is_ambiguous_then_found(live, simulator, make_emission):
    simulator.states["koywe"].set_fault("hang", 1)
    emission = make_emission(
        "co-invoice", fixed_date=False, edit=lambda raw: raw["lines"][0].update(unit_price="150001")
    )
    with pytest.raises(Ambiguous):
        await live.emit(emission)
    found = await live.find(emission)  # issued before the answer hung: the search finds exactly it
    entry = simulator.states["koywe"].entries()[-1]
    assert found is not None and found.provider_reference == entry.reference


# -- the evidence rule (issue 14): only documented absence, only complete listings ----------------


def koywe_listing(edit: Any) -> httpx.Response:
    body = json.loads(json.dumps(example("koywe", "documents-list.200")["body"]))
    edit(body)
    return httpx.Response(200, json=body)


async def test_a_bare_404_to_a_status_query_is_not_not_found(adapter, api):
    api.get("/documents/4839211").mock(return_value=httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(Rejected):  # a failed query: "cannot tell" for reconciliation, never "not issued"
        await adapter.status(ProviderRef(provider_reference="4839211"))


@pytest.mark.parametrize("status", [201, 202, 204])
async def test_an_undocumented_2xx_to_a_status_query_is_no_rejection(adapter, api, status):
    api.get("/documents/4839211").mock(return_value=httpx.Response(status))
    with pytest.raises(Unavailable):
        await adapter.status(ProviderRef(provider_reference="4839211"))


@pytest.mark.parametrize(
    "edit",
    [
        lambda body: body["documents"][0].pop("total_amount"),  # an item lacking a compared field
        lambda body: body["documents"][0].pop("receiver_tax_id_code"),
        lambda body: body.pop("page_count"),  # where the listing ends is a guess
        lambda body: body.update(total_items=2),  # a short page: one of two listed
    ],
    ids=["no-total", "no-receiver", "no-page-count", "short-page"],
)
async def test_an_incomplete_listing_cannot_tell(edit, adapter, api, make_emission):
    api.get("/documents").mock(return_value=koywe_listing(edit))
    with pytest.raises(Ambiguous) as caught:
        await adapter.find(make_emission("co-invoice", edit=kemper_invoice))
    assert caught.value.code == "cannot-tell"


async def test_one_document_listed_twice_is_one_match(adapter, api, make_emission):
    api.get("/documents").mock(
        return_value=koywe_listing(lambda body: body["documents"].append(dict(body["documents"][0])))
    )
    found = await adapter.find(make_emission("co-invoice", edit=kemper_invoice))
    assert found.provider_reference == "4839211"


async def test_an_item_of_another_receiver_is_not_ours_whatever_the_filter_said(adapter, api, make_emission):
    api.get("/documents").mock(
        return_value=koywe_listing(lambda body: body["documents"][0].update(receiver_tax_id_code="1-1"))
    )
    assert await adapter.find(make_emission("co-invoice", edit=kemper_invoice)) is None


async def test_a_2xx_status_answer_with_the_document_is_read(adapter, api, documented):
    """A 202 where 200 is documented still carries the document: it is the answer, not a failure."""
    accepted = documented("koywe", "document.200.accepted")
    api.get("/documents/4839211").mock(return_value=httpx.Response(202, content=accepted.content))
    outcome = await adapter.status(ProviderRef(provider_reference="4839211"))
    assert (outcome.status, outcome.provider_reference) == ("accepted", "4839211")


async def test_health_logs_in_afresh(adapter, invoice, api, documented):
    """`accounts test` proves the credentials now: a cached token would prove them an hour ago."""
    api.post("/documents").mock(return_value=documented("koywe", "documents.201"))
    await adapter.emit(invoice)
    assert api["auth"].call_count == 1
    health = await adapter.health("900373115")
    assert api["auth"].call_count == 2 and "token" in health.message
    api["auth"].mock(return_value=documented("koywe", "auth.401"))
    with pytest.raises(Misconfigured):
        await adapter.health("900373115")
