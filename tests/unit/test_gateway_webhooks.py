"""Webhooks: Standard Webhooks signatures (verified with the reference `standardwebhooks` package,
as receivers verify them, never with the gateway's own HMAC), secrets as the spec serialises them,
retries with the same webhook-id, no duplicates, 410 stops, attention events."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import sqlalchemy as sa
import standardwebhooks
import uvicorn
from gateway_fakes import book
from gateway_harness import AUTH, running, tenants_toml
from litestar import Litestar, Request, Response, post

from gateway.cli.main import main
from gateway.store.schema import webhook_deliveries
from simulators.runner import free_port

SECRET_BYTES = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []  # statuses to answer, in order; then 204

    def app(self) -> Litestar:
        @post("/hooks", status_code=204)
        async def hook(request: Request[Any, Any, Any]) -> Response[None]:
            self.received.append((dict(request.headers), await request.body()))
            status = self.answers.pop(0) if self.answers else 204
            return Response(None, status_code=status, headers={"Retry-After": "1"} if status == 429 else None)

        return Litestar([hook])


@asynccontextmanager
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    r = Receiver()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(r.app(), host="127.0.0.1", port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.005)
    try:
        yield r, f"http://127.0.0.1:{port}/hooks"
    finally:
        server.should_exit = True
        await task


def webhook_toml(
    url: str, events: str = '["document.accepted", "document.needs_attention"]', **dispatch: Any
) -> str:
    return tenants_toml(
        dispatch=dispatch,
        extra=f'[[tenants.webhooks]]\nurl = "{url}"\nsecret = "{SECRET}"\nevents = {events}',
    )


def verify(headers: dict[str, str], body: bytes, secret: str = SECRET) -> bool:
    """The receiver's check, by the reference implementation (it also bounds the timestamp to
    5 minutes around the real time, which deliveries take from the system clock too)."""
    try:
        standardwebhooks.Webhook(secret).verify(body, headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


async def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_accepted_document_is_announced_signed(example_bytes):
    async with receiver() as (hooks, url), running(webhook_toml(url)) as (client, _):
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        await wait_for(lambda: hooks.received)
        headers, body = hooks.received[0]
        assert verify(headers, body)
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        event = json.loads(body)
        assert event["type"] == "document.accepted"
        assert event["data"]["id"] == doc["id"] and event["data"]["status"] == "accepted"
        assert not verify({**headers, "webhook-id": "msg_other"}, body)  # the signature covers the id


async def test_failed_deliveries_are_retried_with_the_same_id_and_never_duplicated(example_bytes):
    async with receiver() as (hooks, url), running(webhook_toml(url)) as (client, _):
        hooks.answers = [500, 503]
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        await wait_for(lambda: len(hooks.received) >= 3)
        await asyncio.sleep(0.2)
        assert len(hooks.received) == 3  # delivered on the third try, then never again
        assert len({h["webhook-id"] for h, _ in hooks.received}) == 1
        assert all(verify(h, b) for h, b in hooks.received)


async def test_gone_endpoint_stops_deliveries(example_bytes):
    async with receiver() as (hooks, url), running(webhook_toml(url)) as (client, _):
        hooks.answers = [410]
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        await wait_for(lambda: hooks.received)
        await asyncio.sleep(0.2)
        assert len(hooks.received) == 1


async def test_needs_attention_is_sent_once_and_unsubscribed_events_are_not(example_bytes):
    async with (
        receiver() as (hooks, url),
        running(webhook_toml(url, events='["document.needs_attention"]')) as (client, _),
    ):
        book("primary").searchable = False
        book("primary").script = ["lost"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        await wait_for(lambda: hooks.received)
        await asyncio.sleep(0.2)
        assert [json.loads(b)["type"] for _, b in hooks.received] == ["document.needs_attention"]
        assert json.loads(hooks.received[0][1])["data"]["id"] == doc["id"]


async def test_numbering_low_is_announced_once_when_the_range_runs_low(example_bytes):
    tiny = '[[tenants.numbering]]\nname = "tiny"\nkinds = ["invoice"]\nprefix = "T"\nfrom = 1\nto = 10'
    hook = (
        f'[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "{SECRET}"\nevents = ["numbering.low"]'
    )
    async with running(tenants_toml([("ours", "fakeours")], numbering=tiny, extra=hook), run_jobs=False) as (
        client,
        rt,
    ):
        for _ in range(10):
            await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        async with rt.engine.connect() as conn:
            rows = (await conn.execute(sa.select(webhook_deliveries))).all()
    assert [json.loads(r.body)["data"] for r in rows] == [{"range": "tiny", "remaining": 1, "to": 10}]


async def test_receiver_retry_after_is_honoured(example_bytes):
    async with receiver() as (hooks, url), running(webhook_toml(url)) as (client, _):
        hooks.answers = [429]
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        await wait_for(lambda: hooks.received)
        await asyncio.sleep(0.5)
        assert len(hooks.received) == 1  # the backoff alone would have retried within milliseconds
        await wait_for(lambda: len(hooks.received) == 2)


# secrets as Standard Webhooks serialises them: base64 of 24 to 64 bytes, `whsec_` optional
SECRET_FORMS = {
    "unprefixed": base64.b64encode(SECRET_BYTES).decode(),
    "unpadded": "whsec_" + base64.b64encode(SECRET_BYTES[:25]).decode().rstrip("="),
    "64 bytes": "whsec_" + base64.b64encode(SECRET_BYTES * 2).decode(),
}


@pytest.mark.parametrize("secret", SECRET_FORMS.values(), ids=SECRET_FORMS.keys())
async def test_every_spec_secret_form_verifies_at_the_receiver(example_bytes, secret):
    """The receiver holds the same string; the reference library decodes it as base64 whether or
    not it starts with `whsec_` (the gateway used to sign with an unprefixed secret's UTF-8 bytes)."""
    async with receiver() as (hooks, url), running(webhook_toml(url).replace(SECRET, secret)) as (client, _):
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        await wait_for(lambda: hooks.received)
        headers, body = hooks.received[0]
        assert verify(headers, body, secret)
        with pytest.raises(standardwebhooks.WebhookVerificationError):  # not keyed by the text's bytes
            standardwebhooks.Webhook(secret.encode()).verify(body, headers)


NOT_SPEC_SECRETS = {
    "short plain text": "s",
    "plain text": "my-webhook-secret-for-acme-2026",
    "url-safe alphabet": "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),
    "space inside": "whsec_" + base64.b64encode(SECRET_BYTES).decode()[:20] + " " + "A" * 24,
    "16 bytes": "whsec_" + base64.b64encode(SECRET_BYTES[:16]).decode(),
    "65 bytes": "whsec_" + base64.b64encode(SECRET_BYTES * 2 + b"!").decode(),
    "prefix only": "whsec_",
}


@pytest.mark.parametrize("secret", NOT_SPEC_SECRETS.values(), ids=NOT_SPEC_SECRETS.keys())
def test_tenants_check_refuses_a_secret_receivers_cannot_decode(tmp_path, capsys, secret):
    config = tmp_path / "tenants.toml"
    config.write_text(webhook_toml("http://127.0.0.1:9/hooks").replace(SECRET, secret))
    assert main(["tenants", "check", str(config)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"webhooks\[0\]\.secret: .*(base64|key bytes)", err)
    assert len(secret) < 8 or secret.removeprefix("whsec_") not in err  # the refusal does not quote it


def test_tenants_check_accepts_the_spec_forms(tmp_path, capsys):
    for secret in (SECRET, *SECRET_FORMS.values()):
        config = tmp_path / "tenants.toml"
        config.write_text(webhook_toml("http://127.0.0.1:9/hooks").replace(SECRET, secret))
        assert main(["tenants", "check", str(config)]) == 0, capsys.readouterr().err
