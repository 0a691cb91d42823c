"""Hacienda adapter against its contract (contracts/hacienda/, contracts/sv-dte/): each kind's DTE
validates against MH's official schema and matches its golden file; the JWS verifies with an
independent JOSE library (PyJWT) and the certificate's public key; the certificate password is
checked as MH's firmador checks it; the token is cached until shortly before it expires; and every
documented MH answer maps to the right Outcome or failure class."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import re
import tomllib
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import jsonschema
import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization

import contracts
from adapters.base import (
    Account,
    Ambiguous,
    Issuer,
    Misconfigured,
    NumberingRange,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    Unsupported,
    adapter_class,
)
from adapters.hacienda import HaciendaAdapter
from adapters.hacienda import dte as mh
from adapters.hacienda.certificate import load_certificate, password_hash, write_test_certificate
from canonical import clock
from canonical.document import Adjustment
from canonical.sv_dte import SCHEMA_FILES, dte_json
from contracts import example, example_names, request_errors

PROVIDER = "hacienda"
BASE = "http://127.0.0.1:9"  # never reached: respx answers
NIT = "06142803901121"
KEY_PASSWORD = "clave-privada-contrato"
CCF_CODE = "7C1F0B52-3D1E-4B8A-9F3C-2A6D5E8B1C40"
UUID_V4_UPPER = re.compile(r"^[A-F0-9]{8}-[A-F0-9]{4}-4[A-F0-9]{3}-[89AB][A-F0-9]{3}-[A-F0-9]{12}$")

_tenants = tomllib.loads((Path(__file__).resolve().parents[2] / "examples" / "tenants.toml").read_text())
SV_ISSUER = msgspec.convert(next(t for t in _tenants["tenants"] if t["id"] == "tienda-sv")["issuer"], Issuer)
CUSTOMER = {
    "party_type": "company",
    "id_type": "NIT",
    "id_number": "06140101001014",
    "nrc": "1234567",
    "name": "Distribuidora Grande S.A. de C.V.",
    "economic_activity": "46900",
    "email": "compras@grande.example",
    "phone": "22334455",
    "address": {
        "line": "Boulevard Los Próceres 45",
        "department_code": "06",
        "city_code": "14",
        "country": "SV",
    },
}


def as_ccf(raw: dict[str, Any]) -> None:
    raw.update(kind="tax_credit_invoice", prices_include_tax=False, customer=CUSTOMER)


def as_note(kind: str, reason: str):
    def edit(raw: dict[str, Any]) -> None:
        as_ccf(raw)
        raw.update(
            kind=kind,
            reference={
                "number": "DTE-03-M001P001-000000000000007",
                "fiscal_id": CCF_CODE,
                "issue_date": "2026-11-20",
                "kind": "tax_credit_invoice",
            },
            reason={"code": reason, "description": "Ajuste acordado con el cliente"},
        )

    return edit


KINDS = {
    "invoice": ("01", None),
    "tax_credit_invoice": ("03", as_ccf),
    "credit_note": ("05", as_note("credit_note", "discount")),
    "debit_note": ("06", as_note("debit_note", "interest")),
}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    return write_test_certificate(NIT, KEY_PASSWORD, tmp_path_factory.mktemp("mh-crt"))


def hacienda(certificate: Path, environment: str = "test", **credentials: str) -> HaciendaAdapter:
    return HaciendaAdapter(
        Account(
            name="hacienda",
            provider="hacienda",
            base_url=BASE,
            environment=environment,  # type: ignore[arg-type]
            timeout_s=5.0,
            credentials={
                "user": NIT,
                "password": "Clave-API-2026!",
                "certificate": str(certificate),
                "certificate_password": KEY_PASSWORD,
                "responsible_name": "Ana María Pérez",
                "responsible_id_number": "04567890-3",
                **credentials,
            },
        )
    )


@pytest.fixture
async def adapter(certificate):
    instance = hacienda(certificate)
    yield instance
    await instance.aclose()


@pytest.fixture
def emission(make_emission):
    def build(
        kind: str = "invoice", *, consecutive: int = 7, prefix: str = "M001P001", reference: str | None = None
    ):
        tipo, edit = KINDS[kind]
        e = make_emission("sv-invoice", edit=edit, issuer=SV_ISSUER)
        rng = NumberingRange(name=f"sv-{tipo}", kinds=[kind], prefix=prefix, to=999_999_999_999_999)
        changes: dict[str, Any] = {
            "consecutive": consecutive,
            "numbering": rng,
            "number": f"{prefix}{consecutive}",
        }
        if reference:
            changes["reference"] = reference
        return msgspec.structs.replace(e, **changes)

    return build


@pytest.fixture
def mh_api(api, documented):
    """Standing auth route: every test authenticates first."""
    api.post("/seguridad/auth").mock(return_value=documented(PROVIDER, "auth.200"))
    return api


@cache
def dte_validator(tipo: str) -> jsonschema.Draft7Validator:
    schema = json.loads(contracts.read_bytes("sv-dte", SCHEMA_FILES[tipo]), parse_float=Decimal)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def public_pem(certificate: Path) -> bytes:
    """The public key as MH holds it: `publicKey/encodied` of the .crt, read here independently."""
    encoded = ElementTree.parse(certificate).getroot().findtext("publicKey/encodied")
    key = serialization.load_der_public_key(base64.b64decode(encoded or ""))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sent(route) -> dict[str, Any]:
    return json.loads(route.calls.last.request.content, parse_float=Decimal)


# -- capabilities, payloads and signature -----------------------------------------------------------


def test_registered_with_capabilities():
    cls = adapter_class("hacienda")
    assert cls is HaciendaAdapter
    assert (cls.countries, cls.numbering) == (frozenset({"SV"}), "ours")
    assert cls.kinds == frozenset(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_dte_validates_against_the_official_schema_and_matches_golden(
    kind, adapter, emission, golden, wire_json
):
    tipo = KINDS[kind][0]
    dte = wire_json(adapter.build_payload(emission(kind)))  # exact decimals, as MH parses them
    errors = [f"{e.json_path}: {e.message}" for e in dte_validator(tipo).iter_errors(dte)]
    assert errors == []
    assert dte["identificacion"]["numeroControl"] == f"DTE-{tipo}-M001P001-000000000000007"
    golden(f"hacienda/{kind}", dte)


def test_the_jws_verifies_with_an_independent_jose_library(adapter, emission, certificate):
    dte, jws = adapter.prepare(emission("tax_credit_invoice"))
    header = jwt.get_unverified_header(jws)
    assert header == {"alg": "RS512"}  # as MH's firmador signs
    payload = jwt.api_jws.PyJWS().decode(jws, public_pem(certificate), algorithms=["RS512"])
    assert payload == dte_json(dte)
    assert json.loads(payload, parse_float=Decimal)["resumen"]["totalPagar"] == dte["resumen"]["totalPagar"]
    with pytest.raises(jwt.InvalidSignatureError):
        head, body, signature = jws.split(".")
        tampered = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB")
        jwt.api_jws.PyJWS().decode(
            f"{head}.{tampered}.{signature}", public_pem(certificate), algorithms=["RS512"]
        )


def test_signing_is_deterministic_so_a_resend_is_byte_identical(adapter, emission):
    assert adapter.prepare(emission()) == adapter.prepare(emission())


def test_the_private_key_password_is_checked_like_the_firmador(certificate):
    clave = ElementTree.parse(certificate).getroot().findtext("privateKey/clave")
    assert clave == password_hash(KEY_PASSWORD)  # SHA-512 hex of the password, as MH stores it
    with pytest.raises(Misconfigured) as wrong:
        load_certificate(str(certificate), "not-the-password")
    assert wrong.value.code == "certificate-password"
    assert "not-the-password" not in wrong.value.message
    with pytest.raises(Misconfigured):
        load_certificate(str(certificate.parent / "missing.crt"), KEY_PASSWORD)


def test_codigo_generacion_is_ours_stable_and_upper_case(adapter, emission):
    first = adapter.build_payload(emission())["identificacion"]["codigoGeneracion"]
    assert UUID_V4_UPPER.match(first)
    assert adapter.build_payload(emission(consecutive=8))["identificacion"]["codigoGeneracion"] == first
    other = adapter.build_payload(emission(reference="another-document"))["identificacion"][
        "codigoGeneracion"
    ]
    assert other != first


def test_numero_control_comes_from_the_range_per_establishment_and_point_of_sale(adapter, emission):
    dte = adapter.build_payload(emission(prefix="S002P003", consecutive=42))
    assert dte["identificacion"]["numeroControl"] == "DTE-01-S002P003-000000000000042"
    assert (dte["emisor"]["codEstable"], dte["emisor"]["codPuntoVenta"]) == ("S002", "P003")
    assert dte["emisor"]["tipoEstablecimiento"] == "01"  # S: sucursal (CAT-009)


def test_content_mh_cannot_take_is_refused_field_by_field(adapter, emission):
    e = emission()
    discounted = msgspec.structs.replace(
        e,
        document=msgspec.structs.replace(
            e.document, discounts=[Adjustment(reason="Promoción", amount=Decimal("1"))]
        ),
    )
    with pytest.raises(Unsupported) as refused:
        adapter.build_payload(discounted)
    assert [(i.path, i.rule) for i in refused.value.issues] == [("discounts", "sv-dte-document-adjustment")]
    with pytest.raises(Unsupported) as unnumbered:
        adapter.build_payload(msgspec.structs.replace(e, consecutive=None))
    assert unnumbered.value.issues[0].rule == "hacienda-numbering"


def test_request_examples_validate():
    for name in ("auth", "recepciondte", "consultadte", "anulardte"):
        assert request_errors(PROVIDER, name, example(PROVIDER, f"request.{name}")) == {}


# -- authentication -----------------------------------------------------------------------------------


async def test_the_token_is_cached_until_shortly_before_it_expires(mh_api, documented, adapter, emission):
    auth = mh_api.routes[0]
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.200"))
    start = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    with clock.set_to(start, tick=False):
        await adapter.emit(emission())
        await adapter.emit(emission())
    assert auth.call_count == 1
    form = dict(x.split("=") for x in auth.calls.last.request.content.decode().split("&"))
    assert form["user"] == NIT
    with clock.set_to(start + dt.timedelta(hours=45), tick=False):  # test tokens live 48 h
        await adapter.emit(emission())
    assert auth.call_count == 1
    with clock.set_to(start + dt.timedelta(hours=46, minutes=1), tick=False):
        await adapter.emit(emission())
    assert auth.call_count == 2
    # MH's token already says "Bearer ": sent as it is
    assert mh_api.calls.last.request.headers["authorization"].startswith("Bearer eyJ")
    assert not mh_api.calls.last.request.headers["authorization"].startswith("Bearer Bearer")


async def test_production_tokens_are_renewed_within_a_day(api, documented, certificate, emission):
    auth = api.post("/seguridad/auth").mock(return_value=documented(PROVIDER, "auth.200"))
    api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.200"))
    adapter = hacienda(certificate, environment="production")
    start = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    with clock.set_to(start, tick=False):
        await adapter.emit(emission())
    with clock.set_to(start + dt.timedelta(hours=22, minutes=1), tick=False):
        await adapter.emit(emission())
    assert auth.call_count == 2


async def test_bad_credentials_are_misconfigured(api, documented, adapter, emission):
    api.post("/seguridad/auth").mock(return_value=documented(PROVIDER, "auth.401"))
    with pytest.raises(Misconfigured) as failure:
        await adapter.emit(emission())
    assert "Usuario no valido" in failure.value.message


@pytest.mark.parametrize(
    ("code", "cls"),
    [(c, cls) for c, cls in mh.AUTH_CODES.items()],
)
def test_auth_codes_100_to_111_are_classified(code, cls):
    failure = mh.auth_failure({"status": "ERROR", "body": {"codigo": code, "mensaje": "texto de MH"}}, 401)
    assert type(failure) is cls and failure.code == code
    assert sorted(mh.AUTH_CODES) == [str(n) for n in range(100, 112)]


async def test_a_refused_token_is_dropped_and_the_next_call_authenticates(
    mh_api, documented, adapter, emission
):
    reception = mh_api.post("/fesv/recepciondte")
    reception.side_effect = [
        documented(PROVIDER, "recepciondte.401"),
        documented(PROVIDER, "recepciondte.200"),
    ]
    with pytest.raises(Unavailable):
        await adapter.emit(emission())
    await adapter.emit(emission())
    assert mh_api.routes[0].call_count == 2


# -- reception answers --------------------------------------------------------------------------------


async def test_procesado_is_accepted_with_the_seal(mh_api, documented, adapter, emission):
    route = mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.200"))
    outcome = await adapter.emit(emission())
    body = sent(route)
    assert request_errors(PROVIDER, "recepciondte", body) == {}
    assert (body["ambiente"], body["version"], body["tipoDte"]) == ("00", 1, "01")
    assert outcome.status == "accepted"
    assert outcome.authority.seal == example(PROVIDER, "recepciondte.200")["body"]["selloRecibido"]
    assert outcome.number == "DTE-01-M001P001-000000000000007"
    stored = json.loads(outcome.xml, parse_float=Decimal)
    assert stored["jws"] == body["documento"]  # the exact JWS sent is the one kept
    assert (
        stored["dte"]["identificacion"]["codigoGeneracion"] == body["codigoGeneracion"] == outcome.fiscal_id
    )
    assert outcome.links["consulta_publica"].endswith(f"codGen={outcome.fiscal_id}&fechaEmi=2026-11-24")


async def test_observaciones_are_warnings(mh_api, documented, adapter, emission):
    mh_api.post("/fesv/recepciondte").mock(
        return_value=documented(PROVIDER, "recepciondte.200.observaciones")
    )
    outcome = await adapter.emit(emission())
    assert outcome.status == "accepted" and outcome.authority.code == "002"
    assert outcome.warnings == ["Hacienda observación: [resumen.totalVentaGra] CALCULO INCORRECTO"]


async def test_rechazado_is_rejected_with_mh_codes_and_texts(mh_api, documented, adapter, emission):
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.400.rechazado"))
    with pytest.raises(Rejected) as rejected:
        await adapter.emit(emission())
    assert rejected.value.code == "020"
    assert [(e.code, e.message) for e in rejected.value.errors] == [
        ("020", "[resumen.totalPagar] CALCULO INCORRECTO"),
        ("resumen.montoTotalOperacion", "[resumen.montoTotalOperacion] CALCULO INCORRECTO"),
    ]


async def test_a_duplicate_codigo_is_reconciled_through_consultadte(mh_api, documented, adapter, emission):
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.400.duplicado"))
    consulta = mh_api.post("/fesv/recepcion/consultadte/").mock(
        return_value=documented(PROVIDER, "consultadte.200")
    )
    outcome = await adapter.emit(emission())
    assert outcome.status == "accepted"
    assert outcome.authority.seal == example(PROVIDER, "consultadte.200")["body"]["selloRecibido"]
    assert "YA EXISTE UN REGISTRO" in outcome.warnings[0]
    asked = sent(consulta)
    assert request_errors(PROVIDER, "consultadte", asked) == {}
    assert (asked["nitEmisor"], asked["tdte"]) == (NIT, "01")


async def test_a_duplicate_that_consultadte_cannot_confirm_is_never_rejected(
    mh_api, documented, adapter, emission
):
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.400.duplicado"))
    mh_api.post("/fesv/recepcion/consultadte/").mock(side_effect=not_received)
    with pytest.raises(Ambiguous):
        await adapter.emit(emission())


async def test_mh_down_is_unavailable(mh_api, documented, adapter, emission):
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.503"))
    with pytest.raises(Unavailable):
        await adapter.emit(emission())


async def test_no_answer_after_sending_is_ambiguous_with_what_to_reconcile_by(mh_api, adapter, emission):
    mh_api.post("/fesv/recepciondte").mock(side_effect=httpx.ReadTimeout("no answer in 8 s"))
    with pytest.raises(Ambiguous) as lost:
        await adapter.emit(emission())
    dte = adapter.build_payload(emission())
    assert lost.value.raw == {
        "fiscal_id": dte["identificacion"]["codigoGeneracion"],
        "number": dte["identificacion"]["numeroControl"],
    }
    assert adapter.http.client.timeout.read == 5.0  # min(account timeout, the manual's 8 s)


def test_the_reception_timeout_is_the_manuals_8_seconds(certificate):
    slow = HaciendaAdapter(msgspec.structs.replace(hacienda(certificate).account, timeout_s=30.0))
    assert slow.http.client.timeout.read == 8.0


# -- consultadte ------------------------------------------------------------------------------------


REF = ProviderRef(fiscal_id="B8D2A5E1-3C4F-4A6B-9D8E-7F1A2B3C4D5E", number="DTE-01-M001P001-000000000000001")


def not_received(request: httpx.Request) -> httpx.Response:
    """MH's 404 for a DTE it never received (examples/consultadte.404), about the codigo asked."""
    asked = json.loads(request.content)["codigoGeneracion"]
    return httpx.Response(
        404, json={**example(PROVIDER, "consultadte.404")["body"], "codigoGeneracion": asked}
    )


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, text="<html>Not Found</html>"),  # a proxy or a wrong path
        httpx.Response(404, json={}),
        httpx.Response(
            404, json={**example(PROVIDER, "consultadte.404")["body"], "codigoGeneracion": "OTRO"}
        ),
    ],
    ids=["html", "empty-json", "another-codigo"],
)
async def test_only_mhs_not_received_about_this_codigo_proves_absence(mh_api, adapter, answer):
    """ARCHITECTURE.md, evidence rule: any other 404 is "cannot tell", never "not issued"."""
    mh_api.post("/fesv/recepcion/consultadte/").mock(return_value=answer)
    with pytest.raises(ProviderFailure):  # a failure of the query, which evidence.py reads as "cannot tell"
        await adapter.status(REF)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("consultadte.200", "accepted", "001"),
        ("consultadte.200.invalidado", "accepted", "INVALIDADO"),
        ("consultadte.200.rechazado", "rejected", "020"),
        ("consultadte.404", "not_found", None),
    ],
)
async def test_consultadte_answers(mh_api, documented, adapter, name, status, code):
    mh_api.post("/fesv/recepcion/consultadte/").mock(return_value=documented(PROVIDER, name))
    outcome = await adapter.status(REF)
    assert (outcome.status, outcome.authority.code, outcome.fiscal_id) == (status, code, REF.fiscal_id)


async def test_find_asks_by_the_codigo_the_emission_always_has(mh_api, documented, adapter, emission):
    consulta = mh_api.post("/fesv/recepcion/consultadte/")
    answers = iter([not_received, lambda _: documented(PROVIDER, "consultadte.200")])
    consulta.side_effect = lambda request: next(answers)(request)
    assert await adapter.find(emission()) is None
    found = await adapter.find(emission())
    dte = adapter.build_payload(emission())
    assert found == ProviderRef(
        provider_reference=dte["identificacion"]["codigoGeneracion"],
        fiscal_id=dte["identificacion"]["codigoGeneracion"],
        number="DTE-01-M001P001-000000000000007",
    )
    assert sent(consulta)["codigoGeneracion"] == found.fiscal_id


# -- invalidación -----------------------------------------------------------------------------------


async def stored_ccf(mh_api, documented, adapter, emission) -> bytes:
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.200"))
    return (await adapter.emit(emission("tax_credit_invoice"))).xml


async def test_invalidacion_restates_the_stored_dte(mh_api, documented, adapter, emission, certificate):
    stored = await stored_ccf(mh_api, documented, adapter, emission)
    mh_api.post("/fesv/recepcion/consultadte/").mock(return_value=documented(PROVIDER, "consultadte.200"))
    route = mh_api.post("/fesv/anulardte").mock(return_value=documented(PROVIDER, "anulardte.200"))
    outcome = await adapter.invalidate(ProviderRef(document=stored), "Rescisión del contrato de venta")
    assert (outcome.status, outcome.authority.code) == ("accepted", "INVALIDADO")
    assert outcome.authority.seal == example(PROVIDER, "anulardte.200")["body"]["selloRecibido"]
    body = sent(route)
    assert request_errors(PROVIDER, "anulardte", body) == {}
    event = json.loads(
        jwt.api_jws.PyJWS().decode(body["documento"], public_pem(certificate), algorithms=["RS512"]),
        parse_float=Decimal,
    )
    schema = json.loads(contracts.read_bytes("sv-dte", "anulacion-schema-v2.json"), parse_float=Decimal)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(event)] == []
    dte = json.loads(stored, parse_float=Decimal)["dte"]
    assert event["documento"]["codigoGeneracion"] == dte["identificacion"]["codigoGeneracion"]
    assert (
        event["documento"]["selloRecibido"] == example(PROVIDER, "consultadte.200")["body"]["selloRecibido"]
    )
    assert event["documento"]["montoIva"] == dte["resumen"]["tributos"][0]["valor"]
    assert (event["motivo"]["tipoAnulacion"], event["documento"]["codigoGeneracionR"]) == (2, None)


async def test_an_invalidation_mh_refuses_keeps_its_words(mh_api, documented, adapter, emission):
    stored = await stored_ccf(mh_api, documented, adapter, emission)
    mh_api.post("/fesv/recepcion/consultadte/").mock(return_value=documented(PROVIDER, "consultadte.200"))
    mh_api.post("/fesv/anulardte").mock(return_value=documented(PROVIDER, "anulardte.400"))
    with pytest.raises(Rejected) as refused:
        await adapter.invalidate(ProviderRef(document=stored), "Rescisión del contrato de venta")
    assert "FUERA DEL PLAZO" in refused.value.message


async def test_invalidation_needs_a_responsible_person(certificate):
    adapter = hacienda(certificate, responsible_name="")
    with pytest.raises(Misconfigured):
        await adapter.invalidate(ProviderRef(fiscal_id=CCF_CODE), "motivo")


def test_every_documented_answer_is_exercised():
    """This module replays each documented answer; a new example file needs a test here."""
    source = Path(__file__).read_text()
    answers = [n for n in example_names(PROVIDER) if not n.startswith("request.")]
    assert [n for n in answers if f'"{n}"' not in source] == []


# -- the simulator: MH's checks, over loopback HTTP -------------------------------------------------


@pytest.fixture(scope="module")
def mh_simulator(certificate, simulator, tmp_path_factory):
    """The simulator holding the certificate's public key and one API user (environment it reads on
    every request), and a second certificate for the same NIT that MH never issued."""
    impostor = write_test_certificate(NIT, KEY_PASSWORD, tmp_path_factory.mktemp("impostor"))
    saved = {n: os.environ.get(n) for n in ("PASARELA_SIM_HACIENDA_CERTS", "PASARELA_SIM_HACIENDA_USERS")}
    os.environ["PASARELA_SIM_HACIENDA_CERTS"] = str(certificate.parent)
    os.environ["PASARELA_SIM_HACIENDA_USERS"] = f"{NIT}:Clave-API-2026!"
    yield simulator.url(PROVIDER), impostor
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
async def live(mh_simulator, certificate):
    url, _ = mh_simulator
    adapter = HaciendaAdapter(msgspec.structs.replace(hacienda(certificate).account, base_url=url))
    yield adapter
    await adapter.aclose()


SIM_SEQUENCE = itertools.count(100)  # the simulator refuses a numeroControl twice: one sequence per run


@pytest.fixture
def today_emission(make_emission):

    def build(kind: str = "invoice", edit=None):
        tipo, kind_edit = KINDS[kind]

        def both(raw):
            if kind_edit:
                kind_edit(raw)
            if edit:
                edit(raw)

        e = make_emission("sv-invoice", edit=both, issuer=SV_ISSUER, fixed_date=False)
        n = next(SIM_SEQUENCE)
        rng = NumberingRange(name=f"sv-{tipo}", kinds=[kind], prefix="M001P001", to=999_999_999_999_999)
        return msgspec.structs.replace(
            e, consecutive=n, numbering=rng, reference=f"sim-{kind}-{n}-{os.getpid()}"
        )

    return build


async def test_simulator_seals_every_kind_and_answers_consultadte(live, today_emission):
    for kind in KINDS:
        outcome = await live.emit(today_emission(kind))
        assert outcome.status == "accepted" and len(outcome.authority.seal) == 40, kind
        assert (await live.status(outcome.ref)).authority.seal == outcome.authority.seal


async def test_simulator_refuses_a_jws_signed_with_another_key(mh_simulator, certificate, today_emission):
    url, impostor = mh_simulator
    adapter = HaciendaAdapter(
        msgspec.structs.replace(
            hacienda(certificate).account,
            base_url=url,
            credentials={**hacienda(certificate).account.credentials, "certificate": str(impostor)},
        )
    )
    with pytest.raises(Rejected) as refused:
        await adapter.emit(today_emission())
    assert refused.value.message == "[documento] FIRMA NO VALIDA"
    await adapter.aclose()


async def test_simulator_refuses_wrong_api_credentials(mh_simulator, certificate, today_emission):
    url, _ = mh_simulator
    adapter = HaciendaAdapter(
        msgspec.structs.replace(hacienda(certificate, password="not-the-api-password").account, base_url=url)
    )
    with pytest.raises(Misconfigured):
        await adapter.emit(today_emission())
    await adapter.aclose()


async def test_simulator_checks_the_schema_totals_dates_and_numbers(live, today_emission, monkeypatch):
    e = today_emission()
    dte = live.build_payload(e)
    original_build = mh.build

    def tampered(change):
        def build(emission):
            built = original_build(emission)
            change(built)
            return built

        return build

    cases = [
        (
            lambda d: d["resumen"].update(totalPagar=d["resumen"]["totalPagar"] + Decimal("0.05")),
            "[resumen.totalPagar] CALCULO INCORRECTO",
        ),
        (
            lambda d: d["identificacion"].update(fecEmi="2099-01-01"),
            "[identificacion.fecEmi] FECHA DE EMISION POSTERIOR A LA FECHA ACTUAL",
        ),
        (
            lambda d: d["identificacion"].update(numeroControl="DTE-01-00000000-000000000000001"),
            "NO CUMPLE LA ESTRUCTURA",
        ),
        (lambda d: d["identificacion"].update(tipoMoneda="EUR"), "[identificacion.tipoMoneda]"),
    ]
    for change, expected in cases:
        monkeypatch.setattr(mh, "build", tampered(change))
        with pytest.raises(Rejected) as refused:
            await live.emit(today_emission())
        assert expected in refused.value.message, refused.value.message
    monkeypatch.setattr(
        mh,
        "build",
        tampered(lambda d: d["resumen"].update(totalPagar=d["resumen"]["totalPagar"] + Decimal("0.01"))),
    )
    within = await live.emit(today_emission())  # within MH's 0.01: accepted with an observación
    assert within.authority.code == "002" and "[resumen.totalPagar]" in within.warnings[0]
    monkeypatch.setattr(mh, "build", original_build)
    first = await live.emit(e)
    assert first.fiscal_id == dte["identificacion"]["codigoGeneracion"]
    second_number = msgspec.structs.replace(e, reference="another-reference-same-number")
    with pytest.raises(Rejected) as refused:
        await live.emit(second_number)
    assert "[identificacion.numeroControl] YA EXISTE" in refused.value.message


async def test_simulator_invalidation_windows(live, today_emission):
    factura = await live.emit(today_emission())
    voided = await live.invalidate(ProviderRef(document=factura.xml), "Rescisión de la venta acordada")
    assert voided.authority.code == "INVALIDADO"
    assert (await live.status(factura.ref)).authority.code == "INVALIDADO"
    # one event per DTE: the same request again meets MH's duplicate and reads back INVALIDADO
    again = await live.invalidate(ProviderRef(document=factura.xml), "Rescisión de la venta acordada")
    assert (again.authority.code, again.authority.seal) == ("INVALIDADO", factura.authority.seal)
    ccf = await live.emit(today_emission("tax_credit_invoice"))
    with clock.set_to(clock.now(dt.UTC) + dt.timedelta(days=2)):  # a CCF: until the end of the next day
        with pytest.raises(Rejected) as late:
            await live.invalidate(ProviderRef(document=ccf.xml), "Rescisión de la venta acordada")
    assert "FUERA DEL PLAZO" in late.value.message


# -- contingency ------------------------------------------------------------------------------------


@pytest.fixture
async def opted_in(certificate):
    adapter = HaciendaAdapter(msgspec.structs.replace(hacienda(certificate).account, contingency=True))
    yield adapter
    await adapter.aclose()


@pytest.mark.parametrize(
    "unreachable",
    [lambda documented: documented(PROVIDER, "recepciondte.503"), lambda _: httpx.ConnectError("refused")],
)
async def test_mh_unreachable_issues_the_dte_in_contingency_when_the_account_opted_in(
    mh_api, documented, opted_in, emission, unreachable
):
    answer = unreachable(documented)
    route = mh_api.post("/fesv/recepciondte")
    route.side_effect = answer if isinstance(answer, Exception) else [answer]
    outcome = await opted_in.emit(emission())
    assert (outcome.status, outcome.authority.code) == ("pending", "CONTINGENCIA")
    dte = json.loads(outcome.xml, parse_float=Decimal)["dte"]
    ident = dte["identificacion"]
    assert (ident["tipoModelo"], ident["tipoOperacion"], ident["tipoContingencia"]) == (2, 2, 1)
    assert [e.message for e in dte_validator("01").iter_errors(dte)] == []
    assert outcome.fiscal_id == ident["codigoGeneracion"] and outcome.number == ident["numeroControl"]


async def test_a_contingency_dte_reaches_mh_after_its_event(
    mh_api, documented, opted_in, emission, certificate
):
    mh_api.post("/fesv/recepciondte").side_effect = [
        documented(PROVIDER, "recepciondte.503"),
        documented(PROVIDER, "recepciondte.200"),
    ]
    issued = await opted_in.emit(emission())
    mh_api.post("/fesv/recepcion/consultadte/").mock(side_effect=not_received)
    event_route = mh_api.post("/fesv/contingencia").mock(
        return_value=documented(PROVIDER, "contingencia.200")
    )
    ref = ProviderRef(fiscal_id=issued.fiscal_id, number=issued.number, document=issued.xml)
    outcome = await opted_in.status(ref)
    assert outcome.status == "accepted"
    assert outcome.authority.seal == example(PROVIDER, "recepciondte.200")["body"]["selloRecibido"]
    body = sent(event_route)
    assert request_errors(PROVIDER, "contingencia", body) == {}
    event = json.loads(
        jwt.api_jws.PyJWS().decode(body["documento"], public_pem(certificate), algorithms=["RS512"]),
        parse_float=Decimal,
    )
    schema = json.loads(contracts.read_bytes("sv-dte", "contingencia-schema-v3.json"), parse_float=Decimal)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(event)] == []
    assert event["detalleDTE"] == [{"noItem": 1, "codigoGeneracion": issued.fiscal_id, "tipoDoc": "01"}]
    assert mh_api.calls.last.request.url.path == "/fesv/recepciondte"  # the same signed DTE, after the event
    assert sent(mh_api.routes[1])["documento"] == json.loads(issued.xml)["jws"]


async def test_a_refused_contingency_event_rejects_the_document(mh_api, documented, opted_in, emission):
    mh_api.post("/fesv/recepciondte").mock(return_value=documented(PROVIDER, "recepciondte.503"))
    issued = await opted_in.emit(emission())
    mh_api.post("/fesv/recepcion/consultadte/").mock(side_effect=not_received)
    mh_api.post("/fesv/contingencia").mock(return_value=documented(PROVIDER, "contingencia.400"))
    outcome = await opted_in.status(
        ProviderRef(fiscal_id=issued.fiscal_id, number=issued.number, document=issued.xml)
    )
    assert outcome.status == "rejected"
    assert "[motivo.fFin] FECHA FIN ANTERIOR A FECHA INICIO" in outcome.authority.message


async def test_simulator_takes_a_contingency_dte_only_after_its_event(
    mh_simulator, simulator, certificate, today_emission
):
    url, _ = mh_simulator
    account = msgspec.structs.replace(hacienda(certificate).account, base_url=url, contingency=True)
    adapter = HaciendaAdapter(account)
    simulator.states[PROVIDER].set_fault("down", 1)  # MH unreachable for the first reception
    issued = await adapter.emit(today_emission())
    assert issued.authority.code == "CONTINGENCIA"
    stored = json.loads(issued.xml, parse_float=Decimal)
    async with httpx.AsyncClient(base_url=url) as client:
        auth = await client.post(
            "/seguridad/auth", data={"user": NIT, "pwd": account.credentials["password"]}
        )
        token = auth.json()["body"]["token"]
        early = await client.post(
            "/fesv/recepciondte",
            content=msgspec.json.encode(mh.reception(stored["dte"], stored["jws"], 1)),
            headers={"Authorization": token, "Content-Type": "application/json"},
        )
    assert early.status_code == 400  # sent before its contingency event: refused
    assert "EVENTO DE CONTINGENCIA" in early.json()["descripcionMsg"]
    sealed = await adapter.status(
        ProviderRef(fiscal_id=issued.fiscal_id, number=issued.number, document=issued.xml)
    )
    assert sealed.status == "accepted" and len(sealed.authority.seal) == 40
    await adapter.aclose()
