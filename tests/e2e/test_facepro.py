"""The gateway over real HTTP in front of the FacEPro simulator: emission of every kind with the
number FacEPro assigns, preview, providers, XML, rejection, fallback from FacEPro to SmartApp,
and reconciliation of a timed-out emission through FacEPro's document list."""

from __future__ import annotations

import json

import pytest

from e2e.documents import as_debit_note, referencing, settled, wait_for
from e2e.tenants import CO_ISSUER, account, dispatch, tenant

KEY = "e2e-facepro-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TENANTS = "\n".join(
    (
        tenant("facepro-co", "FacEPro CO", key_env="E2E_FACEPRO_KEY"),
        CO_ISSUER,
        dispatch(),
        account("facepro-main", "facepro", {"token": "7|e2e-facepro-token"}, own_range=("SETP", 990000001)),
        account("smartapp-backup", "smartapp", {"api_key": "sk_e2e_backup"}, own_range=("SAPP", 1)),
        """
[[tenants.routes]]
match = { country = "CO", kinds = ["invoice"] }
chain = ["facepro-main", "smartapp-backup"]

[[tenants.routes]]
match = { country = "CO" }
chain = ["facepro-main"]
""",
    )
)


@pytest.fixture
def example_bytes(example_bytes):
    """The CO examples as FacEPro can carry them: a cash sale
    (the payment form is fiscal, README.md)."""
    edited = dict(example_bytes)
    for stem in ("co-invoice", "co-credit-note"):
        raw = json.loads(example_bytes[stem])
        raw["payment"] = {"form": "cash", "means": raw.get("payment", {}).get("means", "cash")}
        raw["customer"].pop("address", None)  # so SmartApp, the fallback here, can carry it too
        edited[stem] = json.dumps(raw).encode()
    return edited


@pytest.fixture
def gw(gateway_for, sims):
    for name in ("facepro", "smartapp"):
        sims.states[name].set_fault("ok")
    return gateway_for(TENANTS, env={"E2E_FACEPRO_KEY": KEY})


def test_every_kind_is_issued_with_facepros_number(gw, sims, example_bytes):
    bodies = {  # the notes reference the invoice issued first
        "invoice": example_bytes["co-invoice"],
        "credit_note": example_bytes["co-credit-note"],
        "debit_note": as_debit_note(example_bytes),
    }
    invoice = None
    for kind, body in bodies.items():
        r = gw.client.post(
            "/v1/documents", content=referencing(body, invoice) if invoice else body, headers=AUTH
        )
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["status"], doc["kind"], doc["account"]) == ("accepted", kind, "facepro-main"), doc
        issued = sims.states["facepro"].issued(doc["provider_reference"])
        assert issued is not None
        assert (doc["number"], doc["fiscal_id"]) == (issued.number, issued.fiscal_id)
        assert len(doc["fiscal_id"]) == 96
        invoice = invoice or doc


def test_invoice_warnings_and_xml(gw, example_bytes):
    doc = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH).json()
    assert "notes: FacEPro has no notes field; not sent" in doc["warnings"]
    xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
    assert xml.status_code == 200
    assert doc["fiscal_id"].encode() in xml.content and doc["number"].encode() in xml.content


def test_providers_and_preview_show_facepro(gw, example_bytes):
    providers = {p["account"]: p for p in gw.client.get("/v1/providers", headers=AUTH).json()}
    facepro = providers["facepro-main"]
    assert (facepro["provider"], facepro["numbering"], facepro["kinds"]) == (
        "facepro",
        "provider",
        ["credit_note", "debit_note", "invoice"],
    )
    r = gw.client.post(
        "/v1/documents/preview?provider=facepro-main", content=example_bytes["co-invoice"], headers=AUTH
    )
    assert r.status_code == 200, r.text
    (account,) = r.json()["accounts"]
    assert account["account"] == "facepro-main"
    assert account["payload"]["adquiriente"]["numero_documento"] == "900123456"
    assert [linea["codigo"] for linea in account["payload"]["lineas"]] == ["P001", "SERV-010", "LIB-7"]


def test_rejection_keeps_facepros_field_errors(gw, fault, example_bytes):
    fault("facepro", "reject", 1)
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "rejected", doc
    paths = [e.get("path") for e in doc["authority"]["errors"]]
    assert "customer.id_number" in paths


def test_falls_back_from_facepro_to_smartapp(gw, sims, fault, example_bytes):
    fault("facepro", "down")
    before = len(sims.states["smartapp"].entries())
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "smartapp-backup", "smartapp"), (
        doc
    )
    assert len(sims.states["smartapp"].entries()) == before + 1
    assert [a["account"] for a in doc["attempts"]][-1] == "smartapp-backup"
    assert {a["account"] for a in doc["attempts"]} == {"facepro-main", "smartapp-backup"}


def test_timeout_is_reconciled_through_the_document_list(gw, sims, fault, example_bytes):
    """FacEPro issues the invoice but answers after the client gave up: the document is unknown,
    then found by find() and accepted, with no second issuance anywhere."""
    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["quantity"] = "11"  # a total no other test issues
    facepro_before = len(sims.states["facepro"].entries())
    smartapp_before = len(sims.states["smartapp"].entries())
    fault("facepro", "hang", 1)
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert r.status_code == 201, r.text
    doc = wait_for(gw, r.json()["id"], settled, auth=AUTH)
    issued = sims.states["facepro"].entries()[facepro_before:]
    assert len(issued) == 1
    assert doc["status"] == "accepted", doc
    assert (doc["provider_reference"], doc["number"]) == (issued[0].reference, issued[0].number)
    assert len(sims.states["smartapp"].entries()) == smartapp_before
