"""A credit or debit note whose reference names a document this tenant issued must name it
exactly (number, CUFE/CUDE, issue date); a mismatch is a 422 naming the field. References to
documents the gateway never issued, and other tenants' documents, are not checked against."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from gateway_fakes import book
from gateway_harness import AUTH, OTHER_AUTH, running, tenants_toml

from gateway.store.schema import documents

WRONG_CUFE = "0" * 96


async def issued(client, rt, body: bytes, headers=AUTH) -> dict[str, str]:
    """Emit `body`; its reference as stored: number, a CUFE (the fake's ids are not CUFEs), date."""
    r = await client.post("/v1/documents", content=body, headers=headers)
    assert r.status_code == 201 and r.json()["status"] == "accepted", r.text
    doc_id = r.json()["id"]
    cufe = hashlib.sha384(doc_id.encode()).hexdigest()
    async with rt.engine.begin() as conn:
        await conn.execute(documents.update().where(documents.c.id == doc_id).values(fiscal_id=cufe))
        row = (await conn.execute(sa.select(documents).where(documents.c.id == doc_id))).one()
    return {"number": row.number, "fiscal_id": cufe, "issue_date": row.issue_date}


def note(example_bytes, reference: dict[str, str]) -> bytes:
    body = json.loads(example_bytes["co-credit-note"])
    body["reference"] = reference
    return json.dumps(body).encode()


async def test_a_note_naming_an_issued_invoice_must_match_its_number_cufe_and_date(example_bytes):
    async with running(tenants_toml()) as (client, rt):
        invoice = await issued(client, rt, example_bytes["co-invoice"])
        other_day = "2000-01-03"
        wrong = {  # reference as sent → the (path, rule) of each error
            "fiscal_id": (
                {**invoice, "fiscal_id": WRONG_CUFE},
                [("reference.fiscal_id", "note-reference-mismatch")],
            ),
            "issue_date": (
                {**invoice, "issue_date": other_day},
                [("reference.issue_date", "note-reference-mismatch")],
            ),
            "both": (
                {**invoice, "fiscal_id": WRONG_CUFE, "issue_date": other_day},
                [
                    ("reference.fiscal_id", "note-reference-mismatch"),
                    ("reference.issue_date", "note-reference-mismatch"),
                ],
            ),
            "number": ({**invoice, "number": "SETP1"}, [("reference.number", "note-reference-mismatch")]),
        }
        for label, (reference, expected) in wrong.items():
            for path in ("/v1/documents", "/v1/documents/preview"):
                r = await client.post(path, content=note(example_bytes, reference), headers=AUTH)
                assert r.status_code == 422, (label, path, r.text)
                problem = r.json()
                assert problem["type"].endswith("invalid-document"), problem
                assert sorted((e["path"], e["rule"]) for e in problem["errors"]) == expected, (label, problem)
                assert all(e["message"] for e in problem["errors"])
        listed = (await client.get("/v1/documents?kind=credit_note", headers=AUTH)).json()["items"]
        assert listed == []  # nothing was created
        r = await client.post("/v1/documents", content=note(example_bytes, invoice), headers=AUTH)
        assert r.status_code == 201 and r.json()["kind"] == "credit_note", r.text


async def test_a_reference_to_a_document_the_gateway_never_issued_is_not_checked(example_bytes):
    """The example's reference (SETP990000001 and its CUFE) names no document of this tenant."""
    async with running(tenants_toml()) as (client, _):
        r = await client.post("/v1/documents", content=example_bytes["co-credit-note"], headers=AUTH)
        assert r.status_code == 201, r.text


async def test_only_this_tenants_documents_are_compared(example_bytes):
    """Tenant two's invoice has the same number as the note's reference but another CUFE: the note
    of tenant one is not compared with it, so its answer tells nothing about tenant two's documents."""
    async with running(tenants_toml()) as (client, rt):
        theirs = await issued(client, rt, example_bytes["co-invoice"], OTHER_AUTH)
        reference = {**theirs, "fiscal_id": WRONG_CUFE, "issue_date": "2000-01-03"}
        r = await client.post("/v1/documents", content=note(example_bytes, reference), headers=AUTH)
        assert r.status_code == 201, r.text
        r = await client.post("/v1/documents", content=note(example_bytes, reference), headers=OTHER_AUTH)
        assert r.status_code == 422, r.text
        assert {e["path"] for e in r.json()["errors"]} == {"reference.fiscal_id", "reference.issue_date"}


async def test_documents_never_issued_are_not_compared(example_bytes):
    """A rejected invoice's number (ours: `fakeours` takes the gateway's) was never valid: a note
    naming it is the authority's business."""
    async with running(tenants_toml([("ours", "fakeours")])) as (client, rt):
        book("ours").script = ["reject"]
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.json()["status"] == "rejected"
        async with rt.engine.connect() as conn:
            row = (await conn.execute(sa.select(documents).where(documents.c.id == r.json()["id"]))).one()
        assert row.number.startswith("SETP")
        reference = {"number": row.number, "fiscal_id": WRONG_CUFE, "issue_date": "2000-01-03"}
        r = await client.post("/v1/documents", content=note(example_bytes, reference), headers=AUTH)
        assert r.status_code == 201, r.text
