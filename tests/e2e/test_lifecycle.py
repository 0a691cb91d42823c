"""The document lifecycle over real HTTP in front of the simulators: a CO invoice voided by its
annulling credit note through direct DIAN (linked both ways), an SV DTE invalidated at SmartBill,
a DIAN rejection corrected and resent under the same number, and notes built from a stored invoice."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from e2e.tenants import CO_ISSUER, SV_ISSUER, account, dian_account, dian_numbering, dispatch, tenant
from simulators.pki import generate

KEY = "e2e-lifecycle-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
SV_KEY = "e2e-lifecycle-sv-key-0123456789"
SV_AUTH = {"Authorization": f"Bearer {SV_KEY}"}
SOFTWARE = "e2e00000-1111-2222-3333-444444444444:24680"

TENANTS = "\n".join(
    (
        tenant("life-co", "ACME Colombia SAS", key_env="LIFE_KEY"),
        CO_ISSUER,
        dispatch(),
        dian_numbering(990900000, notes="L"),  # a slice no other suite uses
        # generous: these tests are about the lifecycle, not slow answers
        dian_account("dian-direct", env="LIFE", timeout_s=5),
        """
[[tenants.routes]]
chain = ["dian-direct"]
""",
        tenant("life-sv", "Tienda El Salvador S.A. de C.V.", key_env="LIFE_SV_KEY"),
        SV_ISSUER,
        dispatch(deadline_s=5),
        account(
            "smartbill",
            "smartbill",
            {"public_key": "pk-life", "private_key": "sk-life-secret"},
            transmitter_code="001",
            timeout_s=None,
        ),
        """
[[tenants.routes]]
chain = ["smartbill"]
""",
    )
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("e2e-life-pki"), nit="900373115", password="life-p12-secret")


@pytest.fixture
def gw(gateway_for, sims, pki, monkeypatch):
    monkeypatch.setenv("PASARELA_SIM_DIAN_SOFTWARE", SOFTWARE)
    for name in ("dian", "smartbill"):
        sims.states[name].set_fault("ok")
    software_id, pin = SOFTWARE.split(":")
    env = {
        "LIFE_KEY": KEY,
        "LIFE_SV_KEY": SV_KEY,
        "LIFE_SOFTWARE_ID": software_id,
        "LIFE_SOFTWARE_PIN": pin,
        "LIFE_P12": str(pki.p12),
        "LIFE_P12_PASSWORD": pki.password,
    }
    yield gateway_for(TENANTS, env=env)
    for name in ("dian", "smartbill"):
        sims.states[name].set_fault("ok")


def emit(gw, body: bytes, auth=AUTH) -> dict:
    r = gw.client.post("/v1/documents", content=body, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def test_co_void_issues_the_annulling_credit_note_through_the_same_account(gw, sims, example_bytes):
    invoice = emit(gw, example_bytes["co-invoice"])
    assert invoice["status"] == "accepted", invoice
    r = gw.client.post(
        f"/v1/documents/{invoice['id']}/void", json={"reason": "Factura duplicada"}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    voided = r.json()
    assert voided["status"] == "accepted" and voided["voided_by"]
    note = gw.client.get(f"/v1/documents/{voided['voided_by']}", headers=AUTH).json()
    assert (note["kind"], note["status"], note["account"]) == ("credit_note", "accepted", "dian-direct")
    assert note["voids"] == invoice["id"] and note["number"].startswith("NCL")
    assert note["totals"]["payable"] == invoice["totals"]["payable"] == "358050.00"  # full amount
    # what DIAN received: a credit note referencing the invoice's number and CUFE, reason 2 (annulment)
    xml = gw.client.get(f"/v1/documents/{note['id']}/xml", headers=AUTH).text
    assert invoice["number"] in xml and invoice["fiscal_id"] in xml
    assert "<cbc:ResponseCode>2</cbc:ResponseCode>" in xml
    again = gw.client.post(f"/v1/documents/{invoice['id']}/void", json={"reason": "otra vez"}, headers=AUTH)
    assert again.status_code == 409 and again.json()["errors"][0]["rule"] == "void-already"


def test_correct_and_resend_after_a_dian_rejection_keeps_the_number(gw, sims, example_bytes):
    sims.states["dian"].set_fault("reject", 1)
    rejected = emit(gw, example_bytes["co-invoice"])
    assert rejected["status"] == "rejected", rejected
    corrected = json.loads(example_bytes["co-invoice"])
    corrected["lines"][0]["description"] = "Servicio de consultoría (corregido)"
    r = gw.client.put(f"/v1/documents/{rejected['id']}", content=json.dumps(corrected), headers=AUTH)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["status"], doc["number"], doc["id"]) == ("accepted", rejected["number"], rejected["id"])
    assert [a["outcome"] for a in doc["attempts"]] == ["rejected", "corrected", "accepted"]  # history kept
    issued = sims.states["dian"].issued(doc["fiscal_id"])
    assert issued is not None and issued.number == rejected["number"]
    assert "(corregido)" in gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH).text
    # an accepted document is never replaced
    r = gw.client.put(f"/v1/documents/{doc['id']}", content=json.dumps(corrected), headers=AUTH)
    assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "correction-not-allowed"


def test_notes_built_from_a_stored_invoice(gw, example_bytes):
    invoice = emit(gw, example_bytes["co-invoice"])
    credit_lines = [
        {
            "description": "Ajuste de precio",
            "quantity": "1",
            "unit_price": "20000",
            "taxes": [{"tax": "IVA", "rate": "19"}],
        }
    ]
    r = gw.client.post(
        f"/v1/documents/{invoice['id']}/credit-note",
        json={"reason": {"code": "price_adjustment", "description": "Ajuste"}, "lines": credit_lines},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    credit = r.json()
    assert (credit["kind"], credit["status"]) == ("credit_note", "accepted")
    assert credit["totals"]["payable"] == "23800.00"
    xml = gw.client.get(f"/v1/documents/{credit['id']}/xml", headers=AUTH).text
    assert invoice["fiscal_id"] in xml and invoice["number"] in xml  # the CUFE nobody copied by hand
    r = gw.client.post(
        f"/v1/documents/{invoice['id']}/debit-note",
        json={"reason": {"code": "interest", "description": "Intereses"}, "lines": credit_lines},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["status"]) == ("debit_note", "accepted")
    bad = gw.client.post(
        f"/v1/documents/{invoice['id']}/credit-note", json={"lines": credit_lines}, headers=AUTH
    )
    assert bad.status_code == 422 and any(e["path"].startswith("reason") for e in bad.json()["errors"])


def test_sv_void_invalidates_the_dte_at_smartbill(gw, sims, example_bytes):
    dte = emit(gw, example_bytes["sv-invoice"], SV_AUTH)
    assert dte["status"] == "accepted", dte
    r = gw.client.post(
        f"/v1/documents/{dte['id']}/void", json={"reason": "Error en el receptor"}, headers=SV_AUTH
    )
    assert r.status_code == 200, r.text
    voided = r.json()
    assert voided["voided_by"] == "invalidation"
    assert voided["attempts"][-1]["outcome"] == "invalidated"
    assert voided["links"]["invalidation_seal"]
    assert sims.states["smartbill"].issued(dte["fiscal_id"]).payload["estado"] == "INVALIDADO"
    assert Decimal(voided["totals"]["payable"]) == Decimal("27.00")
