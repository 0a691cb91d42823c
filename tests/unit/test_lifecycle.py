"""Lifecycle rules against the fake providers: what may be voided, corrected or referenced, and the
clear `unsupported` where an account has no invalidation route."""

from __future__ import annotations

import hashlib
import json

from gateway_fakes import book
from gateway_harness import AUTH, OTHER_AUTH, running, tenants_toml

from gateway.store.schema import documents

CO_ISSUER = 'country = "CO"\nid_type = "NIT"\nid_number = "900373115"\ncheck_digit = "3"\nname = "ACME"'
SV_ISSUER = 'country = "SV"\nid_type = "NIT"\nid_number = "06142803901121"\nnrc = "2345678"\nname = "Tienda"'


async def with_cufe(rt, doc: dict) -> dict:
    """The fake provider's fiscal ids are not CUFEs, which a CO note's reference must be."""
    cufe = hashlib.sha384(doc["id"].encode()).hexdigest()
    async with rt.engine.begin() as conn:
        await conn.execute(documents.update().where(documents.c.id == doc["id"]).values(fiscal_id=cufe))
    return doc | {"fiscal_id": cufe}


async def emit(client, body: bytes) -> dict:
    r = await client.post("/v1/documents", content=body, headers=AUTH)
    assert r.status_code == 201, r.text
    return r.json()


async def test_co_void_links_the_annulling_note_both_ways(example_bytes):
    async with running(tenants_toml()) as (client, rt):
        invoice = await with_cufe(rt, await emit(client, example_bytes["co-invoice"]))
        r = await client.post(
            f"/v1/documents/{invoice['id']}/void", json={"reason": "duplicada"}, headers=AUTH
        )
        assert r.status_code == 200, r.text
        note = (await client.get(f"/v1/documents/{r.json()['voided_by']}", headers=AUTH)).json()
        assert (note["kind"], note["voids"], note["account"]) == (
            "credit_note",
            invoice["id"],
            invoice["account"],
        )
        assert note["totals"] == invoice["totals"]  # the full amount
        # another tenant cannot void it; a note is not voided itself
        r = await client.post(f"/v1/documents/{invoice['id']}/void", json={"reason": "x"}, headers=OTHER_AUTH)
        assert r.status_code == 404
        r = await client.post(f"/v1/documents/{note['id']}/void", json={"reason": "x"}, headers=AUTH)
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "void-kind"


async def test_co_void_refuses_an_invoice_already_partly_credited(example_bytes):
    """An annulment credits the full amount: after a partial credit note it would credit too much."""
    async with running(tenants_toml()) as (client, rt):
        invoice = await with_cufe(rt, await emit(client, example_bytes["co-invoice"]))
        partial = {
            "lines": [
                {
                    "description": "Devolución parcial",
                    "quantity": "1",
                    "unit_price": "1000",
                    "taxes": [{"tax": "IVA", "rate": "19"}],
                }
            ],
            "reason": {"code": "partial_return"},
        }
        r = await client.post(f"/v1/documents/{invoice['id']}/credit-note", json=partial, headers=AUTH)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "accepted"
        r = await client.post(f"/v1/documents/{invoice['id']}/void", json={"reason": "x"}, headers=AUTH)
        assert r.status_code == 409, r.text
        assert r.json()["errors"][0]["rule"] == "void-already-credited"
        after = (await client.get(f"/v1/documents/{invoice['id']}", headers=AUTH)).json()
        assert after["voided_by"] is None  # nothing was claimed or issued


async def test_sv_void_without_an_invalidation_route_is_unsupported(example_bytes):
    async with running(tenants_toml(second_tenant=False).replace(CO_ISSUER, SV_ISSUER)) as (client, _):
        dte = await emit(client, example_bytes["sv-invoice"])
        r = await client.post(f"/v1/documents/{dte['id']}/void", json={"reason": "x"}, headers=AUTH)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["rule"] == "void-unsupported"
        after = (await client.get(f"/v1/documents/{dte['id']}", headers=AUTH)).json()
        assert after["voided_by"] is None  # the claim is given back


async def test_only_rejected_or_failed_documents_are_corrected(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["reject"]
        rejected = await emit(client, example_bytes["co-invoice"])
        assert rejected["status"] == "rejected"
        note = json.loads(example_bytes["co-credit-note"])
        r = await client.put(f"/v1/documents/{rejected['id']}", json=note, headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "correction-same-document"
        invalid = json.loads(example_bytes["co-invoice"]) | {"lines": []}
        r = await client.put(f"/v1/documents/{rejected['id']}", json=invalid, headers=AUTH)
        assert r.status_code == 422 and r.json()["type"].endswith("invalid-document")
        r = await client.put(
            f"/v1/documents/{rejected['id']}", content=example_bytes["co-invoice"], headers=AUTH
        )
        corrected = r.json()
        assert (r.status_code, corrected["status"], corrected["id"]) == (200, "accepted", rejected["id"])
        assert [a["outcome"] for a in corrected["attempts"]] == ["rejected", "corrected", "accepted"]
        r = await client.put(
            f"/v1/documents/{rejected['id']}", content=example_bytes["co-invoice"], headers=AUTH
        )
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "correction-not-allowed"


async def test_notes_reference_only_accepted_documents_and_copy_their_lines(example_bytes):
    async with running(tenants_toml()) as (client, rt):
        book("primary").script = ["reject"]
        rejected = await emit(client, example_bytes["co-invoice"])
        reason = {"reason": {"code": "discount", "description": "d"}}
        r = await client.post(f"/v1/documents/{rejected['id']}/credit-note", json=reason, headers=AUTH)
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "note-reference-not-accepted"
        invoice = await with_cufe(rt, await emit(client, example_bytes["co-invoice"]))
        r = await client.post(f"/v1/documents/{invoice['id']}/credit-note", json=reason, headers=AUTH)
        assert r.status_code == 201, r.text
        assert r.headers["location"].endswith(r.json()["id"])
        assert r.json()["totals"]["payable"] == invoice["totals"]["payable"]  # lines default to the invoice's
        r = await client.post(f"/v1/documents/{invoice['id']}/credit-note", content=b"[1]", headers=AUTH)
        assert r.status_code == 422


async def test_a_void_claim_left_by_a_dead_process_is_taken_over(example_bytes):
    async with running(tenants_toml()) as (client, rt):
        invoice = await with_cufe(rt, await emit(client, example_bytes["co-invoice"]))
        claimed_at = {"fresh": rt.clock(), "stale": rt.clock() - 3600}
        for state, status in (("fresh", 409), ("stale", 200)):
            async with rt.engine.begin() as conn:
                await conn.execute(
                    documents.update()
                    .where(documents.c.id == invoice["id"])
                    .values(voided_by="pending", voided_at=claimed_at[state])
                )
            r = await client.post(f"/v1/documents/{invoice['id']}/void", json={"reason": "x"}, headers=AUTH)
            assert r.status_code == status, (state, r.text)
        assert r.json()["voided_by"].startswith("doc_")


async def test_a_repeated_note_request_with_its_idempotency_key_issues_one_note(example_bytes):
    """A client retrying `credit-note` after a lost answer must not credit the invoice twice."""
    async with running(tenants_toml()) as (client, rt):
        invoice = await with_cufe(rt, await emit(client, example_bytes["co-invoice"]))
        emits = book("primary").emits
        reason = {"reason": {"code": "discount", "description": "Descuento"}}
        headers = {**AUTH, "Idempotency-Key": '"note-1"'}
        path = f"/v1/documents/{invoice['id']}/credit-note"
        first = await client.post(path, json=reason, headers=headers)
        again = await client.post(path, json=reason, headers=headers)
        assert first.status_code == again.status_code == 201, first.text
        assert again.content == first.content  # the stored answer, byte for byte
        assert book("primary").emits == emits + 1  # one note sent
        listed = (await client.get("/v1/documents?kind=credit_note", headers=AUTH)).json()["items"]
        assert [d["id"] for d in listed] == [first.json()["id"]]

        # the same key with another body is refused; refusals are replayed as stored
        other = {"reason": {"code": "discount", "description": "Otro"}}
        r = await client.post(path, json=other, headers=headers)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "idempotency-key-reused"
        bad = {**AUTH, "Idempotency-Key": "note-2"}
        gone = "/v1/documents/doc_missing/debit-note"
        first_refusal = await client.post(gone, json=reason, headers=bad)
        assert first_refusal.status_code == 404
        assert (await client.post(gone, json=reason, headers=bad)).content == first_refusal.content


async def test_a_note_whose_first_request_died_after_creating_it_is_answered_with_that_note(example_bytes):
    """The key is linked to the note in the transaction that creates it: a retry after a crash
    finds the note instead of issuing another."""
    from gateway.store.schema import idempotency

    async with running(tenants_toml()) as (client, rt):
        invoice = await with_cufe(rt, await emit(client, example_bytes["co-invoice"]))
        reason = {"reason": {"code": "discount", "description": "Descuento"}}
        path = f"/v1/documents/{invoice['id']}/credit-note"
        headers = {**AUTH, "Idempotency-Key": "note-crash"}
        first = await client.post(path, json=reason, headers=headers)
        assert first.status_code == 201
        # as if the process died between creating the note and storing the answer, 10 minutes ago
        async with rt.engine.begin() as conn:
            await conn.execute(
                idempotency.update()
                .where(idempotency.c.key == "note-crash")
                .values(state="in_flight", response=None, status_code=None, created_at=rt.clock() - 600)
            )
        emits = book("primary").emits
        again = await client.post(path, json=reason, headers=headers)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert book("primary").emits == emits
