"""The gateway over real HTTP in front of the Hacienda simulator: factura, CCF, credit and debit
notes, invalidación, a lost answer reconciled through consultadte, a rejection kept with MH's words,
SmartBill down -> fallback to Hacienda direct, MH's contingency flow, and the versión legible (PDF)
the gateway draws itself. The simulator verifies every JWS with the public
key of the certificate made here, and validates every DTE against the official schema."""

from __future__ import annotations

import base64
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import jwt
import pypdfium2 as pdfium
import pytest
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_der_public_key

from adapters.hacienda.certificate import write_test_certificate
from adapters.hacienda.dte import public_link
from e2e.documents import settled, wait_for
from e2e.tenants import SV_ISSUER, account, dispatch, tenant

KEY = "e2e-hacienda-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
NIT = "06142803901121"
API_PASSWORD = "Clave-API-e2e-2026!"
KEY_PASSWORD = "clave-privada-e2e"
CODIGO = re.compile(r"^[A-F0-9]{8}-[A-F0-9]{4}-4[A-F0-9]{3}-[A-F0-9]{4}-[A-F0-9]{12}$")
SELLO = re.compile(r"^20[0-9]{2}[A-Z0-9]{36}$")

CCF = json.loads((Path(__file__).resolve().parents[2] / "examples" / "sv-tax-credit-invoice.json").read_text())


def numbering(kind: str, tipo: str) -> str:
    return f'\n[[tenants.numbering]]\nname = "sv-{tipo}"\nkinds = ["{kind}"]\nprefix = "M001P001"\nfrom = 1\nto = 999999999999999\n'


TENANTS = "\n".join(
    (
        tenant("tienda-mh", "Tienda El Salvador S.A. de C.V.", key_env="E2E_MH_KEY"),
        SV_ISSUER,
        dispatch(deadline_s=6),
        account(
            "smartbill",
            "smartbill",
            {"public_key": "pk-tienda", "private_key": "sk-tienda-secret"},
            transmitter_code="001",
        ),
        account(
            "hacienda",
            "hacienda",
            {
                "user": NIT,
                "password": "${E2E_MH_PASSWORD}",
                "certificate": "${E2E_MH_CERTIFICATE}",
                "certificate_password": "${E2E_MH_KEY_PASSWORD}",
                "responsible_name": "Ana María Pérez",
                "responsible_id_number": "04567890-3",
            },
        ),
        account(
            "hacienda-contingencia",
            "hacienda",
            {
                "user": NIT,
                "password": "${E2E_MH_PASSWORD}",
                "certificate": "${E2E_MH_CERTIFICATE}",
                "certificate_password": "${E2E_MH_KEY_PASSWORD}",
                "responsible_name": "Ana María Pérez",
                "responsible_id_number": "04567890-3",
            },
            contingency=True,
        ),
        numbering("invoice", "01"),
        numbering("tax_credit_invoice", "03"),
        numbering("credit_note", "05"),
        numbering("debit_note", "06"),
        """
[[tenants.routes]]
match = { country = "SV", kinds = ["invoice"] }
chain = ["smartbill", "hacienda"]
allow_mixed_numbering = true

[[tenants.routes]]
match = { country = "SV" }
chain = ["hacienda"]
""",
    )
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A test .crt for the tenant's NIT, whose public key the simulator holds (its certificates
    folder and API user come from the environment it reads on every request)."""
    folder = tmp_path_factory.mktemp("e2e-mh-certs")
    path = write_test_certificate(NIT, KEY_PASSWORD, folder)
    saved = {n: os.environ.get(n) for n in ("PASARELA_SIM_HACIENDA_CERTS", "PASARELA_SIM_HACIENDA_USERS")}
    os.environ["PASARELA_SIM_HACIENDA_CERTS"] = str(folder)
    os.environ["PASARELA_SIM_HACIENDA_USERS"] = f"{NIT}:{API_PASSWORD}"
    yield path
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def gw(gateway_for, sims, certificate):
    for name in ("smartbill", "hacienda"):
        sims.states[name].set_fault("ok")
    env = {
        "E2E_MH_KEY": KEY,
        "E2E_MH_PASSWORD": API_PASSWORD,
        "E2E_MH_CERTIFICATE": str(certificate),
        "E2E_MH_KEY_PASSWORD": KEY_PASSWORD,
    }
    yield gateway_for(TENANTS, env=env)
    for name in ("smartbill", "hacienda"):
        sims.states[name].set_fault("ok")


def emit(gw, body: bytes | dict, **params) -> dict:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = gw.client.post("/v1/documents", content=content, headers=AUTH, params=params)
    assert r.status_code == 201, r.text
    return r.json()


def public_key_pem(certificate) -> bytes:
    """The certificate's public key, read here from the .crt (not through our adapter)."""
    encoded = ElementTree.parse(certificate).getroot().findtext("publicKey/encodied")
    key = load_der_public_key(base64.b64decode(encoded))
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_factura_direct_to_hacienda_with_its_signed_dte(gw, sims, certificate, example_bytes):
    doc = emit(gw, example_bytes["sv-invoice"], provider="hacienda")
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "hacienda", "hacienda"), doc
    assert CODIGO.match(doc["fiscal_id"]) and doc["provider_reference"] == doc["fiscal_id"]
    assert re.match(r"^DTE-01-M001P001-[0-9]{15}$", doc["number"])
    assert SELLO.match(doc["authority"]["seal"])
    entry = sims.states["hacienda"].issued(doc["fiscal_id"])
    assert str(entry.payload["dte"]["resumen"]["totalPagar"]) == doc["totals"]["payable"] == "27.00"
    stored = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
    assert stored.status_code == 200
    assert stored.headers["content-type"].startswith("application/json")
    body = json.loads(stored.content, parse_float=Decimal)
    assert body["jws"] == entry.payload["jws"]  # the exact JWS MH received is the one kept
    signed = jwt.api_jws.PyJWS().decode(body["jws"], public_key_pem(certificate), algorithms=["RS512"])
    assert json.loads(signed, parse_float=Decimal) == body["dte"]
    assert body["dte"]["identificacion"]["numeroControl"] == doc["number"]


def test_ccf_direct_to_hacienda(gw, sims):
    doc = emit(gw, CCF)
    assert (doc["status"], doc["account"]) == ("accepted", "hacienda"), doc
    assert doc["number"].startswith("DTE-03-M001P001-")
    dte = sims.states["hacienda"].issued(doc["fiscal_id"]).payload["dte"]
    assert dte["resumen"]["tributos"] == [
        {"codigo": "20", "descripcion": "Impuesto al Valor Agregado 13%", "valor": Decimal("14.95")}
    ]
    assert str(dte["resumen"]["totalPagar"]) == doc["totals"]["payable"] == "165.95"


@pytest.mark.parametrize(
    ("path", "kind", "tipo", "reason"),
    [
        ("credit-note", "credit_note", "05", {"code": "discount", "description": "Descuento por volumen"}),
        ("debit-note", "debit_note", "06", {"code": "interest", "description": "Intereses por mora"}),
    ],
)
def test_notes_on_a_ccf(gw, sims, path, kind, tipo, reason):
    ccf = emit(gw, CCF)
    assert ccf["status"] == "accepted", ccf
    lines = [
        {
            "description": "Ajuste",
            "quantity": "1",
            "unit_price": "10.00",
            "taxes": [{"tax": "IVA", "rate": "13"}],
        }
    ]
    r = gw.client.post(
        f"/v1/documents/{ccf['id']}/{path}", json={"reason": reason, "lines": lines}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["kind"], note["status"], note["account"]) == (kind, "accepted", "hacienda"), note
    assert note["number"].startswith(f"DTE-{tipo}-M001P001-")
    dte = sims.states["hacienda"].issued(note["fiscal_id"]).payload["dte"]
    assert dte["documentoRelacionado"][0]["numeroDocumento"] == ccf["fiscal_id"]
    assert dte["resumen"]["montoTotalOperacion"] == Decimal("11.30")


def test_invalidacion_through_the_void_endpoint(gw, sims, example_bytes):
    doc = emit(gw, example_bytes["sv-invoice"], provider="hacienda")
    assert doc["status"] == "accepted", doc
    r = gw.client.post(
        f"/v1/documents/{doc['id']}/void", json={"reason": "Cliente desistió de la compra"}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    voided = r.json()
    assert voided["voided_by"] == "invalidation"
    assert voided["attempts"][-1]["outcome"] == "invalidated"
    assert SELLO.match(voided["links"]["invalidation_seal"])
    entry = sims.states["hacienda"].issued(doc["fiscal_id"]).payload
    assert entry["estado"] == "INVALIDADO"
    assert entry["invalidacion"]["sello"] == voided["links"]["invalidation_seal"]
    again = gw.client.post(f"/v1/documents/{doc['id']}/void", json={"reason": "Otra vez"}, headers=AUTH)
    assert again.status_code == 409


def test_a_lost_answer_is_reconciled_through_consultadte(gw, sims, fault, example_bytes):
    before = len(sims.states["hacienda"].entries())
    fault("hacienda", "hang", 1)  # MH seals the DTE, the answer never comes back within 0.5 s
    doc = emit(gw, example_bytes["sv-invoice"], provider="hacienda")
    doc = wait_for(gw, doc["id"], settled, auth=AUTH)
    assert doc["status"] == "accepted", doc
    assert doc["attempts"][0]["outcome"] == "ambiguous"
    issued = sims.states["hacienda"].entries()[before:]
    assert [e.reference for e in issued] == [doc["fiscal_id"]]  # one DTE, never a second one
    assert doc["authority"]["seal"] == issued[0].payload["sello"]


def test_a_rejection_keeps_mh_codes_and_texts(gw, fault, example_bytes):
    fault("hacienda", "reject", 1)
    doc = emit(gw, example_bytes["sv-invoice"], provider="hacienda")
    assert doc["status"] == "rejected", doc
    assert {"code": "020", "message": "[resumen.totalPagar] CALCULO INCORRECTO"}.items() <= doc["authority"][
        "errors"
    ][0].items()


def test_smartbill_down_falls_back_to_hacienda_direct(gw, sims, fault, example_bytes):
    fault("smartbill", "down")
    doc = emit(gw, example_bytes["sv-invoice"])
    doc = wait_for(gw, doc["id"], settled, auth=AUTH)
    assert (doc["status"], doc["account"]) == ("accepted", "hacienda"), doc
    assert [a["account"] for a in doc["attempts"]][-1] == "hacienda"
    assert "smartbill" in [a["account"] for a in doc["attempts"]]


def test_contingency_when_mh_is_unreachable(gw, sims, fault, example_bytes):
    """An account that opted in: MH down -> the DTE issued in contingency (pending, visible as such);
    once MH answers, the contingency event and then the same signed DTE: accepted with MH's seal."""
    fault("hacienda", "down", 1)
    doc = emit(gw, example_bytes["sv-invoice"], provider="hacienda-contingencia")
    assert (doc["status"], doc["authority"]["code"]) == ("pending", "CONTINGENCIA"), doc
    stored = json.loads(gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH).content)
    assert (
        stored["dte"]["identificacion"]["tipoModelo"],
        stored["dte"]["identificacion"]["tipoOperacion"],
    ) == (2, 2)
    doc = wait_for(gw, doc["id"], settled, auth=AUTH)
    assert doc["status"] == "accepted", doc
    assert SELLO.match(doc["authority"]["seal"])
    entry = sims.states["hacienda"].issued(doc["fiscal_id"])
    assert entry.payload["jws"] == stored["jws"]  # the DTE issued in contingency, as signed then


def test_preview_shows_the_dte_each_sv_account_would_receive(gw, example_bytes):
    r = gw.client.post("/v1/documents/preview", content=example_bytes["sv-invoice"], headers=AUTH)
    assert r.status_code == 200, r.text
    payloads = {p["account"]: p for p in r.json()["accounts"]}
    assert set(payloads) == {"smartbill", "hacienda", "hacienda-contingencia"}  # every eligible account
    assert "dteJson" in payloads["smartbill"]["payload"]
    dte = payloads["hacienda"]["payload"]
    assert re.match(r"^DTE-01-M001P001-[0-9]{15}$", dte["identificacion"]["numeroControl"])
    assert str(dte["resumen"]["totalPagar"]) == "27.00"


def test_the_account_test_authenticates_and_no_secret_leaks(gw):
    r = gw.client.post("/v1/admin/accounts/hacienda/test", headers=AUTH)
    assert r.status_code == 200, r.text
    assert (r.json()["ok"], r.json()["probe"]) == (True, "token")
    listed = gw.client.get("/v1/admin/accounts", headers=AUTH).text
    for secret in (API_PASSWORD, KEY_PASSWORD):
        assert secret not in r.text and secret not in listed


def test_the_version_legible_carries_the_seal_and_the_consultation_qr(gw, sims, example_bytes):
    """Issue 19: the PDF of a DTE the gateway signed names numeroControl, codigoGeneracion and MH's
    sello de recepción, and its QR (decoded from the rendered page) opens MH's public consultation."""
    doc = emit(gw, example_bytes["sv-invoice"], provider="hacienda")
    pdf = gw.client.get(f"/v1/documents/{doc['id']}/pdf", headers=AUTH)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    page = pdfium.PdfDocument(pdf.content)[0]
    text = " ".join(page.get_textpage().get_text_range().split())
    for expected in (
        doc["number"],
        doc["fiscal_id"],
        f"Sello de recepción: {doc['authority']['seal']}",
        "27.00",
    ):
        assert expected in text, expected
    issued = sims.states["hacienda"].issued(doc["fiscal_id"]).payload["dte"]["identificacion"]["fecEmi"]
    codes = [c.text for c in zxingcpp.read_barcodes(page.render(scale=3).to_pil())]
    assert codes == [public_link("test", doc["fiscal_id"], issued)]
