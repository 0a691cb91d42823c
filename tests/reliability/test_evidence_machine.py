"""Stateful property tests (hypothesis) of the evidence rule against adversarial providers.

Two Koywe accounts in one chain, each an `AdversarialKoywe` (tests/reliability/adversarial_provider.py:
its own loopback server, independent of `simulators/`). Hypothesis drives emissions under armed
emission quirks, odd answers to status queries and searches, waits, and crashes: the gateway's
in-memory parts (dispatcher, job loop, adapters, engine) are dropped mid-flight, some of them in
the middle of a provider call, and a new gateway starts from the store alone.

Invariants, checked against the providers' ledgers (the truth):
- nothing is issued twice, by one account or across the fallback (after every step);
- every document a provider issued ends `accepted`, or `unknown` with an operator alert
  (`needs_attention`), never `failed` or `rejected`;
- every `failed` or `rejected` document was issued nowhere.

The bounded run is part of `make test` (25 histories of 6 steps, derandomized: ~30 s);
`PASARELA_SOAK=full` (make soak) explores 200 random histories of up to 25 steps (~17 min).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from adversarial_provider import EMIT_QUIRKS, LIST_QUIRKS, STATUS_QUIRKS, AdversarialKoywe
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gateway.dispatch.chain import Dispatcher
from gateway.dispatch.loop import JobLoop
from gateway.documents.service import DocumentService
from gateway.startup import start
from gateway.store import documents as docs
from gateway.store.schema import documents
from gateway.tenants.config import load_config
from gateway.tenants.runtime import Runtime

FULL = os.environ.get("PASARELA_SOAK") == "full"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIENT_TIMEOUT_S = 0.15  # the adapter's HTTP timeout; the providers' late answers come after it
DISPATCH = {
    "deadline_s": 2.0,
    "max_attempts": 2,
    "backoff_base_s": 0.001,
    "backoff_max_s": 0.02,
    "poll_interval_s": 0.02,
    "poll_max_s": 0.1,
    "reconcile_window_s": 0.25,  # above the providers' lag_s: their "not found" settles by then
    "attention_after_s": 0.8,
    "breaker_threshold": 1000,
    "breaker_cooldown_s": 0.2,
    "lease_s": 0.5,
}
SETTLE_S = 12.0


def query_quirks(quirks: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    """Odd answers to queries, each for a run of calls: a provider misbehaves for a while, often
    longer than a reconciliation window, not for exactly one call."""
    run = st.tuples(st.sampled_from(quirks), st.integers(1, 30)).map(lambda q: [q[0]] * q[1])
    return st.lists(run, max_size=2).map(lambda runs: [q for r in runs for q in r])


def tenants_toml(providers: list[AdversarialKoywe]) -> str:
    lines = [
        "[[tenants]]",
        'id = "t1"',
        'name = "Evidence"',
        'api_keys = ["evidence-key-0123456789abcdef"]',
        "[tenants.issuer]",
        'country = "CO"\nid_type = "NIT"\nid_number = "900373115"\ncheck_digit = "3"\nname = "ACME"',
        "[tenants.dispatch]",
        *(f"{k} = {v}" for k, v in DISPATCH.items()),
    ]
    for p in providers:
        lines += [
            "[[tenants.accounts]]",
            f'name = "{p.name}"',
            'provider = "koywe"',
            f'base_url = "{p.base_url}"',
            f"timeout_s = {CLIENT_TIMEOUT_S}",
            'credentials = { client_id = "c", client_secret = "s", username = "u", password = "p", '
            'county_ids = { "11001" = "496" } }',
            f'range = {{ prefix = "{p.name.upper()}" }}',  # each self-numbering account its own range
        ]
    lines += ["[[tenants.routes]]", f"chain = {json.dumps([p.name for p in providers])}"]
    return "\n".join(lines) + "\n"


def marker(text: str) -> int:
    return int(text.split("EVIDENCE-", 1)[1].split("-", 1)[0])


def invoice(n: int) -> bytes:
    """A CO invoice whose line names it (EVIDENCE-n-) and whose total no other one has."""
    raw = json.loads((EXAMPLES / "co-invoice.json").read_text())
    raw.pop("issue_date", None)
    raw.pop("issue_time", None)
    raw["customer"] = {
        "party_type": "company",
        "id_type": "NIT",
        "id_number": "860517022",
        "check_digit": "2",
        "name": "ESCUELA KEMPER URGATE",
    }
    raw["lines"] = [
        {
            "description": f"EVIDENCE-{n}- consultoría",
            "quantity": "1",
            "unit_price": str(1000 + n),
            "taxes": [{"tax": "IVA", "rate": "19"}],
        }
    ]
    return json.dumps(raw).encode()


class EvidenceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = tempfile.TemporaryDirectory(prefix="pasarela-evidence-")
        # invisible for 0.15 s after issue (a search index catching up), below the 0.25 s window
        self.providers = [AdversarialKoywe(name, late_s=0.4, lag_s=0.15) for name in ("k1", "k2")]
        self.count = 0
        self.creating: set[asyncio.Task[Any]] = set()
        self.run(self._boot())

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    async def _boot(self) -> None:
        for p in self.providers:
            await p.start()
        env = {"PASARELA_DATABASE_URL": f"sqlite:///{Path(self.tmp.name) / 'gw.db'}"}
        self.config = load_config(tenants_toml(self.providers), env=env)
        await self._start_gateway()

    async def _start_gateway(self) -> None:
        self.rt = Runtime(self.config)
        await start(self.rt)
        self.dispatcher = Dispatcher(self.rt)
        self.service = DocumentService(self.rt, self.dispatcher)
        self.jobs = JobLoop(self.rt, self.dispatcher)
        self.jobs.start()

    async def _crash(self) -> None:
        """Drop every in-memory part at once, mid-call included: only the store survives."""
        for task in self.creating:
            task.cancel()
        await asyncio.gather(*self.creating, return_exceptions=True)
        self.creating.clear()
        await self.jobs.stop()
        await self.rt.close()

    async def _create(self) -> asyncio.Task[Any]:
        self.count += 1
        n = self.count
        tenant = self.rt.tenants["t1"]

        async def create() -> None:
            await self.service.create(tenant, invoice(n))

        task = asyncio.ensure_future(create())
        self.creating.add(task)
        task.add_done_callback(self.creating.discard)
        return task

    # -- rules ------------------------------------------------------------------------------------

    @rule(
        first=st.lists(st.sampled_from(sorted(EMIT_QUIRKS)), min_size=1, max_size=3),
        second=st.lists(st.sampled_from(sorted(EMIT_QUIRKS)), max_size=2),
        statuses=query_quirks(STATUS_QUIRKS),
        listings=query_quirks(LIST_QUIRKS),
    )
    def emit(self, first: list[str], second: list[str], statuses: list[str], listings: list[str]) -> None:
        """One document, with what its accounts will answer to it and to the questions after it."""
        self.providers[0].emit_quirks.extend(first)
        self.providers[1].emit_quirks.extend(second)
        self.providers[0].status_quirks.extend(statuses)
        self.providers[0].list_quirks.extend(listings)

        async def emit_one() -> None:
            task = await self._create()
            with contextlib.suppress(Exception):
                await task

        self.run(emit_one())

    @rule(
        account=st.sampled_from([0, 1]),
        statuses=query_quirks(STATUS_QUIRKS),
        listings=query_quirks(LIST_QUIRKS),
    )
    def odd_answers(self, account: int, statuses: list[str], listings: list[str]) -> None:
        self.providers[account].status_quirks.extend(statuses)
        self.providers[account].list_quirks.extend(listings)

    @rule(quirk=st.sampled_from(["late", "slow_down"]))
    def crash_mid_emission(self, quirk: str) -> None:
        """The provider has read the whole request (and, `late`, issued it) when the process dies."""
        first = self.providers[0]
        first.emit_quirks.appendleft(quirk)

        async def crash() -> None:
            first.received.clear()
            before = first.calls["emit"]
            await self._create()
            while first.calls["emit"] == before:
                if not self.creating:
                    break  # sent elsewhere first (the account may be skipped): nothing mid-call
                await asyncio.sleep(0.005)
            await self._crash()
            await self._start_gateway()

        self.run(crash())

    @rule()
    def restart(self) -> None:
        """A crash with background work (polls, reconciliation, resends) in flight."""

        async def restart() -> None:
            await self._crash()
            await self._start_gateway()

        self.run(restart())

    @rule(seconds=st.sampled_from([0.05, 0.3]))
    def time_passes(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds))

    # -- invariants -------------------------------------------------------------------------------

    def _copies(self) -> dict[int, list[str]]:
        """Marker → the accounts whose ledger holds a document carrying it."""
        held: dict[int, list[str]] = {}
        for p in self.providers:
            for issued in p.ledger.values():
                held.setdefault(marker(json.dumps(issued.payload, default=str)), []).append(p.name)
        return held

    @invariant()
    def nothing_is_issued_twice(self) -> None:
        twice = {n: where for n, where in self._copies().items() if len(where) > 1}
        assert not twice, f"issued twice: {twice}"

    @precondition(lambda self: self.count > 0)
    @invariant()
    def failed_or_rejected_documents_were_issued_nowhere(self) -> None:
        copies = self._copies()
        for row in self.run(self._rows()):
            if row.status in ("failed", "rejected"):
                assert marker(row.document.decode()) not in copies, (row.id, row.status, copies)

    async def _rows(self) -> list[Any]:
        async with self.rt.engine.connect() as conn:
            return list((await conn.execute(sa.select(documents))).all())

    def teardown(self) -> None:
        try:
            self.run(self._settle_and_check(), timeout=SETTLE_S + 30)
        finally:
            with contextlib.suppress(Exception):
                self.run(self._crash())
            for p in self.providers:
                self.run(p.stop())
            self.loop.close()
            self.tmp.cleanup()

    async def _settle_and_check(self) -> None:
        for p in self.providers:  # the adversary stops; what it did stays in the ledgers
            p.emit_quirks.clear()
            p.status_quirks.clear()
            p.list_quirks.clear()
        await asyncio.gather(*self.creating, return_exceptions=True)
        loop_time = asyncio.get_running_loop().time
        until = loop_time() + SETTLE_S
        while True:
            rows = await self._rows()
            open_rows = [
                r
                for r in rows
                if r.status not in docs.TERMINAL and not (r.status == "unknown" and r.needs_attention)
            ]
            if not open_rows or loop_time() > until:
                break
            await asyncio.sleep(0.05)
        assert not open_rows, f"never settled: {[(r.id, r.status) for r in open_rows]}"
        copies = self._copies()
        assert set(copies) <= {marker(r.document.decode()) for r in rows}, "issued, never created"
        for row in rows:
            issued = marker(row.document.decode()) in copies
            if issued:
                assert row.status == "accepted" or (row.status == "unknown" and row.needs_attention), (
                    row.id,
                    row.status,
                )
            if row.status in ("failed", "rejected"):
                assert not issued, (row.id, row.status)
            if row.status == "accepted":
                assert issued, (row.id, "accepted but issued nowhere")
        self.nothing_is_issued_twice()


EvidenceMachine.TestCase.settings = settings(
    max_examples=200 if FULL else 25,
    stateful_step_count=25 if FULL else 6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not FULL,  # the bounded run explores the same histories every time
)
TestEvidenceMachine = pytest.mark.timeout(3600 if FULL else 120)(EvidenceMachine.TestCase)
