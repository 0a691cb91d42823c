"""The gateway over real HTTP in front of the SmartApp simulator: an invoice with the number read
from SmartApp's XML, its XML and PDF, preview (net unit price, notes refused), providers, fallback
from SmartApp to FacEPro, and a timed-out emission that SmartApp cannot be searched for, settled by
an operator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

KEY = "e2e-smartapp-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TENANTS = """
[[tenants]]
id = "smartapp-co"
name = "SmartApp CO"
api_keys = ["${E2E_SMARTAPP_KEY}"]
issuer = { country = "CO", id_type = "NIT", id_number = "900373115", check_digit = "3", name = "ACME" }

[tenants.dispatch]
deadline_s = 10
max_attempts = 2
backoff_base_s = 0.001
backoff_max_s = 0.01
poll_interval_s = 0.02
reconcile_window_s = 0.1
breaker_cooldown_s = 0.2
lease_s = 2

[[tenants.accounts]]
name = "smartapp-main"
provider = "smartapp"
base_url = "{sims.smartapp}"
credentials = { api_key = "sk_e2e_main" }
timeout_s = 0.5

[[tenants.accounts]]
name = "facepro-backup"
provider = "facepro"
base_url = "{sims.facepro}/api/v1"
credentials = { token = "7|e2e-facepro-backup" }
timeout_s = 0.5

[[tenants.routes]]
match = { country = "CO", kinds = ["invoice"] }
chain = ["smartapp-main", "facepro-backup"]
"""


@pytest.fixture
def gw(gateway_for, sims):
    for name in ("facepro", "smartapp"):
        sims.states[name].set_fault("ok")
    return gateway_for(TENANTS, env={"E2E_SMARTAPP_KEY": KEY})


@pytest.fixture
def fault(sims) -> Iterator[Any]:
    """Arm a fault on a simulator for one test, always disarmed afterwards."""
    armed: list[str] = []

    def arm(name: str, mode: str, count: int | None = None) -> None:
        armed.append(name)
        sims.states[name].set_fault(mode, count)

    yield arm
    for name in armed:
        sims.states[name].set_fault("ok")


def wait_for(gw, doc_id: str, done, timeout_s: float = 8.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = gw.client.get(f"/v1/documents/{doc_id}", headers=AUTH).json()
        if done(doc) or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


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
    note = gw.client.post(
        "/v1/documents/preview?provider=smartapp-main", content=example_bytes["co-credit-note"], headers=AUTH
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
    doc = wait_for(gw, r.json()["id"], lambda d: d["needs_attention"] or d["status"] != "unknown")
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
