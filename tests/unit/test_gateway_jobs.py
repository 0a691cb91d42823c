"""The job loop (issue 14, scale-out): it starts work without waiting out a fixed sleep, and
webhooks keep slots of their own, so a backlog of documents never holds notifications back."""

from __future__ import annotations

import asyncio
import time

from gateway_fakes import book
from gateway_harness import AUTH, running, tenants_toml
from test_gateway_webhooks import receiver, webhook_toml

from gateway.dispatch.loop import SLOTS

SLOW_POLL = {"poll_interval_s": 30, "poll_max_s": 60}  # the loop's longest idle wait: 1 s


async def _accepted_after(client, doc_id: str, limit_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        r = await client.get(f"/v1/documents/{doc_id}", headers=AUTH)
        if r.json()["status"] == "accepted":
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    return limit_s


async def test_an_async_document_starts_at_once_not_after_the_loops_next_look(example_bytes):
    # On main the loop slept a fixed second between looks: a document queued just after a look
    # waited most of it. The loop is idle long enough here for any backoff to reach its longest.
    async with running(tenants_toml(dispatch=SLOW_POLL, second_tenant=False)) as (client, _):
        await asyncio.sleep(1.5)
        waits = []
        for _ in range(3):
            r = await client.post(
                "/v1/documents?mode=async", content=example_bytes["co-invoice"], headers=AUTH
            )
            assert r.status_code == 202
            waits.append(await _accepted_after(client, r.json()["id"], 2.0))
            await asyncio.sleep(0.1)
    assert max(waits) < 0.5, waits


async def test_webhooks_are_delivered_while_every_document_slot_waits_on_a_provider(example_bytes):
    documents = SLOTS["document"]
    async with receiver() as (hooks, url), running(webhook_toml(url)) as (client, _):
        book("primary").script = ["hang"] * (documents + 4)
        book("primary").hang_s = 5
        for _ in range(documents + 4):  # more hanging documents than the loop has document slots
            r = await client.post(
                "/v1/documents?mode=async", content=example_bytes["co-invoice"], headers=AUTH
            )
            assert r.status_code == 202
        deadline = time.monotonic() + 3.0
        while book("primary").emits < documents:
            assert time.monotonic() < deadline, "the loop never took the documents"
            await asyncio.sleep(0.02)
        # every document slot now waits on the provider; a document accepted elsewhere queues a webhook
        accepted = await client.post(
            "/v1/documents?provider=backup", content=example_bytes["co-invoice"], headers=AUTH
        )
        assert accepted.json()["status"] == "accepted"
        deadline = time.monotonic() + 2.0
        while not hooks.received and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert hooks.received, "the webhook waited behind the documents"
        assert book("primary").emits == documents  # the document slots were still all taken
