"""Idempotency-Key after a crash (issue 14): a repeat of a request that died after creating its
document is answered with that document, with the status the first request would have given."""

from __future__ import annotations

from gateway_fakes import book
from gateway_harness import AUTH, running, tenants_toml

from gateway.store.schema import idempotency


async def _as_if_it_died_before_answering(rt, key: str) -> None:
    """The process died between committing the document and storing the answer."""
    async with rt.engine.begin() as conn:
        await conn.execute(
            idempotency.update()
            .where(idempotency.c.key == key)
            .values(state="in_flight", response=None, status_code=None)
        )


async def test_an_async_repeat_after_a_crash_answers_202_with_the_document(example_bytes):
    async with running(tenants_toml()) as (client, rt):
        headers = {**AUTH, "Idempotency-Key": "async-crash"}
        path = "/v1/documents?mode=async"
        first = await client.post(path, content=example_bytes["co-invoice"], headers=headers)
        assert first.status_code == 202
        await _as_if_it_died_before_answering(rt, "async-crash")
        again = await client.post(path, content=example_bytes["co-invoice"], headers=headers)
        assert again.status_code == 202, again.text  # main answered 201: not what the first said
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["location"] == f"/v1/documents/{first.json()['id']}"
        replayed = await client.post(path, content=example_bytes["co-invoice"], headers=headers)
        assert (replayed.status_code, replayed.json()["id"]) == (202, first.json()["id"])  # stored now


async def test_a_sync_repeat_after_a_crash_is_answered_at_once_with_the_document(example_bytes):
    # the document's job is no longer held by the request that created it: it is not running, so
    # the repeat gets the document now, not a 409 until the deadline and a lease have passed
    async with running(tenants_toml(dispatch={"deadline_s": 600})) as (client, rt):
        headers = {**AUTH, "Idempotency-Key": "sync-crash"}
        first = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=headers)
        assert first.status_code == 201
        await _as_if_it_died_before_answering(rt, "sync-crash")
        emits = book("primary").emits
        again = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=headers)
        assert again.status_code == 201, again.text
        assert again.json()["id"] == first.json()["id"]
        assert book("primary").emits == emits  # nothing sent again
