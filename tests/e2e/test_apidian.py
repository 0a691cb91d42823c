"""The gateway over real HTTP in front of the APIDIAN simulator: every kind issued under the gateway's
own number with DIAN's CUFE/CUDE, preview, providers, the signed XML, a DIAN rejection inside an
HTTP 200, a lost answer reconciled by CUFE without a second issuance, and a fallback from APIDIAN
to Koywe (mixed numbering allowed by the route)."""

from __future__ import annotations

import json

import pytest

from canonical import dian
from e2e.documents import as_debit_note, settled, wait_for
from e2e.tenants import (
    CO_ISSUER,
    KOYWE_CREDENTIALS,
    account,
    dian_numbering,
    dispatch,
    pos_and_support_numbering,
    tenant,
)

KEY = "e2e-apidian-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TECHNICAL_KEY = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"  # the simulator's (DIAN's public) test range

TENANTS = "\n".join(
    (
        tenant("apidian-co", "ACME Colombia SAS", key_env="E2E_APIDIAN_KEY"),
        # APIDIAN's POS request carries the issuer's postal code (postal_zone_code)
        CO_ISSUER.replace('department_code = "11",', 'department_code = "11", postal_code = "110231",'),
        dispatch(),
        dian_numbering(990600000, notes="A"),  # a slice no other suite uses
        pos_and_support_numbering(900),
        account(
            "apidian-main",
            "apidian",
            {
                "token": "e2e-apidian-api-token",
                "software_pin": "75315",
                "software_pin_eqdocs": "86420",  # the simulator's equivalent-documents software
                "software_pin_support_document": "97531",
            },
        ),
        account("koywe-backup", "koywe", KOYWE_CREDENTIALS),
        """
[[tenants.routes]]
match = { country = "CO", kinds = ["invoice"] }
chain = ["apidian-main", "koywe-backup"]
allow_mixed_numbering = true

[[tenants.routes]]
match = { country = "CO" }
chain = ["apidian-main"]
""",
    )
)


@pytest.fixture
def gw(gateway_for, sims):
    for name in ("apidian", "koywe"):
        sims.states[name].set_fault("ok")
    return gateway_for(TENANTS, env={"E2E_APIDIAN_KEY": KEY})


def test_every_kind_is_issued_under_our_number(gw, sims, example_bytes):
    bodies = {
        "invoice": (example_bytes["co-invoice"], "SETP"),
        "credit_note": (example_bytes["co-credit-note"], "NCA"),
        "debit_note": (as_debit_note(example_bytes), "NDA"),
    }
    for kind, (body, prefix) in bodies.items():
        r = gw.client.post("/v1/documents", content=body, headers=AUTH, params={"provider": "apidian-main"})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["status"], doc["kind"], doc["account"]) == ("accepted", kind, "apidian-main"), doc
        assert doc["number"].startswith(prefix)
        issued = sims.states["apidian"].issued(doc["fiscal_id"])
        assert issued is not None and issued.number == doc["number"]
        sent = issued.payload
        assert f"{sent['prefix']}{sent['number']}" == doc["number"]  # APIDIAN took the gateway's number


def test_pos_and_support_documents_are_issued_with_their_cude_and_cuds(gw, sims, example_bytes):
    """POST /eqdoc and /support-document under the gateway's numbers, each from its own range; the
    support document names the seller, not a customer."""
    for example, endpoint_type, prefix in (
        ("co-pos-invoice", 15, "EPOS"),
        ("co-support-document", 11, "DSP"),
    ):
        r = gw.client.post("/v1/documents", content=example_bytes[example], headers=AUTH)
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["status"], doc["account"], doc["number"]) == (
            "accepted",
            "apidian-main",
            f"{prefix}900",
        ), doc
        sent = sims.states["apidian"].issued(doc["fiscal_id"]).payload
        assert sent["type_document_id"] == endpoint_type
    seller = sims.states["apidian"].issued(doc["fiscal_id"]).payload["seller"]
    assert seller["identification_number"] == "1020304050"  # the tenant buys from the seller


def test_invoice_cufe_is_dians_formula_over_our_totals(gw, sims, example_bytes):
    doc = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH).json()
    assert doc["status"] == "accepted", doc
    sent = sims.states["apidian"].issued(doc["fiscal_id"]).payload
    totals = sent["legal_monetary_totals"]
    assert (str(totals["line_extension_amount"]), str(totals["payable_amount"])) == (
        doc["totals"]["line_extension"],
        doc["totals"]["payable"],
    )
    expected = dian.cufe(
        number=doc["number"],
        issue_date=sent["date"],
        issue_time=sent["time"] + "-05:00",
        line_extension=doc["totals"]["line_extension"],
        taxes={"01": "37050.00"},
        payable=doc["totals"]["payable"],
        supplier_id="900373115",
        customer_id="900123456",
        key=TECHNICAL_KEY,
        environment="2",
    )
    assert doc["fiscal_id"] == expected
    xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
    assert xml.status_code == 200 and doc["fiscal_id"].encode() in xml.content


def test_providers_and_preview_show_apidian(gw, example_bytes):
    providers = {p["account"]: p for p in gw.client.get("/v1/providers", headers=AUTH).json()}
    assert (providers["apidian-main"]["provider"], providers["apidian-main"]["numbering"]) == (
        "apidian",
        "ours",
    )
    r = gw.client.post(
        "/v1/documents/preview?provider=apidian-main", content=example_bytes["co-invoice"], headers=AUTH
    )
    assert r.status_code == 200, r.text
    (account,) = r.json()["accounts"]
    payload = account["payload"]
    assert (payload["prefix"], payload["resolution_number"]) == ("SETP", "18760000001")
    assert payload["customer"]["municipality_id"] == 149  # DANE 11001 through APIDIAN's catalog
    assert [line["unit_measure_id"] for line in payload["invoice_lines"]] == [70, 70, 70]


def test_dian_rejection_inside_http_200_is_rejected(gw, fault, example_bytes):
    fault("apidian", "reject", 1)
    r = gw.client.post(
        "/v1/documents",
        content=example_bytes["co-invoice"],
        headers=AUTH,
        params={"provider": "apidian-main"},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "rejected", doc
    assert doc["authority"]["code"] == "99"
    assert [e["code"] for e in doc["authority"]["errors"]] == ["FAD06"]


def test_lost_answer_is_reconciled_by_cufe(gw, sims, fault, example_bytes):
    """APIDIAN issues the invoice but answers after the client gave up: the gateway asks DIAN,
    through APIDIAN, by the CUFE it computes, and adopts the document; nothing is issued twice."""
    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["quantity"] = "7"
    apidian_before = len(sims.states["apidian"].entries())
    koywe_before = len(sims.states["koywe"].entries())
    fault("apidian", "hang", 1)
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert r.status_code == 201, r.text
    doc = wait_for(gw, r.json()["id"], settled, auth=AUTH)
    issued = sims.states["apidian"].entries()[apidian_before:]
    assert len(issued) == 1
    assert doc["status"] == "accepted", doc
    assert (doc["fiscal_id"], doc["number"]) == (issued[0].fiscal_id, issued[0].number)
    assert len(sims.states["koywe"].entries()) == koywe_before


def test_falls_back_from_apidian_to_koywe(gw, sims, fault, example_bytes):
    fault("apidian", "down")
    before = len(sims.states["koywe"].entries())
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "koywe-backup", "koywe"), doc
    issued = sims.states["koywe"].entries()[before:]
    assert len(issued) == 1 and doc["provider_reference"] == issued[0].reference
    assert {a["account"] for a in doc["attempts"]} == {"apidian-main", "koywe-backup"}
