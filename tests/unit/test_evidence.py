"""The evidence rule (ARCHITECTURE.md, pinned; issue 14): the one table, and dispatch and
reconciliation obeying it end to end with the fake provider. Each test names the rule or the
defect it holds; every one of them failed on the main branch before gateway/dispatch/evidence.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from gateway_fakes import book
from gateway_harness import AUTH, running, tenants_toml
from test_gateway_dispatch import eventually, outcomes

from adapters.base import Ambiguous, Misconfigured, Outcome, Rejected, Unavailable
from adapters.http import failure_for_status
from gateway.dispatch import evidence
from gateway.store.schema import documents
from gateway.tenants.config import FISCAL_WINDOW_S, Dispatch

FAILURES = ("unavailable", "ambiguous", "rejected", "misconfigured")


# -- the table ------------------------------------------------------------------------------------


def test_positive_evidence_is_never_overturned_by_any_answer():
    for (phase, answer), rule in evidence.POLICY.items():
        assert rule.held not in ("absent", "reject", "retry", "fall_back"), (phase, answer)


def test_a_failure_to_ask_never_proves_absence():
    for phase in ("status", "find"):
        for answer in FAILURES:
            for known in ("none", "maybe", "held"):
                assert evidence.action(phase, answer, known) == "cannot_tell", (phase, answer, known)  # type: ignore[arg-type]


def test_only_documented_not_found_or_a_clean_listing_proves_absence():
    proving = {key for key, rule in evidence.POLICY.items() if "absent" in rule}
    assert proving == {("status", "not_found"), ("find", "not_found")}
    assert evidence.action("find", "cannot_tell") == "cannot_tell"  # an item lacking compared fields
    assert evidence.action("status", "something-new") == "cannot_tell"


def test_an_account_that_may_hold_it_is_never_left_for_the_next():
    for (phase, answer), rule in evidence.POLICY.items():
        if phase == "emit":
            assert rule.maybe not in ("retry", "fall_back", "reject"), answer
            assert rule.held not in ("retry", "fall_back", "reject"), answer


def test_the_fold_keeps_held_against_a_later_not_issued():
    class A:
        def __init__(self, account: str, outcome: str) -> None:
            self.account, self.outcome = account, outcome

    rows = [
        A("a", "ambiguous"),
        A("a", "held"),
        A("a", "not_issued"),
        A("b", "in_flight"),
        A("b", "not_issued"),
    ]
    assert evidence.evidence_by_account(rows) == {"a": "held", "b": "none"}
    assert evidence.may_be_issued({"a": "held", "b": "none"})
    assert not evidence.may_be_issued({"b": "none"})
    assert evidence.evidence_by_account([*rows, A("a", "resolved_not_issued")])["a"] == "none"  # the operator


@pytest.mark.parametrize("status", [201, 202, 204, 206, 299])
def test_a_2xx_is_never_a_rejection(status):
    response = httpx.Response(status, request=httpx.Request("GET", "http://127.0.0.1/x"))
    assert isinstance(failure_for_status(response, "odd", emits=False), Unavailable)
    assert isinstance(failure_for_status(response, "odd", emits=True), Ambiguous)


def test_answer_names():
    assert evidence.answer_of(Outcome(status="rejected")) == "refused"
    assert evidence.answer_of(Rejected("422")) == "rejected"
    assert evidence.answer_of(Misconfigured("401")) == "misconfigured"


# -- dispatch and reconciliation through the API --------------------------------------------------


async def _create(client: httpx.AsyncClient, body: bytes) -> dict[str, Any]:
    return (await client.post("/v1/documents", content=body, headers=AUTH)).json()


async def _get(client: httpx.AsyncClient, doc_id: str) -> dict[str, Any]:
    return (await client.get(f"/v1/documents/{doc_id}", headers=AUTH)).json()


async def test_dian_66_while_processing_never_sends_our_number_through_another_account(example_bytes):
    """Issue 14: after a timeout DIAN answered 66 while still processing, DIAN was down on the
    retry, and the same number went to APIDIAN: both ledgers held it."""
    toml = tenants_toml(
        [("dian-like", "fakeours"), ("apidian-like", "fakeours")], dispatch={"reconcile_window_s": 0.5}
    )
    async with running(toml) as (client, _):
        dian = book("dian-like")
        dian.script = ["timeout"] + ["down"] * 1000  # issued, answer lost; then down for good
        dian.unlisted_polls = 3  # GetStatus says 66 while DIAN still processes it
        doc = await _create(client, example_bytes["co-invoice"])
        assert doc["status"] == "unknown"

        async def settled() -> Any:
            d = await _get(client, doc["id"])
            return d if d["status"] == "accepted" else None

        final = await eventually(settled)
        assert final["account"] == "dian-like"
        assert book("apidian-like").emits == 0
        assert len(dian.issued()) == 1 and book("apidian-like").issued() == []


async def test_found_then_not_found_stays_unknown_and_asks_an_operator(example_bytes):
    """Positive evidence: find() matched it, then status() keeps saying "not found": never resent,
    never failed; after `attention_after_s` an operator is asked."""
    toml = tenants_toml(dispatch={"reconcile_window_s": 0.05, "attention_after_s": 0.3})
    async with running(toml) as (client, _):
        primary = book("primary")
        primary.script = ["timeout"]
        primary.unlisted_polls = 10**6
        doc = await _create(client, example_bytes["co-invoice"])

        async def flagged() -> Any:
            d = await _get(client, doc["id"])
            return d if d["needs_attention"] else None

        d = await eventually(flagged)
        assert d["status"] == "unknown"
        assert ("primary", "held") in outcomes(d)
        assert primary.emits == 1 and book("backup").emits == 0
        primary.unlisted_polls = 0  # the provider lists it again: reconciliation goes on and adopts it

        async def settled() -> Any:
            d = await _get(client, doc["id"])
            return d if d["status"] == "accepted" else None

        final = await eventually(settled)
        assert final["provider_reference"] == primary.issued()[0].provider_reference


async def test_a_rejected_status_query_does_not_mean_not_issued(example_bytes):
    """A 4xx to GetStatus (a proxy's 404) once read as "not issued": the document was resent,
    refused as a duplicate, and ended `rejected` while the provider held it."""
    toml = tenants_toml(
        [("dian-like", "fakeours"), ("apidian-like", "fakeours")],
        dispatch={"reconcile_window_s": 0.05, "attention_after_s": 0.3},
    )
    async with running(toml) as (client, _):
        dian = book("dian-like")
        dian.script = ["timeout"]
        dian.status_refused = True
        doc = await _create(client, example_bytes["co-invoice"])

        async def flagged() -> Any:
            d = await _get(client, doc["id"])
            return d if d["needs_attention"] else None

        d = await eventually(flagged)
        assert d["status"] == "unknown"
        assert dian.emits == 1 and book("apidian-like").emits == 0


async def test_failed_only_when_no_account_can_hold_it(example_bytes):
    """The deadline passes while the first account may still hold the document (its "not found"
    is younger than the processing window): `unknown`, never `failed`, nothing sent elsewhere."""
    toml = tenants_toml(
        [("dian-like", "fakeours"), ("apidian-like", "fakeours")],
        dispatch={"deadline_s": 0.5, "reconcile_window_s": 30, "breaker_threshold": 10**6},
    )
    async with running(toml) as (client, _):
        book("dian-like").script = ["lost"] + ["down"] * 10**6
        doc = await _create(client, example_bytes["co-invoice"])
        await asyncio.sleep(1.5)
        d = await _get(client, doc["id"])
        assert d["status"] == "unknown"
        assert book("apidian-like").emits == 0
        assert book("dian-like").emits > 1  # resent to the same account meanwhile


# -- the deadline follows the authority's window (the breaker's probe: tests/store/test_breaker_probe.py)


def test_the_default_deadline_is_the_authoritys_window():
    d = Dispatch()
    assert d.deadline_s is None
    assert d.deadline_for("CO") == FISCAL_WINDOW_S["CO"] == 48 * 3600
    assert d.deadline_for("SV") == 72 * 3600
    assert Dispatch(deadline_s=5).deadline_for("CO") == 5


async def test_a_document_created_without_a_deadline_gets_the_fiscal_window(example_bytes):
    toml = tenants_toml().replace("deadline_s = 5\n", "", 1)
    async with running(toml) as (client, rt):
        assert rt.tenants["t1"].dispatch.deadline_s is None
        doc = await _create(client, example_bytes["co-invoice"])
        async with rt.engine.connect() as conn:
            row = (await conn.execute(sa.select(documents).where(documents.c.id == doc["id"]))).one()
        assert row.deadline - row.created_at == pytest.approx(48 * 3600)


async def test_a_short_outage_fails_nothing(example_bytes):
    """Issue 14: every account down for a while (breaker open, then half-open) with the default
    deadline: the documents wait `queued` and are issued once the provider is back, once each."""
    toml = tenants_toml(
        [("primary", "fake")],
        dispatch={"breaker_threshold": 2, "breaker_cooldown_s": 0.2},
    ).replace("deadline_s = 5\n", "", 1)
    async with running(toml) as (client, _):
        primary = book("primary")
        primary.script = ["down"] * 12
        started = time.monotonic()
        docs = [await _create(client, example_bytes["co-invoice"]) for _ in range(6)]
        assert {d["status"] for d in docs} == {"queued"}

        async def all_accepted() -> Any:
            states = [(await _get(client, d["id"]))["status"] for d in docs]
            return states if set(states) == {"accepted"} else None

        await eventually(all_accepted, timeout=30)
        assert time.monotonic() - started < 30
        assert len(primary.issued()) == 6  # each once
