"""Dispatch through the API with the fake provider: each failure class, retries, Retry-After,
fallback, reconciliation before fallback, operator resolution, the breaker, queued → failed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from gateway_fakes import book
from gateway_harness import AUTH, running, tenants_toml

from gateway.store.schema import webhook_deliveries


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy (background jobs run on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def outcomes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["account"], a["outcome"]) for a in doc["attempts"]]


async def test_unavailable_is_retried_then_falls_back(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["down", "quota", "down"]
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 201
        doc = r.json()
        assert doc["status"] == "accepted"
        assert doc["account"] == "backup"
        assert outcomes(doc) == [
            ("primary", "unavailable"),
            ("primary", "unavailable"),
            ("primary", "unavailable"),
            ("backup", "accepted"),
        ]
        assert book("primary").issued() == [] and len(book("backup").issued()) == 1


async def test_retry_after_is_honoured(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["quota"]
        book("primary").retry_after = 0.3
        started = time.monotonic()
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.json()["account"] == "primary"  # the second try on the same account succeeded
        assert time.monotonic() - started >= 0.3


async def test_rejected_stops_without_fallback(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["reject"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "rejected"
        error = doc["authority"]["errors"][0]
        assert (error["code"], error["message"]) == (
            "FAD06",
            "NIT del adquiriente no válido",
        )  # provider's text kept
        assert outcomes(doc) == [("primary", "rejected")]
        assert book("backup").emits == 0


async def test_misconfigured_falls_back_and_alerts(example_bytes):
    hook = '[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="\n'
    hook += 'events = ["account.misconfigured"]'
    async with running(tenants_toml(extra=hook), run_jobs=False) as (client, rt):
        book("primary").script = ["misconfigured"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "accepted" and doc["account"] == "backup"
        assert outcomes(doc)[0] == ("primary", "misconfigured")
        assert book("primary").emits == 1  # not retried: credentials do not fix themselves
        async with rt.engine.connect() as conn:
            rows = (await conn.execute(sa.select(webhook_deliveries))).all()
        assert [(r.event_type, json.loads(r.body)["data"]["account"]) for r in rows] == [
            ("account.misconfigured", "primary")
        ]


async def test_ambiguous_is_reconciled_on_the_same_account_before_any_fallback(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["timeout"]  # issued, but the answer was lost
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "unknown"
        assert doc["account"] == "primary"

        async def settled() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["status"] == "accepted" else None

        final = await eventually(settled)
        assert final["account"] == "primary"
        assert final["provider_reference"] == book("primary").issued()[0].provider_reference
        assert book("backup").emits == 0  # never sent anywhere else
        assert len(book("primary").issued()) == 1
        assert ("primary", "reconciled") in outcomes(final)


async def test_ambiguous_not_issued_waits_for_the_window_then_retries(example_bytes):
    async with running(tenants_toml(dispatch={"reconcile_window_s": 0.3})) as (client, _):
        book("primary").script = ["lost"]  # not issued, answer lost
        started = time.monotonic()
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "unknown"

        async def settled() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["status"] == "accepted" else None

        final = await eventually(settled)
        assert time.monotonic() - started >= 0.3  # "not found" trusted only after the window
        assert ("primary", "not_issued") in outcomes(final)
        assert len(book("primary").issued()) + len(book("backup").issued()) == 1


async def test_unsearchable_unknown_waits_for_an_operator(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").searchable = False
        book("primary").script = ["lost"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()

        async def flagged() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["needs_attention"] else None

        d = await eventually(flagged)
        assert d["status"] == "unknown"
        await asyncio.sleep(0.1)
        assert book("backup").emits == 0  # no fallback while "issued?" is open
        metrics = (await client.get("/metrics")).text
        assert 'pasarela_documents{provider="fake",status="unknown",tenant="t1"} 1.0' in metrics

        r = await client.post(f"/v1/documents/{doc['id']}/resolve", json={"issued": False}, headers=AUTH)
        assert r.status_code == 200

        async def settled() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["status"] == "accepted" else None

        final = await eventually(settled)
        assert final["needs_attention"] is False
        assert ("primary", "resolved_not_issued") in outcomes(final)


async def test_resolve_issued_adopts_the_operator_reference(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").searchable = False
        book("primary").script = ["lost"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        r = await client.post(
            f"/v1/documents/{doc['id']}/resolve",
            json={"issued": True, "provider_reference": "PORTAL-77", "number": "F9"},
            headers=AUTH,
        )
        assert r.status_code == 200
        assert r.json()["status"] == "accepted"
        assert r.json()["provider_reference"] == "PORTAL-77"
        again = await client.post(f"/v1/documents/{doc['id']}/resolve", json={"issued": False}, headers=AUTH)
        assert again.status_code == 409  # an accepted document cannot go back
        assert again.headers["content-type"].startswith("application/problem+json")


async def test_our_number_goes_to_another_account_only_once_the_first_is_proven_not_to_have_it(
    example_bytes,
):
    """Not issued at the first account (answer lost), which then stays down: the same number is
    resent there while "not found" is young, and goes to the next account only after "not found"
    outlived the processing window."""
    toml = tenants_toml(
        [("dian-like", "fakeours"), ("apidian-like", "fakeours")], dispatch={"reconcile_window_s": 0.4}
    )
    async with running(toml) as (client, _):
        book("dian-like").script = ["lost"] + ["down"] * 1000
        started = time.monotonic()
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "unknown" and doc["number"] == "SETP990000000"

        async def settled() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["status"] == "accepted" else None

        final = await eventually(settled)
        assert time.monotonic() - started >= 0.4
        assert final["number"] == "SETP990000000"  # the same number across resend and fallback
        assert final["account"] == "apidian-like"
        steps = outcomes(final)
        first_elsewhere = next(i for i, (account, _) in enumerate(steps) if account == "apidian-like")
        assert ("dian-like", "not_issued") in steps[:first_elsewhere]
        issued = book("dian-like").issued() + book("apidian-like").issued()
        assert [o.number for o in issued] == ["SETP990000000"]


async def test_every_account_unavailable_is_queued_then_failed_at_the_deadline(example_bytes):
    async with running(tenants_toml(dispatch={"deadline_s": 1.5, "breaker_threshold": 1000})) as (client, _):
        book("primary").script = ["down"] * 1000
        book("backup").script = ["down"] * 1000
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "queued"

        async def failed() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["status"] == "failed" else None

        final = await eventually(failed)
        accounts = {a["account"] for a in final["attempts"]}
        assert accounts == {"primary", "backup"}
        assert book("primary").emits > 3  # background rounds continued after the request


async def test_pending_is_polled_until_accepted(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["pending"]
        book("primary").pending_polls = 2
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "pending"

        async def accepted() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["status"] == "accepted" else None

        final = await eventually(accepted)
        assert final["authority"]["code"] == "00"
        assert book("primary").status_calls >= 3


async def test_breaker_opens_skips_the_account_then_closes(example_bytes):
    now = [time.time()]  # the breaker's time, moved by hand: no race with a loaded machine
    toml = tenants_toml(dispatch={"breaker_threshold": 2, "breaker_cooldown_s": 30, "max_attempts": 2})
    async with running(toml, clock=lambda: now[0]) as (client, _):
        book("primary").script = ["down", "down"]
        first = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert first["account"] == "backup"
        providers = (await client.get("/v1/providers", headers=AUTH)).json()
        assert {p["account"]: p["circuit"] for p in providers}["primary"] == "open"

        now[0] += 29
        second = (
            await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        ).json()
        assert outcomes(second) == [("primary", "circuit_open"), ("backup", "accepted")]
        assert book("primary").emits == 2  # the open circuit cost no call

        now[0] += 2  # cooldown over
        providers = (await client.get("/v1/providers", headers=AUTH)).json()
        assert {p["account"]: p["circuit"] for p in providers}["primary"] == "half_open"
        third = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert third["account"] == "primary"  # the half-open probe succeeded
        providers = (await client.get("/v1/providers", headers=AUTH)).json()
        assert {p["account"]: p["circuit"] for p in providers}["primary"] == "closed"
        assert (
            'pasarela_breaker_state{account="primary",tenant="t1"} 0.0' in (await client.get("/metrics")).text
        )


async def test_async_mode_answers_202_and_the_job_loop_dispatches(example_bytes):
    async with running(tenants_toml()) as (client, _):
        r = await client.post("/v1/documents?mode=async", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 202
        assert r.json()["status"] == "queued"
        assert r.headers["location"] == f"/v1/documents/{r.json()['id']}"

        async def accepted() -> Any:
            d = (await client.get(f"/v1/documents/{r.json()['id']}", headers=AUTH)).json()
            return d if d["status"] == "accepted" else None

        await eventually(accepted)


async def test_refresh_polls_a_pending_document_now(example_bytes):
    async with running(tenants_toml(dispatch={"poll_interval_s": 60, "poll_max_s": 60}), run_jobs=False) as (
        client,
        _,
    ):
        book("primary").script = ["pending"]
        book("primary").pending_polls = 0
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["status"] == "pending"
        r = await client.post(f"/v1/documents/{doc['id']}/refresh", headers=AUTH)
        assert r.status_code == 200 and r.json()["status"] == "accepted"


async def test_unsupported_everywhere_is_422_and_nothing_is_created(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").unsupported_paths = ["lines[0].discount"]
        book("backup").unsupported_paths = ["lines[0].discount"]
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 422
        problem = r.json()
        assert problem["errors"][0] == {
            "account": "primary",
            "path": "lines[0].discount",
            "rule": "fake-unsupported",
            "message": "cannot express",
        }
        assert (await client.get("/v1/documents", headers=AUTH)).json()["items"] == []


async def test_unsupported_on_one_account_skips_it_with_a_warning(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").unsupported_paths = ["notes"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["account"] == "backup"
        assert any("primary" in w for w in doc["warnings"])
        assert book("primary").emits == 0


async def test_refresh_retries_reconciliation_of_a_document_waiting_for_an_operator(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").searchable = False  # the provider's search is down
        book("primary").script = ["timeout"]  # issued, answer lost
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()

        async def flagged() -> Any:
            d = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            return d if d["needs_attention"] else None

        await eventually(flagged)
        book("primary").searchable = True  # search is back
        r = await client.post(f"/v1/documents/{doc['id']}/refresh", headers=AUTH)
        assert r.status_code == 200
        assert r.json()["status"] == "accepted" and r.json()["needs_attention"] is False
        assert len(book("primary").issued()) == 1 and book("backup").emits == 0
