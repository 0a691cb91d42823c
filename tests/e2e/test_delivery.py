"""The buyer's copy by e-mail (issue 19), end to end: the gateway issues to the DIAN simulator and a
real SMTP server (aiosmtpd, on loopback in this process) receives the mail. The zip is opened as the
buyer would: the AttachedDocument parses and its signatures verify, the embedded invoice is the one
DIAN validated, and the PDF is a PDF naming the document. Also: a resend to another address, a
temporary refusal retried, and a permanent one that ends the delivery as failed; each end a webhook."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from email.message import Message

import pypdfium2 as pdfium
import pytest
from lxml import etree
from signxml.xades import XAdESVerifier

from adapters.dian.certificates import load_identity
from e2e.documents import wait_for
from e2e.tenants import CO_ISSUER, dian_account, dian_numbering, dispatch, tenant
from simulators.mailbox import Mailbox
from simulators.pki import generate

KEY = "e2e-delivery-key-0123456789ab"
AUTH = {"Authorization": f"Bearer {KEY}"}
SOFTWARE = "e2e00000-1111-2222-3333-444444444444:24680"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1, port 0 (simulators/mailbox.py)."""
    mailbox = Mailbox().start()
    yield mailbox, mailbox.port
    mailbox.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("e2e-delivery-pki"), nit="900373115", password="e2e-p12-secret")


@pytest.fixture
def gw(gateway_for, sims, pki, smtp, monkeypatch):
    monkeypatch.setenv("PASARELA_SIM_DIAN_SOFTWARE", SOFTWARE)
    sims.states["dian"].set_fault("ok")
    inbox, port = smtp
    inbox.refusals.clear()
    software_id, pin = SOFTWARE.split(":")
    tenants = "\n".join(
        (
            tenant("mail-co", "ACME Colombia SAS", key_env="E2E_MAIL_KEY"),
            CO_ISSUER,
            dispatch(),
            dian_numbering(990700000, notes="M"),  # a slice no other suite uses
            dian_account("dian-direct", env="E2E_MAIL"),
            f"""
[tenants.email]
host = "127.0.0.1"
port = {port}
starttls = false
from = "facturacion@acme.example"
retry_s = [0.05, 0.05]
timeout_s = 5

[[tenants.webhooks]]
url = "http://127.0.0.1:9/h"
secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
events = ["document.delivered", "document.delivery_failed"]

[[tenants.routes]]
match = {{ country = "CO" }}
chain = ["dian-direct"]
""",
        )
    )
    env = {
        "E2E_MAIL_KEY": KEY,
        "E2E_MAIL_SOFTWARE_ID": software_id,
        "E2E_MAIL_SOFTWARE_PIN": pin,
        "E2E_MAIL_P12": str(pki.p12),
        "E2E_MAIL_P12_PASSWORD": pki.password,
    }
    return gateway_for(tenants, env=env)


def issue(gw, example_bytes, buyer: str = "facturacion@cliente.example") -> dict:
    body = example_bytes["co-invoice"].replace(b"facturacion@cliente.example", buyer.encode())
    r = gw.client.post("/v1/documents", content=body, headers=AUTH)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (doc["status"], doc["provider"]) == ("accepted", "dian"), doc
    return doc


def delivered(doc: dict) -> bool:
    return (doc.get("delivery") or {}).get("status") in ("delivered", "failed")


def mail_to(inbox: Mailbox, address: str, number: str) -> Message:
    found = [r.message for r in inbox.to(address) if number in r.message["Subject"]]
    assert len(found) == 1, [r.message["Subject"] for r in inbox.received]
    return found[0]


def test_the_accepted_invoice_is_mailed_to_the_buyer_as_dian_describes(gw, smtp, pki, example_bytes):
    inbox, _ = smtp
    doc = issue(gw, example_bytes)
    done = wait_for(gw, doc["id"], delivered, auth=AUTH, timeout_s=20)
    assert done["delivery"]["status"] == "delivered", done["delivery"]
    assert done["delivery"]["to"] == ["facturacion@cliente.example"] and done["delivery"]["error"] is None
    mail = mail_to(inbox, "facturacion@cliente.example", doc["number"])
    assert mail["Subject"] == f"900373115;ACME Colombia SAS;{doc['number']};01;ACME Colombia SAS"
    assert mail["From"] == "facturacion@acme.example"
    zips = [p for p in mail.walk() if p.get_filename()]
    assert len(zips) == 1 and zips[0].get_content_type() == "application/zip"
    assert zips[0].get_filename().startswith("z0900373115000") and zips[0].get_filename().endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(zips[0].get_payload(decode=True)))
    names = sorted(archive.namelist())
    assert [n.rsplit(".", 1)[1] for n in names] == ["pdf", "xml"] and all(n.startswith("ad") for n in names)
    attached_bytes = archive.read(names[1])
    attached = etree.fromstring(attached_bytes)
    assert etree.QName(attached).localname == "AttachedDocument"
    certificate = load_identity(str(pki.p12), pki.password).certificate
    XAdESVerifier().verify(attached_bytes, x509_cert=certificate)  # the container, signed by the issuer
    embedded = attached.findtext(
        "cac:Attachment/cac:ExternalReference/cbc:Description", namespaces=NS
    ).encode()
    assert embedded == gw.client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH).content
    XAdESVerifier().verify(embedded, x509_cert=certificate)  # the invoice DIAN validated
    assert attached.findtext(".//cac:ResultOfVerification/cbc:ValidationResultCode", namespaces=NS) == "02"
    pdf = archive.read(names[0])
    assert pdf.startswith(b"%PDF-")
    text = " ".join(pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range().split())
    assert doc["number"] in text and doc["fiscal_id"] in text


def test_deliver_resends_to_other_addresses(gw, smtp, example_bytes):
    inbox, _ = smtp
    doc = wait_for(gw, issue(gw, example_bytes)["id"], delivered, auth=AUTH, timeout_s=20)
    r = gw.client.post(
        f"/v1/documents/{doc['id']}/deliver", json={"to": ["contabilidad@cliente.example"]}, headers=AUTH
    )
    assert r.status_code == 202, r.text
    assert r.json()["delivery"]["to"] == ["contabilidad@cliente.example"]
    again = wait_for(
        gw,
        doc["id"],
        lambda d: d["delivery"]["to"] == ["contabilidad@cliente.example"] and delivered(d),
        auth=AUTH,
    )
    assert again["delivery"]["status"] == "delivered"
    mail_to(inbox, "contabilidad@cliente.example", doc["number"])


def test_deliver_refuses_what_it_cannot_send(gw, example_bytes):
    doc = issue(gw, example_bytes)
    r = gw.client.post(f"/v1/documents/{doc['id']}/deliver", json={"to": ["not-an-address"]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "to[0]"
    r = gw.client.post("/v1/documents/no-such-document/deliver", headers=AUTH)
    assert r.status_code == 404


def test_a_temporary_refusal_is_retried_and_a_permanent_one_fails(gw, smtp, example_bytes):
    inbox, _ = smtp
    inbox.refusals["busy@cliente.example"] = ["451 4.3.0 Try again later"]
    doc = wait_for(
        gw, issue(gw, example_bytes, "busy@cliente.example")["id"], delivered, auth=AUTH, timeout_s=20
    )
    assert doc["delivery"]["status"] == "delivered"  # the second try went through
    assert inbox.refusals["busy@cliente.example"] == []
    mail_to(inbox, "busy@cliente.example", doc["number"])
    inbox.refusals["gone@cliente.example"] = ["554 5.7.1 Message rejected"]
    failed = wait_for(
        gw, issue(gw, example_bytes, "gone@cliente.example")["id"], delivered, auth=AUTH, timeout_s=20
    )
    assert failed["delivery"]["status"] == "failed" and failed["delivery"]["error"].startswith("554")
    events = gw.client.get("/v1/admin/webhooks/deliveries", headers=AUTH).json()
    kinds = {(e["event_type"], e["event_id"].split(":")[0]) for e in events}
    assert ("document.delivered", doc["id"]) in kinds and ("document.delivery_failed", failed["id"]) in kinds
    assert ("document.delivery_failed", doc["id"]) not in kinds


def test_temporary_refusals_end_as_failed_once_the_retries_are_spent(gw, smtp, example_bytes, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.observability.events")
    inbox, _ = smtp
    inbox.refusals["flaky@cliente.example"] = ["451 4.3.0 Try again later"] * 3  # retry_s has 2 waits
    doc = wait_for(
        gw, issue(gw, example_bytes, "flaky@cliente.example")["id"], delivered, auth=AUTH, timeout_s=20
    )
    assert doc["delivery"]["status"] == "failed" and "451" in doc["delivery"]["error"]
    assert inbox.refusals["flaky@cliente.example"] == [] and inbox.to("flaky@cliente.example") == []
    # the operator's lines: each failed try, then giving up (gateway.observability.events), for this document
    logged = [(r.event, r.fields) for r in caplog.records if getattr(r, "event", "").startswith("delivery.")]
    assert [e for e, f in logged if f["document_id"] == doc["id"]] == [
        "delivery.failed",
        "delivery.failed",
        "delivery.gave_up",
    ]
    assert all(f["tenant"] == "mail-co" and "451" in f["error"] for _, f in logged)
