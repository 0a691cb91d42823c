"""The gateway over real HTTP in front of the DIAN simulator, direct (the tenant's own certificate
and software): every kind issued under the gateway's number and accepted after DIAN's checks, the
signed XML served back, preview, a DIAN rejection with rule codes, a lost answer reconciled by CUFE
without a second issuance, a fallback from direct DIAN to APIDIAN, and the buyer's copy (PDF) the
gateway draws itself."""

from __future__ import annotations

import json

import pypdfium2 as pdfium
import pytest
import zxingcpp
from lxml import etree

from canonical.dian import qr_url
from e2e.documents import as_debit_note, referencing, settled, wait_for
from e2e.tenants import (
    CO_ISSUER,
    account,
    dian_account,
    dian_numbering,
    dispatch,
    pos_and_support_numbering,
    tenant,
)
from simulators.dian import xsd_errors
from simulators.pki import generate

KEY = "e2e-dian-key-0123456789abc"
AUTH = {"Authorization": f"Bearer {KEY}"}
SOFTWARE = "e2e00000-1111-2222-3333-444444444444:24680"

TENANTS = "\n".join(
    (
        tenant("dian-co", "ACME Colombia SAS", key_env="E2E_DIAN_KEY"),
        CO_ISSUER,
        dispatch(),
        dian_numbering(990800000, notes="D"),  # a slice no other suite uses
        pos_and_support_numbering(800),
        dian_account("dian-direct", env="E2E_DIAN"),
        dian_account("dian-habilitacion", env="E2E_DIAN", test_set_id="0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"),
        account(
            "apidian-backup",
            "apidian",
            {"token": "e2e-dian-apidian-token", "software_pin": "75315"},
        ),
        """
[[tenants.routes]]
match = { country = "CO" }
chain = ["dian-direct", "apidian-backup"]
""",
    )
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("e2e-dian-pki"), nit="900373115", password="e2e-p12-secret")


@pytest.fixture
def gw(gateway_for, sims, pki, monkeypatch):
    # The simulator reads its registered software on each request (PASARELA_SIM_DIAN_SOFTWARE).
    monkeypatch.setenv("PASARELA_SIM_DIAN_SOFTWARE", SOFTWARE)
    for name in ("dian", "apidian"):
        sims.states[name].set_fault("ok")
    software_id, pin = SOFTWARE.split(":")
    env = {
        "E2E_DIAN_KEY": KEY,
        "E2E_DIAN_SOFTWARE_ID": software_id,
        "E2E_DIAN_SOFTWARE_PIN": pin,
        "E2E_DIAN_P12": str(pki.p12),
        "E2E_DIAN_P12_PASSWORD": pki.password,
    }
    return gateway_for(TENANTS, env=env)


def test_every_kind_is_accepted_under_our_number_and_its_xml_served(gw, sims, example_bytes):
    bodies = {  # the notes reference the invoice issued first
        "invoice": (example_bytes["co-invoice"], "SETP"),
        "credit_note": (example_bytes["co-credit-note"], "NCD"),
        "debit_note": (as_debit_note(example_bytes), "NDD"),
    }
    invoice = None
    for kind, (body, prefix) in bodies.items():
        body = referencing(body, invoice) if invoice else body
        r = gw.client.post("/v1/documents", content=body, headers=AUTH, params={"provider": "dian-direct"})
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["status"], doc["kind"], doc["provider"]) == ("accepted", kind, "dian"), doc
        assert doc["number"].startswith(prefix) and doc["authority"]["code"] == "00"
        invoice = invoice or doc
        issued = sims.states["dian"].issued(doc["fiscal_id"])
        assert issued is not None and issued.number == doc["number"]
        xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
        assert xml.status_code == 200
        assert xml.content.decode() == issued.payload["xml"]  # the very bytes DIAN validated
        root = etree.fromstring(xml.content)
        assert xsd_errors(root) == []
        assert root.findtext("{*}UUID") == doc["fiscal_id"]


def test_pos_and_support_documents_and_their_notes_are_accepted(gw, sims, example_bytes):
    """The POS equivalent document (20) and its adjustment note (94), the support document (05) and its
    adjustment note (95): numbered from their own ranges, accepted after the simulator's checks."""
    issued = {}
    for kind, prefix, code in (("co-pos-invoice", "EPOS", "20"), ("co-support-document", "DSP", "05")):
        r = gw.client.post(
            "/v1/documents", content=example_bytes[kind], headers=AUTH, params={"provider": "dian-direct"}
        )
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["status"], doc["provider"]) == ("accepted", "dian"), doc
        assert doc["number"] == f"{prefix}800"
        xml = gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
        root = etree.fromstring(xml.content)
        assert root.findtext("{*}InvoiceTypeCode") == code and root.findtext("{*}UUID") == doc["fiscal_id"]
        assert sims.states["dian"].issued(doc["fiscal_id"]).kind == doc["kind"]
        issued[doc["kind"]] = doc
    notes = {
        "pos_invoice": ("94", {}),
        "support_document": (
            "95",
            {"supplier": json.loads(example_bytes["co-support-document"])["supplier"]},
        ),
    }
    for kind, (code, parties) in notes.items():
        raw = json.loads(referencing(example_bytes["co-credit-note"], issued[kind]))
        raw["reference"]["kind"] = kind
        if parties:
            del raw["customer"]
            raw.update(parties)
        r = gw.client.post(
            "/v1/documents",
            content=json.dumps(raw).encode(),
            headers=AUTH,
            params={"provider": "dian-direct"},
        )
        assert r.status_code == 201, r.text
        note = r.json()
        assert note["status"] == "accepted", note
        root = etree.fromstring(gw.client.get(f"/v1/documents/{note['id']}/xml", headers=AUTH).content)
        assert root.findtext("{*}CreditNoteTypeCode") == code


def test_habilitacion_test_set_is_pending_then_accepted_by_polling(gw, sims, example_bytes):
    """SendTestSetAsync answers a ZipKey; the gateway polls GetStatusZip (98 first) until DIAN's verdict."""
    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["quantity"] = "3"
    r = gw.client.post(
        "/v1/documents",
        content=json.dumps(raw).encode(),
        headers=AUTH,
        params={"provider": "dian-habilitacion"},
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "pending", first
    doc = wait_for(gw, first["id"], settled, auth=AUTH)
    assert doc["status"] == "accepted", doc
    issued = sims.states["dian"].issued(doc["fiscal_id"])
    assert issued is not None and issued.payload["operation"] == "SendTestSetAsync"


def test_preview_shows_the_signed_ubl(gw, example_bytes):
    providers = {p["account"]: p for p in gw.client.get("/v1/providers", headers=AUTH).json()}
    assert (providers["dian-direct"]["provider"], providers["dian-direct"]["numbering"]) == ("dian", "ours")
    assert {"pos_invoice", "support_document"} <= set(providers["dian-direct"]["kinds"])
    assert {"pos_invoice", "support_document"} <= set(providers["apidian-backup"]["kinds"])
    r = gw.client.post(
        "/v1/documents/preview?provider=dian-direct", content=example_bytes["co-invoice"], headers=AUTH
    )
    assert r.status_code == 200, r.text
    (account,) = r.json()["accounts"]
    root = etree.fromstring(account["payload"].encode())
    assert etree.QName(root).localname == "Invoice"
    assert root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureValue") is not None


def test_dian_rejection_keeps_its_rule_codes(gw, fault, example_bytes):
    fault("dian", "reject", 1)
    r = gw.client.post(
        "/v1/documents", content=example_bytes["co-invoice"], headers=AUTH, params={"provider": "dian-direct"}
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "rejected", doc
    assert [e["code"] for e in doc["authority"]["errors"]] == ["FAD06", "FAB27b"]


def test_lost_answer_is_reconciled_by_cufe_and_issued_once(gw, sims, fault, example_bytes):
    """DIAN takes the invoice but the answer never comes: GetStatus by the CUFE says 66 (no result
    yet), the gateway resends the same signed document, DIAN accepts it once."""
    raw = json.loads(example_bytes["co-invoice"])
    raw["lines"][0]["quantity"] = "5"
    before = len(sims.states["dian"].entries())
    apidian_before = len(sims.states["apidian"].entries())
    fault("dian", "hang", 1)
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert r.status_code == 201, r.text
    doc = wait_for(gw, r.json()["id"], settled, auth=AUTH)
    assert doc["status"] == "accepted", doc
    # 66 before the processing window proves nothing yet: the same document goes to the same account
    assert [a["outcome"] for a in doc["attempts"]] == ["ambiguous", "resend", "accepted"]
    issued = [e for e in sims.states["dian"].entries()[before:] if e.fiscal_id == doc["fiscal_id"]]
    assert len(issued) == 1 and issued[0].number == doc["number"]
    assert len(sims.states["apidian"].entries()) == apidian_before  # never sent elsewhere


def test_addresses_outside_divipola_are_a_problem_with_rule_codes(gw, sims, example_bytes):
    """City and department codes are checked against DIVIPOLA before anything is stored or sent."""
    before = len(sims.states["dian"].entries())
    raw = json.loads(example_bytes["co-invoice"])
    raw["customer"]["address"].update(city_code="05001", department_code="11")
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    errors = [(e["path"], e["rule"]) for e in r.json()["errors"]]
    assert errors == [("customer.address.department_code", "co-city-department-mismatch")]
    raw["customer"]["address"].update(city_code="99999")
    r = gw.client.post("/v1/documents", content=json.dumps(raw).encode(), headers=AUTH)
    assert ("customer.address.city_code", "co-city-code-unknown") in [
        (e["path"], e["rule"]) for e in r.json()["errors"]
    ]
    assert len(sims.states["dian"].entries()) == before


def test_the_accepted_invoice_names_its_places_from_the_codes(gw, sims, example_bytes):
    r = gw.client.post(
        "/v1/documents", content=example_bytes["co-invoice"], headers=AUTH, params={"provider": "dian-direct"}
    )
    doc = r.json()
    assert doc["status"] == "accepted", doc
    root = etree.fromstring(sims.states["dian"].issued(doc["fiscal_id"]).payload["xml"].encode())
    ns = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    addresses = root.findall(".//cac:Address", ns) + root.findall(".//cac:RegistrationAddress", ns)
    assert len(addresses) == 4  # the issuer's and the customer's, physical and registered
    for address in addresses:
        assert address.findtext("{*}CityName") == "Bogotá, D.c."
        assert address.findtext("{*}CountrySubentity") == "Bogotá"
    assert not any("FAJ10" in w or "FAK10" in w for w in doc["warnings"])  # DIAN's names: no notification


# The fallback test leaves dian-direct's circuit open: it stays last.
def test_falls_back_from_dian_to_apidian_under_the_same_number(gw, sims, fault, example_bytes):
    fault("dian", "down")
    before = len(sims.states["apidian"].entries())
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["account"], doc["provider"]) == ("accepted", "apidian-backup", "apidian"), doc
    issued = sims.states["apidian"].entries()[before:]
    assert len(issued) == 1 and issued[0].number == doc["number"]
    assert {a["account"] for a in doc["attempts"]} == {"dian-direct", "apidian-backup"}


def test_the_buyers_copy_is_drawn_from_the_signed_invoice(gw, example_bytes):
    """Issue 19: direct DIAN has no provider to draw the PDF; the gateway serves its own, whose text
    and QR (read back by PDFium and zxing-cpp) carry the number, the CUFE and the payable amount."""
    r = gw.client.post(
        "/v1/documents", content=example_bytes["co-invoice"], headers=AUTH, params={"provider": "dian-direct"}
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    pdf = gw.client.get(f"/v1/documents/{doc['id']}/pdf", headers=AUTH)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    page = pdfium.PdfDocument(pdf.content)[0]
    text = " ".join(page.get_textpage().get_text_range().split())
    assert doc["number"] in text and doc["fiscal_id"] in text
    assert "358.050,00" in text and doc["totals"]["payable"] == "358050.00"
    codes = zxingcpp.read_barcodes(page.render(scale=3).to_pil())
    assert [c.text for c in codes] == [qr_url(doc["fiscal_id"], "test")]
