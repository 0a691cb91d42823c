"""The gateway over real HTTP in front of the SmartApp simulator: an invoice with the number read
from SmartApp's XML, its XML and PDF, preview (net unit price, notes refused), providers, fallback
from SmartApp to FacEPro, and a timed-out emission that SmartApp cannot be searched for, settled by
an operator."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from e2e.documents import referencing, wait_for
from e2e.tenants import CO_ISSUER, account, dispatch, tenant

KEY = "e2e-smartapp-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TENANTS = "\n".join(
    (
        tenant("smartapp-co", "SmartApp CO", key_env="E2E_SMARTAPP_KEY"),
        CO_ISSUER,
        dispatch(),
        account("smartapp-main", "smartapp", {"api_key": "sk_e2e_main"}, own_range=("SETP", 990000001)),
        account("facepro-backup", "facepro", {"token": "7|e2e-facepro-backup"}, own_range=("FPB", 1)),
        """
[[tenants.routes]]
match = { country = "CO", kinds = ["invoice"] }
chain = ["smartapp-main", "facepro-backup"]
""",
    )
)


@pytest.fixture
def example_bytes(example_bytes):
    """The CO examples as SmartApp can carry them: a cash sale to a customer without address codes
    (the payment form and DANE codes are fiscal, README.md)."""
    edited = dict(example_bytes)
    for stem in ("co-invoice", "co-credit-note"):
        raw = json.loads(example_bytes[stem])
        raw["payment"] = {"form": "cash", "means": raw.get("payment", {}).get("means", "cash")}
        raw["customer"].pop("address", None)
        edited[stem] = json.dumps(raw).encode()
    return edited


@pytest.fixture
def gw(gateway_for, sims):
    for name in ("facepro", "smartapp"):
        sims.states[name].set_fault("ok")
    return gateway_for(TENANTS, env={"E2E_SMARTAPP_KEY": KEY})


def test_invoice_is_issued_with_smartapps_number(gw, sims, example_bytes):
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "smartapp-main", "smartapp"), doc
    issued = sims.states["smartapp"].issued(doc["provider_reference"])
    assert issued is not None
    assert (doc["number"], doc["fiscal_id"]) == (issued.number, issued.fiscal_id)
    assert any(w.startswith("lines[1].discount") for w in doc["warnings"])
    sent = issued.payload["lines"][1]
    assert Decimal(str(sent["unit_price"])) * Decimal(str(sent["quantity"])) == Decimal(
        doc["totals"]["lines"][1]["net"]
    )


def test_xml_and_pdf_come_from_smartapps_links(gw, example_bytes):
    doc = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH).json()
    xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
    assert xml.status_code == 200, xml.text
    assert doc["fiscal_id"].encode() in xml.content and doc["number"].encode() in xml.content
    pdf = gw.client.get(f"/v1/documents/{doc['id']}/pdf", headers=AUTH)
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF")


def test_providers_and_preview_show_smartapp(gw, example_bytes):
    providers = {p["account"]: p for p in gw.client.get("/v1/providers", headers=AUTH).json()}
    assert (providers["smartapp-main"]["numbering"], providers["smartapp-main"]["kinds"]) == (
        "provider",
        ["invoice"],
    )
    r = gw.client.post(
        "/v1/documents/preview?provider=smartapp-main", content=example_bytes["co-invoice"], headers=AUTH
    )
    assert r.status_code == 200, r.text
    (account,) = r.json()["accounts"]
    assert Decimal(str(account["payload"]["lines"][1]["unit_price"])) == Decimal("22500.00")
    invoice = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH).json()
    note = gw.client.post(
        "/v1/documents/preview?provider=smartapp-main",
        content=referencing(example_bytes["co-credit-note"], invoice),
        headers=AUTH,
    )
    assert note.status_code == 422, note.text  # no eligible account can express a note
    assert [(e["account"], e["rule"]) for e in note.json()["errors"]] == [("smartapp-main", "smartapp-kind")]


def test_falls_back_from_smartapp_to_facepro(gw, sims, fault, example_bytes):
    fault("smartapp", "down")
    before = len(sims.states["facepro"].entries())
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "facepro-backup", "facepro"), doc
    issued = sims.states["facepro"].entries()[before:]
    assert [e.reference for e in issued] == [doc["provider_reference"]]


def test_timeout_needs_an_operator_then_resolves(gw, sims, fault, example_bytes):
    """SmartApp issues the invoice but answers too late; it has no search, so the document stays
    unknown and needs attention (never sent elsewhere) until an operator settles it."""
    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["quantity"] = "13"
    smartapp_before = len(sims.states["smartapp"].entries())
    facepro_before = len(sims.states["facepro"].entries())
    fault("smartapp", "hang", 1)
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert r.status_code == 201, r.text
    doc = wait_for(gw, r.json()["id"], lambda d: d["needs_attention"] or d["status"] != "unknown", auth=AUTH)
    assert (doc["status"], doc["needs_attention"]) == ("unknown", True), doc
    issued = sims.states["smartapp"].entries()[smartapp_before:]
    assert len(issued) == 1
    assert len(sims.states["facepro"].entries()) == facepro_before  # no fallback while unknown
    resolved = gw.client.post(
        f"/v1/documents/{doc['id']}/resolve",
        json={"issued": True, "provider_reference": issued[0].reference, "number": issued[0].number},
        headers=AUTH,
    )
    assert resolved.status_code == 200, resolved.text
    final = resolved.json()
    assert (final["status"], final["provider_reference"], final["number"]) == (
        "accepted",
        issued[0].reference,
        issued[0].number,
    )
