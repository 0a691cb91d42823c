"""The gateway over real HTTP in front of the Koywe simulator: every kind issued with the number Koywe
assigns and the CUFE of its signed XML, preview and an unsupported tax, providers, a rejection with
Koywe's own message, a lost answer reconciled through Koywe's document list, and a fallback from
Koywe to FacEPro."""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e.documents import settled, wait_for
from e2e.tenants import CO_ISSUER, KOYWE_CREDENTIALS, account, dispatch, tenant

KEY = "e2e-koywe-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}

TENANTS = "\n".join(
    (
        tenant("koywe-co", "ACME Colombia SAS", key_env="E2E_KOYWE_KEY"),
        CO_ISSUER,
        dispatch(),
        account(
            "koywe-main", "koywe", {**KOYWE_CREDENTIALS, "account_id": "39"}, own_range=("SETT", 1040109)
        ),
        account("facepro-backup", "facepro", {"token": "7|e2e-koywe-backup"}, own_range=("FPB", 1)),
        """
[[tenants.routes]]
match = { country = "CO", kinds = ["invoice"] }
chain = ["koywe-main", "facepro-backup"]

[[tenants.routes]]
match = { country = "CO" }
chain = ["koywe-main"]
""",
    )
)


@pytest.fixture
def example_bytes(example_bytes):
    """The CO examples as this module's chain (Koywe, then FacEPro) can carry them: the credit
    note's customer with an address (Koywe identifies a Colombian receiver by its county), the
    invoice a cash sale (FacEPro has no field for credit terms)."""
    invoice, note = json.loads(example_bytes["co-invoice"]), json.loads(example_bytes["co-credit-note"])
    note["customer"]["address"] = invoice["customer"]["address"]
    invoice["payment"] = {"form": "cash", "means": invoice["payment"]["means"]}
    return {
        **example_bytes,
        "co-invoice": json.dumps(invoice).encode(),
        "co-credit-note": json.dumps(note).encode(),
    }


@pytest.fixture
def gw(gateway_for, sims):
    for name in ("koywe", "facepro"):
        sims.states[name].set_fault("ok")
    return gateway_for(TENANTS, env={"E2E_KOYWE_KEY": KEY})


def edited(example_bytes: dict[str, bytes], stem: str, **changes: Any) -> bytes:
    raw = json.loads(example_bytes[stem])
    raw.update(changes)
    return json.dumps(raw).encode()


def test_every_kind_is_issued_with_koywes_number(gw, sims, example_bytes):
    bodies = {
        "invoice": example_bytes["co-invoice"],
        "credit_note": example_bytes["co-credit-note"],
        "debit_note": edited(
            example_bytes, "co-credit-note", kind="debit_note", reason={"code": "value_change"}
        ),
        "pos_invoice": edited(example_bytes, "co-invoice", kind="pos_invoice", payment=None),
    }
    for kind, body in bodies.items():
        r = gw.client.post("/v1/documents", content=body, headers=AUTH, params={"provider": "koywe-main"})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["status"], doc["kind"], doc["account"]) == ("accepted", kind, "koywe-main"), doc
        issued = sims.states["koywe"].issued(doc["provider_reference"])
        assert issued is not None
        assert (doc["number"], doc["fiscal_id"]) == (issued.number, issued.fiscal_id)
        xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
        assert xml.status_code == 200 and doc["fiscal_id"].encode() in xml.content


def test_amounts_reach_koywe_as_our_totals(gw, sims, example_bytes):
    doc = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH).json()
    assert doc["account"] == "koywe-main", doc
    sent = sims.states["koywe"].issued(doc["provider_reference"]).payload
    assert str(sent["totals"]["total_amount"]) == doc["totals"]["payable"] == "358050.00"
    assert str(sent["totals"]["net_amount"]) == doc["totals"]["line_extension"]
    assert "metadata: Koywe has no metadata field; not sent" in doc["warnings"]


def test_providers_preview_and_an_unsupported_tax(gw, example_bytes):
    providers = {p["account"]: p for p in gw.client.get("/v1/providers", headers=AUTH).json()}
    assert (providers["koywe-main"]["provider"], providers["koywe-main"]["numbering"]) == (
        "koywe",
        "provider",
    )
    r = gw.client.post(
        "/v1/documents/preview?provider=koywe-main", content=example_bytes["co-invoice"], headers=AUTH
    )
    assert r.status_code == 200, r.text
    (account,) = r.json()["accounts"]
    header = account["payload"]["header"]
    assert (header["document_type_id"], header["receiver_tax_id_code"]) == ("82", "900123456-8")

    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["taxes"] = [{"tax": "INC", "rate": "8"}]
    r = gw.client.post(
        "/v1/documents/preview?provider=koywe-main", content=json.dumps(raw).encode(), headers=AUTH
    )
    assert r.status_code == 422, r.text  # the only eligible account cannot express it
    problem = r.json()
    assert problem["type"].endswith(":unsupported")
    assert [(e["account"], e["path"], e["rule"]) for e in problem["errors"]] == [
        ("koywe-main", "lines[0].taxes[0].tax", "koywe-tax")
    ]


def test_rejection_keeps_koywes_message(gw, fault, example_bytes):
    fault("koywe", "reject", 1)
    r = gw.client.post("/v1/documents", content=example_bytes["co-credit-note"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "rejected", doc
    assert "Invalid document type ID" in json.dumps(doc)


def test_lost_answer_is_reconciled_through_the_document_list(gw, sims, fault, example_bytes):
    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["quantity"] = "13"  # a total no other test issues
    koywe_before = len(sims.states["koywe"].entries())
    facepro_before = len(sims.states["facepro"].entries())
    fault("koywe", "hang", 1)
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert r.status_code == 201, r.text
    doc = wait_for(gw, r.json()["id"], settled, auth=AUTH)
    issued = sims.states["koywe"].entries()[koywe_before:]
    assert len(issued) == 1
    assert doc["status"] == "accepted", doc
    assert (doc["provider_reference"], doc["number"]) == (issued[0].reference, issued[0].number)
    assert len(sims.states["facepro"].entries()) == facepro_before


def test_falls_back_from_koywe_to_facepro(gw, sims, fault, example_bytes):
    fault("koywe", "down")
    before = len(sims.states["facepro"].entries())
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "facepro-backup", "facepro"), doc
    assert len(sims.states["facepro"].entries()) == before + 1
    # FacEPro numbered it from the range the backup account declares, not Koywe's SETT range
    assert doc["number"].startswith("FPB") and doc["number"][3:].isdigit(), doc["number"]
    assert {a["account"] for a in doc["attempts"]} == {"koywe-main", "facepro-backup"}
