"""Operator events (gateway.observability.events): each family driven through the real dispatch, breaker,
reconciliation, alert and webhook paths with the fake provider, its fields asserted; secrets never in
the JSON output; the list in docs/deploy.md is the list in EVENTS."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import book
from gateway_harness import AUTH, KEY, running, tenants_toml
from test_gateway_dispatch import eventually

from gateway.observability import events
from gateway.observability.logs import JsonFormatter, Redactor
from gateway.tenants.config import load_config, secrets_of

ROOT = Path(__file__).resolve().parents[2]
HOOK_SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
TOKEN = "fake-provider-token-7f3a9c1e"  # the accounts' credential


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="gateway.observability.events")
    return caplog


def of(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The fields of every `name` event logged, in order."""
    return [r.fields for r in caplog.records if getattr(r, "event", None) == name]  # type: ignore[attr-defined]


async def until_logged(caplog: pytest.LogCaptureFixture, name: str) -> None:
    """Background jobs log on their own time: wait for the first `name` event."""

    async def seen() -> list[dict[str, Any]]:
        return of(caplog, name)

    await eventually(seen)


async def post(client: Any, example_bytes: dict[str, bytes]) -> dict[str, Any]:
    r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code in (201, 202), r.text
    return r.json()  # type: ignore[no-any-return]


async def test_provider_failures_retries_and_the_fallback_are_logged_with_their_class(logged, example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["down", "quota", "down"]
        doc = await post(client, example_bytes)
    assert doc["account"] == "backup"
    failures = of(logged, "provider.failure")
    assert [(f["account"], f["failure"], f.get("http_status")) for f in failures] == [
        ("primary", "unavailable", 503),
        ("primary", "unavailable", 429),
        ("primary", "unavailable", 503),
    ]
    assert all(
        f["tenant"] == "t1" and f["document_id"] == doc["id"] and f["provider"] == "fake" for f in failures
    )
    assert [(r["attempt"], r["failure"]) for r in of(logged, "dispatch.retry")] == [
        (1, "unavailable"),
        (2, "unavailable"),
    ]
    [fallback] = of(logged, "dispatch.fallback")
    assert fallback == {
        "tenant": "t1",
        "document_id": doc["id"],
        "account": "primary",
        "next_account": "backup",
        "answer": "unavailable",
        "evidence": "none",
        "action": "retry",
    }


async def test_misconfigured_account_is_a_failure_class_and_an_alert(logged, example_bytes):
    async with running(tenants_toml(), run_jobs=False) as (client, _):
        book("primary").script = ["misconfigured"]
        doc = await post(client, example_bytes)
    [failure] = of(logged, "provider.failure")
    assert (failure["failure"], failure["http_status"], failure["document_id"]) == (
        "misconfigured",
        401,
        doc["id"],
    )
    [alert] = of(logged, "alert.raised")
    assert alert == {
        "tenant": "t1",
        "account": "primary",
        "alert": "account.misconfigured",
        "error": "401 bad token",
    }
    assert of(logged, "dispatch.fallback")[0]["action"] == "fall_back"


async def test_breaker_transitions_are_logged(logged, example_bytes):
    now = [time.time()]
    toml = tenants_toml(dispatch={"breaker_threshold": 2, "breaker_cooldown_s": 30, "max_attempts": 2})
    async with running(toml, clock=lambda: now[0]) as (client, _):
        book("primary").script = ["down", "down"]
        await post(client, example_bytes)
        assert of(logged, "breaker.opened") == [
            {"tenant": "t1", "account": "primary", "failures": 2, "cooldown_s": 30.0}
        ]
        skipped = await post(client, example_bytes)
        assert of(logged, "dispatch.fallback")[-1] == {
            "tenant": "t1",
            "document_id": skipped["id"],
            "account": "primary",
            "next_account": "backup",
            "answer": "unavailable",
            "code": "circuit-open",
            "evidence": "none",
            "action": "retry",
        }
        assert of(logged, "breaker.half_open") == [] and of(logged, "breaker.closed") == []
        now[0] += 31  # cooldown over: one probe, which succeeds
        assert (await post(client, example_bytes))["account"] == "primary"
    assert of(logged, "breaker.half_open") == [{"tenant": "t1", "account": "primary"}]
    assert of(logged, "breaker.closed") == [{"tenant": "t1", "account": "primary"}]


async def test_a_failed_probe_opens_the_circuit_again(logged, example_bytes):
    now = [time.time()]
    toml = tenants_toml(dispatch={"breaker_threshold": 2, "breaker_cooldown_s": 30, "max_attempts": 2})
    async with running(toml, clock=lambda: now[0]) as (client, _):
        book("primary").script = ["down", "down", "down"]
        await post(client, example_bytes)
        now[0] += 31
        await post(client, example_bytes)
    assert [e["failures"] for e in of(logged, "breaker.opened")] == [2, 3]
    assert len(of(logged, "breaker.half_open")) == 1 and of(logged, "breaker.closed") == []


async def test_reconciliation_verdicts_are_logged(logged, example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["timeout"]  # issued, the answer lost
        doc = await post(client, example_bytes)

        async def settled() -> Any:
            return (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()[
                "status"
            ] == "accepted"

        await eventually(settled)
    assert of(logged, "provider.failure")[0]["failure"] == "ambiguous"
    verdict = of(logged, "reconcile.verdict")[-1]
    assert (verdict["tenant"], verdict["document_id"], verdict["account"]) == ("t1", doc["id"], "primary")
    assert (verdict["evidence"], verdict["verdict"]) == ("maybe", "settled")
    assert "the provider has it" in verdict["reason"]


async def test_a_document_that_needs_an_operator_is_logged_once(logged, example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").searchable = False
        book("primary").script = ["lost"]
        doc = await post(client, example_bytes)

        async def flagged() -> Any:
            return (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()["needs_attention"]

        await eventually(flagged)
    [attention] = of(logged, "document.needs_attention")
    assert (attention["tenant"], attention["document_id"], attention["account"]) == (
        "t1",
        doc["id"],
        "primary",
    )
    assert "operator" in attention["reason"]
    assert of(logged, "reconcile.verdict")[-1]["verdict"] == "attention"


async def test_a_document_failed_at_its_deadline_is_logged(logged, example_bytes):
    async with running(tenants_toml(dispatch={"deadline_s": 0.5, "breaker_threshold": 1000})) as (client, _):
        book("primary").script = ["down"] * 1000
        book("backup").script = ["down"] * 1000
        doc = await post(client, example_bytes)

        async def failed() -> Any:
            return (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()["status"] == "failed"

        await eventually(failed)
    [gone] = of(logged, "document.failed")
    assert (gone["tenant"], gone["document_id"], gone["chain"]) == ("t1", doc["id"], ["primary", "backup"])


async def test_webhook_failures_and_giving_up_are_logged(logged, example_bytes):
    hook = f'[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h?token=abc"\nsecret = "{HOOK_SECRET}"\n'
    hook += 'events = ["document.accepted"]'
    toml = tenants_toml(extra=hook, dispatch={"webhook_max_attempts": 2})
    async with running(toml) as (client, _):
        doc = await post(client, example_bytes)
        await until_logged(logged, "webhook.gave_up")
    [failed] = of(logged, "webhook.failed")
    [gave_up] = of(logged, "webhook.gave_up")
    for entry, tries in ((failed, 1), (gave_up, 2)):
        assert entry["tenant"] == "t1" and entry["document_id"] == doc["id"]
        assert entry["event_type"] == "document.accepted" and entry["tries"] == tries
        assert entry["url"] == "http://127.0.0.1:9/h"  # never the query, where receivers put tokens
        assert entry["error"].startswith("ConnectError")


async def test_no_secret_reaches_the_log_output(caplog, example_bytes):
    """Every record of a run full of failures, formatted as `serve` writes it: the tenant API key,
    the webhook secret, the provider token never appear (even where an error message quotes them)."""
    caplog.set_level(logging.DEBUG)
    hook = f'[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "{HOOK_SECRET}"\n'
    hook += 'events = ["document.accepted", "account.misconfigured"]'
    toml = tenants_toml(extra=hook, dispatch={"webhook_max_attempts": 2}).replace(
        'token = "t"', f'token = "{TOKEN}"'
    )
    secrets = [KEY, HOOK_SECRET, TOKEN]
    async with running(toml) as (client, _):
        book("primary").script = ["misconfigured"]
        book("backup").script = ["down", "ok"]
        await post(client, example_bytes)
        await client.get("/v1/documents", headers={"Authorization": f"Bearer {KEY}"})
        await until_logged(caplog, "webhook.gave_up")
        events.emit("provider.failure", tenant="t1", error=f"provider echoed the token {TOKEN}")
    assert set(secrets) <= set(secrets_of(load_config(toml, env={})))
    formatter = JsonFormatter(Redactor(secrets_of(load_config(toml, env={}))))
    output = "\n".join(formatter.format(r) for r in caplog.records)
    assert of(caplog, "provider.failure") and of(caplog, "webhook.failed") and "[redacted]" in output
    for secret in secrets:
        assert secret not in output


def test_event_fields_are_redacted_and_flattened():
    record = logging.LogRecord("gateway.observability.events", logging.WARNING, __file__, 1, "%s", ("x",), None)
    record.event, record.fields = (
        "webhook.failed",
        {"tenant": "t1", "error": "bad s3cr3t", "tries": 2, "level": "x"},
    )
    line = json.loads(JsonFormatter(Redactor(["s3cr3t"])).format(record))
    assert line["event"] == "webhook.failed" and line["tries"] == 2 and line["level"] == "warning"
    assert line["error"] == "bad [redacted]" and line["tenant"] == "t1"


def test_unknown_events_and_fields_are_refused():
    with pytest.raises(KeyError):
        events.emit("provider.oops")
    with pytest.raises(AssertionError):
        events.emit("breaker.closed", tenant="t1", secret="x")


def test_the_documented_list_is_the_list():
    """docs/deploy.md carries the table EVENTS renders (run `python -m gateway.observability.events` to refresh it)."""
    assert events.table() in (ROOT / "docs" / "deploy.md").read_text()
