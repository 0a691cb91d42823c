"""The gateway over real HTTP in front of the SmartBill simulator: emission, the DTE's amounts against
the gateway's totals, preview, providers, a fallback between SmartBill accounts, and a lost answer
that stays unknown (SmartBill cannot be searched) without a second document being issued."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from e2e.tenants import SV_ISSUER, account, dispatch, tenant

KEY = "e2e-smartbill-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
CODIGO = re.compile(r"^[A-F0-9]{8}-[A-F0-9]{4}-4[A-F0-9]{3}-[A-F0-9]{4}-[A-F0-9]{12}$")

TENANTS = "\n".join(
    (
        tenant("tienda-sv", "Tienda El Salvador S.A. de C.V.", key_env="E2E_SMARTBILL_KEY"),
        SV_ISSUER,
        dispatch(deadline_s=5),
        # Nothing listens on port 9: this account is down, so documents fall back to the next one.
        account(
            "smartbill-down",
            "smartbill",
            {"public_key": "pk-down", "private_key": "sk-down"},
            base_url="http://127.0.0.1:9/v1",
            transmitter_code="002",
            timeout_s=None,
        ),
        account(
            "smartbill",
            "smartbill",
            {"public_key": "pk-tienda", "private_key": "sk-tienda-secret"},
            transmitter_code="001",
        ),
        """
[[tenants.routes]]
match = { country = "SV", metadata = { channel = "fallback" } }
chain = ["smartbill-down", "smartbill"]

[[tenants.routes]]
match = { country = "SV", kinds = ["invoice", "credit_note"] }
chain = ["smartbill"]
""",
    )
)


def gateway(gateway_for):
    return gateway_for(TENANTS, env={"E2E_SMARTBILL_KEY": KEY})


def post(gw, body: bytes, **params):
    return gw.client.post("/v1/documents", content=body, headers=AUTH, params=params)


def test_sv_invoice_issued_by_smartbill_with_our_amounts(gateway_for, sims, example_bytes):
    gw = gateway(gateway_for)
    r = post(gw, example_bytes["sv-invoice"])
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "smartbill", "smartbill")
    assert CODIGO.match(doc["fiscal_id"])
    assert doc["number"].startswith("DTE-01-M001P001-")
    assert len(doc["authority"]["seal"]) == 40
    entry = sims.states["smartbill"].issued(doc["fiscal_id"])
    resumen = entry.payload["dte"]["resumen"]
    assert str(resumen["totalPagar"]) == doc["totals"]["payable"] == "27.00"
    assert str(resumen["totalIva"]) == doc["totals"]["tax_total"] == "1.73"
    xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
    assert xml.status_code == 200
    dte = json.loads(xml.content, parse_float=Decimal)
    assert dte["identificacion"]["codigoGeneracion"] == doc["fiscal_id"]


def test_fallback_from_an_unreachable_smartbill_account(gateway_for, sims, example_bytes):
    gw = gateway(gateway_for)
    body = json.loads(example_bytes["sv-invoice"])
    body["metadata"] = {"channel": "fallback"}
    r = post(gw, json.dumps(body).encode())
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"]) == ("accepted", "smartbill")
    assert doc["attempts"][0]["account"] == "smartbill-down"
    assert doc["attempts"][-1]["account"] == "smartbill"
    assert sims.states["smartbill"].issued(doc["fiscal_id"]) is not None


def test_lost_answer_stays_unknown_and_is_not_sent_twice(gateway_for, sims, example_bytes):
    """hang: SmartBill issues the DTE, the answer never comes. SmartBill cannot be searched, so the
    document stays unknown for an operator; no fallback, no second DTE."""
    gw = gateway(gateway_for)
    state = sims.states["smartbill"]
    before = len(state.entries())
    state.set_fault("hang", count=1)
    r = post(gw, example_bytes["sv-invoice"])
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "unknown"
    assert len(state.entries()) == before + 1


def test_preview_shows_the_smartbill_payload(gateway_for, example_bytes):
    gw = gateway(gateway_for)
    r = gw.client.post(
        "/v1/documents/preview",
        content=example_bytes["sv-invoice"],
        headers=AUTH,
        params={"provider": "smartbill"},
    )
    assert r.status_code == 200, r.text
    (account,) = r.json()["accounts"]
    dte = account["payload"]["dteJson"]
    assert dte["receptor"]["documentType"] == "dui"
    assert [str(p["unitPrice"]) for p in dte["products"]] == ["6.50", "2.00", "12.00"]
    assert dte["transmitterCode"] == 1


def test_providers_lists_smartbill_capabilities(gateway_for):
    gw = gateway(gateway_for)
    r = gw.client.get("/v1/providers", headers=AUTH)
    assert r.status_code == 200, r.text
    view = next(p for p in r.json() if p["account"] == "smartbill")
    assert (view["provider"], view["installed"], view["numbering"]) == ("smartbill", True, "provider")
    assert view["countries"] == ["SV"] and sorted(view["kinds"]) == ["credit_note", "invoice"]
