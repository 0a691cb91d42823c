"""The soak: thousands of CO and SV documents from several tenants through a real gateway process
in front of the simulators, with faults injected at a steady rate (10 % 503, 5 % 429 with
Retry-After, 5 % timeout after the provider issued, 2 % connection reset after it issued, 5 % slow
answers, 1 % rejections) and the gateway killed with SIGKILL twice mid-run, then restarted.

The simulators' ledgers (`GET /_sim/ledger`) are the ground truth of what was issued. Asserted:
- no document was issued twice, by one provider or across a fallback;
- every issued document is `accepted` in the gateway (with the provider's reference), or `unknown`
  and flagged for an operator (counted: the goal is zero);
- every other document is `rejected` or `failed` (or `unknown` and flagged) and was issued nowhere;
- our numbering has no duplicates and no gaps: every consecutive of the range up to the last one
  allocated belongs to exactly one document;
- every request repeated with its Idempotency-Key answered the first response byte for byte, and no
  client retry (across the crashes too) created a second document;
- no 5xx answer.
Then an operator settles the flagged documents with the ledger in hand, and each ends accepted,
still issued exactly once.

`make test` runs a bounded version (2 500 documents, about a minute); `make soak` (PASARELA_SOAK=full) 10 000
documents. PASARELA_SOAK_DOCS overrides the count. The figures are printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from gateway.tenants.config import load_config
from simulators.control import SimSettings
from simulators.runner import SimulatorThread, free_port

FULL = os.environ.get("PASARELA_SOAK") == "full"
DOCUMENTS = int(os.environ.get("PASARELA_SOAK_DOCS", "10000" if FULL else "2500"))
CONCURRENCY = 24
FAULT_MIX = {"down": 0.10, "quota": 0.05, "hang": 0.05, "reset": 0.02, "slow": 0.05, "reject": 0.01}
SIMULATORS = ["apidian", "koywe", "facepro", "smartbill"]
MARKER = re.compile(r"SOAK-(\d+)-")
RANGE_FROM = 990800000
BOGOTA = ZoneInfo("America/Bogota")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(7200 if FULL else 400)]

KEYS = {"co-ours": "soak-key-co-ours-0123456789", "co-prov": "soak-key-co-prov-0123456789",
        "sv": "soak-key-sv-0123456789abcdef"}  # fmt: skip
DISPATCH = """
[tenants.dispatch]
deadline_s = 20
max_attempts = 4
backoff_base_s = 0.01
backoff_max_s = 0.05
poll_interval_s = 0.05
reconcile_window_s = 0.3
attention_after_s = 3
breaker_threshold = 8
breaker_cooldown_s = 0.1
lease_s = 1
"""


def tenants_file(sims: SimulatorThread, database: str) -> str:
    return f"""
[server]
database = "{database}"

[[tenants]]
id = "co-ours"
name = "CO, our numbering (APIDIAN)"
api_keys = ["{KEYS["co-ours"]}"]
issuer = {{ country = "CO", party_type = "company", id_type = "NIT", id_number = "900373115", check_digit = "3", name = "ACME Colombia SAS", tax_responsibilities = ["O-13"], economic_activity = "6201", phone = "6015550100", address = {{ line = "Carrera 7 # 71-21", city_code = "11001", department_code = "11", country = "CO" }} }}
{DISPATCH}
[[tenants.numbering]]
name = "setp"
kinds = ["invoice"]
prefix = "SETP"
resolution = "18760000001"
from = {RANGE_FROM}
to = {RANGE_FROM + 99999}
valid_from = 2019-01-19
valid_to = 2030-01-19
technical_key = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
[[tenants.accounts]]
name = "apidian"
provider = "apidian"
base_url = "{sims.url("apidian")}/api/ubl2.1"
credentials = {{ token = "soak-apidian-token", software_pin = "75315" }}
timeout_s = 0.5
[[tenants.routes]]
chain = ["apidian"]

[[tenants]]
id = "co-prov"
name = "CO, provider numbering (Koywe, FacEPro behind)"
api_keys = ["{KEYS["co-prov"]}"]
issuer = {{ country = "CO", id_type = "NIT", id_number = "900373115", check_digit = "3", name = "ACME" }}
{DISPATCH}
[[tenants.accounts]]
name = "koywe"
provider = "koywe"
base_url = "{sims.url("koywe")}/V1"
credentials = {{ client_id = "soak", client_secret = "soak-secret", username = "soak", password = "soak-password", account_id = "39", county_ids = {{ "11001" = "496" }} }}
range = {{ prefix = "SETK", from = 1 }}
timeout_s = 0.5
[[tenants.accounts]]
name = "facepro"
provider = "facepro"
base_url = "{sims.url("facepro")}/api/v1"
credentials = {{ token = "7|soak-facepro" }}
range = {{ prefix = "SETF", from = 1 }}
timeout_s = 0.5
[[tenants.routes]]
chain = ["koywe", "facepro"]

[[tenants]]
id = "sv"
name = "SV (SmartBill)"
api_keys = ["{KEYS["sv"]}"]
issuer = {{ country = "SV", party_type = "company", id_type = "NIT", id_number = "06142803901121", nrc = "2345678", name = "Tienda SV", economic_activity = "47190", establishment = "M001", point_of_sale = "P001", email = "dte@tienda.example", phone = "22223333", address = {{ line = "Colonia Escalón 123", department_code = "06", city_code = "14", country = "SV" }} }}
{DISPATCH}
[[tenants.accounts]]
name = "smartbill"
provider = "smartbill"
base_url = "{sims.url("smartbill")}/v1"
credentials = {{ public_key = "pk-soak", private_key = "sk-soak" }}
transmitter_code = "001"
timeout_s = 0.5
[[tenants.routes]]
chain = ["smartbill"]
"""


@dataclass
class Submission:
    serial: int
    tenant: str
    body: bytes
    key: str
    mode: str
    first: tuple[int, bytes] | None = None  # the first answer the client received
    doc_id: str | None = None
    tries: int = 0


@dataclass
class Figures:
    transport_errors: int = 0  # requests cut by a crash or refused while restarting (repeated)
    in_flight_409: int = 0
    server_errors: list[tuple[int, str]] = field(default_factory=list)
    kills: list[tuple[float, str, int]] = field(default_factory=list)


def document_for(serial: int, run: str, examples: dict[str, Any]) -> tuple[str, bytes]:
    """A unique document: the marker in a line description finds it in any provider's payload; the
    unit price (hence the total) is unique too, which is what providers' searches match on."""
    tenant = ("co-ours", "co-prov", "sv")[serial % 3]
    raw = json.loads(json.dumps(examples["sv-invoice" if tenant == "sv" else "co-invoice"]))
    line = raw["lines"][0]
    line["description"] = f"{line['description']} SOAK-{serial}-{run}"
    if tenant == "sv":
        line["unit_price"] = str(Decimal("6.50") + Decimal(serial) / 100)
    else:
        line["unit_price"] = str(Decimal("150000") + serial)
    if tenant == "co-prov":  # FacEPro has no field for credit terms: refused, never dropped
        raw["payment"] = {"form": "cash", "means": "bank_transfer"}
    return tenant, json.dumps(raw).encode()


def start_gateway(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port", str(port)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gateway did not start:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


class Cluster:
    """The gateway processes under test, all on one store, each on its own port (as behind a load
    balancer). `kill(i)` is SIGKILL; `start(i)` a new process on the same store and port."""

    def __init__(self, config: Path, log_dir: Path, processes: int) -> None:
        self.config, self.log_dir = config, log_dir
        self.ports = [free_port() for _ in range(processes)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * processes
        for i in range(processes):
            self.start(i)

    def start(self, i: int) -> None:
        self.processes[i] = start_gateway(self.config, self.ports[i], self.log_dir / f"gateway-{i}.log")

    def kill(self, i: int) -> None:
        process = self.processes[i]
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.processes[i] = None

    def kill_and_restart(self, i: int) -> None:
        self.kill(i)
        self.start(i)

    def url(self, serial: int) -> str:
        """The gateway a client reaches for this request: spread by serial over the live ones."""
        live = [u for u, p in zip(self.urls, self.processes, strict=True) if p is not None]
        candidates = live or self.urls  # all down (restarting): refused, and the client repeats it
        return candidates[serial % len(candidates)]

    def stop(self) -> None:
        for process in self.processes:
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


async def submit(client: httpx.AsyncClient, cluster: Cluster, sub: Submission, figures: Figures) -> bool:
    """Send until a gateway answers (a client repeats a request cut by a crash at once, with the
    same key, on the next live gateway); False when it must be repeated later (the first try is
    still in flight: 409)."""
    while True:
        sub.tries += 1
        try:
            r = await client.post(
                f"{cluster.url(sub.serial + sub.tries)}/v1/documents?mode={sub.mode}",
                content=sub.body,
                headers={**auth(sub.tenant), "Idempotency-Key": sub.key, "Content-Type": "application/json"},
            )
            break
        except httpx.TransportError:
            figures.transport_errors += 1
            assert sub.tries < 400, f"document {sub.serial}: the gateway never came back"
            await asyncio.sleep(0.1)
    if r.status_code == 409:
        figures.in_flight_409 += 1
        return False
    if r.status_code >= 500:
        figures.server_errors.append((r.status_code, r.text[:300]))
        return False
    assert r.status_code in (201, 202), (r.status_code, r.text[:500])
    sub.first = (r.status_code, r.content)
    sub.doc_id = r.json()["id"]
    return True


Crash = tuple[float, str, int]  # (fraction of the run, "kill" | "start" | "kill_and_restart", process)


async def drive(
    cluster: Cluster, submissions: list[Submission], crashes: list[Crash], figures: Figures
) -> None:
    queue: asyncio.Queue[tuple[float, Submission]] = asyncio.Queue()
    for sub in submissions:
        queue.put_nowait((0.0, sub))
    done = 0
    plan = [(int(len(submissions) * fraction), action, i) for fraction, action, i in crashes]
    lock = asyncio.Lock()
    started = time.monotonic()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while True:
            try:
                not_before, sub = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if (wait := not_before - time.monotonic()) > 0:
                await asyncio.sleep(min(wait, 0.05))
                queue.put_nowait((not_before, sub))
                continue
            if await submit(client, cluster, sub, figures):
                done += 1
                async with lock:
                    while plan and done >= plan[0][0]:
                        _, action, i = plan.pop(0)
                        figures.kills.append((round(time.monotonic() - started, 1), action, i))
                        await asyncio.to_thread(getattr(cluster, action), i)
            else:
                assert sub.tries < 400, f"document {sub.serial} never got an answer"
                queue.put_nowait((time.monotonic() + 0.2, sub))

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))


async def settle(cluster: Cluster, submissions: list[Submission], timeout_s: float) -> dict[str, Any]:
    """Wait until every document is terminal or flagged; return the final resources by id."""
    deadline = time.monotonic() + timeout_s
    docs: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        open_subs = list(submissions)
        semaphore = asyncio.Semaphore(CONCURRENCY)
        while open_subs:

            async def fetch(sub: Submission) -> None:
                async with semaphore:
                    for attempt in range(3):  # a kept-alive connection the server just closed: ask again
                        try:
                            r = await client.get(
                                f"{cluster.url(sub.serial)}/v1/documents/{sub.doc_id}",
                                headers=auth(sub.tenant),
                            )
                            break
                        except httpx.TransportError:
                            if attempt == 2:
                                raise
                    assert r.status_code == 200, r.text
                    docs[sub.doc_id] = r.json()  # type: ignore[index]

            await asyncio.gather(*(fetch(s) for s in open_subs))
            open_subs = [s for s in open_subs if not settled(docs[s.doc_id])]  # type: ignore[index]
            if open_subs:
                assert time.monotonic() < deadline, collections.Counter(
                    docs[s.doc_id]["status"]  # type: ignore[index]
                    for s in open_subs
                )
                await asyncio.sleep(0.3)
    return docs


def settled(doc: dict[str, Any]) -> bool:
    return doc["status"] in ("accepted", "rejected", "failed") or (
        doc["status"] == "unknown" and doc["needs_attention"]
    )


def read_ledgers(sims: SimulatorThread) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """serial → every (simulator, ledger entry) whose payload carries that document's marker."""
    issued: dict[int, list[tuple[str, dict[str, Any]]]] = collections.defaultdict(list)
    for name in SIMULATORS:
        entries = httpx.get(f"{sims.url(name)}/_sim/ledger", timeout=60).json()
        for entry in entries:
            serials = {int(m) for m in MARKER.findall(json.dumps(entry["payload"], ensure_ascii=False))}
            assert len(serials) == 1, entry
            issued[serials.pop()].append((name, entry))
    return issued


ACCOUNT_SIMULATOR = {"apidian": "apidian", "koywe": "koywe", "facepro": "facepro", "smartbill": "smartbill"}


def soak(
    tmp_path: Path,
    example_bytes: dict[str, bytes],
    database: str,
    processes: int,
    crashes: list[Crash],
    documents: int,
) -> dict[str, Any]:
    """One soak run: `documents` through `processes` gateways on `database`, crashing them as
    `crashes` says; checked against the simulators' ledgers; returns the figures (also printed)."""
    examples = {stem: json.loads(body) for stem, body in example_bytes.items()}  # as sent today
    run = format(time.time_ns() % 10**9, "x")
    settings = SimSettings(slow_s=0.1, hang_s=1.0, retry_after_s=1)
    with SimulatorThread(SIMULATORS, settings=settings) as sims:
        for name in SIMULATORS:
            sims.states[name].set_fault("ok", mix=FAULT_MIX, seed=hash((run, name)) % 2**32)
        config = tmp_path / "tenants.toml"
        config.write_text(tenants_file(sims, database))
        sims.declare_ranges(a for t in load_config(config, env={}).tenants for a in t.accounts)
        submissions = []
        for serial in range(documents):
            tenant, body = document_for(serial, run, examples)
            submissions.append(
                Submission(
                    serial,
                    tenant,
                    body,
                    f"soak-{run}-{serial}",
                    "async" if serial % 9 in (1, 5, 6) else "sync",
                )
            )
        figures = Figures()
        cluster = Cluster(config, tmp_path, processes)
        started = time.monotonic()
        try:
            asyncio.run(drive(cluster, submissions, crashes, figures))
            submitted_s = time.monotonic() - started
            docs = asyncio.run(settle(cluster, submissions, timeout_s=120))
            settled_s = time.monotonic() - started
            for name in SIMULATORS:
                sims.states[name].set_fault("ok")
            issued = read_ledgers(sims)
            outcome = tally(submissions, docs, issued)
            print(f"\nSOAK OUTCOME ({processes} process(es)) " + json.dumps(outcome))
            print_double_issues(submissions, docs, issued, tmp_path)
            replays = asyncio.run(replay_all(cluster, submissions))
            listed = asyncio.run(list_all(cluster))
            report = {**outcome, **check(submissions, docs, issued, replays, listed, figures)}
            report["resolved by the operator"] = asyncio.run(
                operator_resolves(cluster, sims, submissions, docs)
            )
        finally:
            cluster.stop()
    report.update(
        {
            "gateway processes": processes,
            "store": database.partition(":")[0],
            "submitted in (s)": round(submitted_s, 1),
            "settled in (s)": round(settled_s, 1),
            "throughput (documents/s)": round(documents / settled_s, 1),
            "crashes (s, action, process)": figures.kills,
        }
    )
    print("\nSOAK FIGURES " + json.dumps(report, indent=2, ensure_ascii=False))
    assert len(figures.kills) == len(crashes)
    return report


def tally(
    submissions: list[Submission], docs: dict[str, Any], issued: dict[int, list[tuple[str, dict[str, Any]]]]
) -> dict[str, int]:
    """The headline figures, counted before anything is asserted (docs/reliability.md)."""
    statuses = [docs[s.doc_id]["status"] for s in submissions]
    counts = [len(issued.get(s.serial, [])) for s in submissions]
    return {
        "documents": len(submissions),
        "issued": sum(1 for c in counts if c),
        "issued twice": sum(1 for c in counts if c > 1),
        "unknown": statuses.count("unknown"),
        "failed but issued": sum(
            1 for st, c in zip(statuses, counts, strict=True) if c and st in ("failed", "rejected")
        ),
    }


def print_double_issues(
    submissions: list[Submission],
    docs: dict[str, Any],
    issued: dict[int, list[tuple[str, dict[str, Any]]]],
    log_dir: Path,
) -> None:
    """The evidence of each document issued more than once, or called failed or rejected while
    issued, before anything is asserted: the document with its attempts, every ledger entry, and
    every gateway log line that names it."""
    for sub in submissions:
        entries = issued.get(sub.serial, [])
        doc = docs[sub.doc_id]
        if len(entries) < 2 and not (entries and doc["status"] in ("failed", "rejected")):
            continue
        what = "ISSUED TWICE" if len(entries) > 1 else f"ISSUED BUT {doc['status'].upper()}"
        print(f"\n{what}: serial {sub.serial}, {sub.mode}, client tries {sub.tries}")
        print("  document " + json.dumps({k: doc.get(k) for k in ("id", "status", "number", "account")}))
        for attempt in doc["attempts"]:
            print("  attempt " + json.dumps(attempt, ensure_ascii=False))
        for name, entry in entries:
            seen = {k: entry.get(k) for k in ("reference", "number", "issued_at")}
            print(f"  ledger {name} " + json.dumps(seen))
        for log in sorted(log_dir.glob("gateway-*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if sub.doc_id in line:  # type: ignore[operator]
                    print(f"  {log.name}: {line[:600]}")


def test_soak_faults_and_two_crashes_lose_nothing_and_issue_nothing_twice(tmp_path, example_bytes):
    """One gateway process on SQLite, killed and restarted twice."""
    crashes = [(1 / 3, "kill_and_restart", 0), (2 / 3, "kill_and_restart", 0)]
    soak(tmp_path, example_bytes, f"sqlite:///{tmp_path / 'gateway.db'}", 1, crashes, DOCUMENTS)


async def replay_all(cluster: Cluster, submissions: list[Submission]) -> dict[int, tuple[int, bytes]]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    answers: dict[int, tuple[int, bytes]] = {}
    async with httpx.AsyncClient(timeout=60) as client:

        async def replay(sub: Submission) -> None:
            async with semaphore:
                r = await client.post(
                    f"{cluster.url(sub.serial + 1)}/v1/documents?mode={sub.mode}",
                    content=sub.body,
                    headers={**auth(sub.tenant), "Idempotency-Key": sub.key},
                )
                answers[sub.serial] = (r.status_code, r.content)

        await asyncio.gather(*(replay(s) for s in submissions))
    return answers


async def list_all(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    """Every document each tenant has, through the list endpoint (to find any duplicate)."""
    listed: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        for tenant in KEYS:
            items, cursor = [], None
            while True:
                params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
                page = (
                    await client.get(
                        f"{cluster.url(len(items))}/v1/documents", params=params, headers=auth(tenant)
                    )
                ).json()
                items += page["items"]
                if not (cursor := page.get("next_cursor")):
                    break
            listed[tenant] = items
    return listed


def check(
    submissions: list[Submission],
    docs: dict[str, Any],
    issued: dict[int, list[tuple[str, dict[str, Any]]]],
    replays: dict[int, tuple[int, bytes]],
    listed: dict[str, list[dict[str, Any]]],
    figures: Figures,
) -> dict[str, Any]:
    statuses: collections.Counter[str] = collections.Counter()
    flagged_issued = flagged_not_issued = 0
    outcomes: collections.Counter[str] = collections.Counter()
    for sub in submissions:
        doc = docs[sub.doc_id]
        entries = issued.get(sub.serial, [])
        outcomes.update(a["outcome"] for a in doc["attempts"])
        # never issued twice: not by one provider, not across the fallback
        assert len(entries) <= 1, (
            sub.serial,
            doc["id"],
            doc["number"],
            [(n, e["reference"], e["number"]) for n, e in entries],
        )
        statuses[doc["status"]] += 1
        if entries:
            simulator, entry = entries[0]
            if doc["status"] == "accepted":
                assert ACCOUNT_SIMULATOR[doc["account"]] == simulator, (doc["id"], doc["account"], simulator)
                assert entry["reference"] in (doc["provider_reference"], doc["fiscal_id"]), (doc, entry)
                if entry.get("number"):
                    assert entry["number"] == doc["number"], (doc, entry)
            else:
                assert doc["status"] == "unknown" and doc["needs_attention"], (doc["status"], doc["id"])
                flagged_issued += 1
        else:
            assert doc["status"] in ("rejected", "failed", "unknown"), (
                doc["status"],
                doc["id"],
                doc["attempts"],
            )
            if doc["status"] == "unknown":
                assert doc["needs_attention"]
                flagged_not_issued += 1
    # no client retry created a second document: one document per submission, no more
    assert sum(len(items) for items in listed.values()) == len(submissions)
    assert len({s.doc_id for s in submissions}) == len(submissions)
    # idempotent replays: the first answer, byte for byte
    replayed_same = 0
    for sub in submissions:
        status, body = replays[sub.serial]
        assert status in (201, 202), (status, body[:300])
        assert json.loads(body)["id"] == sub.doc_id
        if sub.tries == 1:  # the client saw the first answer itself: the replay is that answer
            assert (status, body) == sub.first, sub.serial
            replayed_same += 1
    numbering = check_numbering(submissions, docs, issued)
    assert not figures.server_errors, figures.server_errors[:5]
    return {
        "statuses": dict(statuses),
        "issued by the simulators": sum(len(v) for v in issued.values()),
        "issued twice": sum(1 for entries in issued.values() if len(entries) > 1),
        "issued and unknown, flagged for an operator": flagged_issued,
        "not issued and unknown, flagged for an operator": flagged_not_issued,
        "attempt outcomes": dict(outcomes),
        "requests cut by the crashes or refused while restarting": figures.transport_errors,
        "409 in flight (retried later)": figures.in_flight_409,
        "5xx answers": len(figures.server_errors),
        "replays identical to the first answer": replayed_same,
        "numbering": numbering,
    }


def check_numbering(
    submissions: list[Submission], docs: dict[str, Any], issued: dict[int, list[tuple[str, dict[str, Any]]]]
) -> dict[str, int]:
    """Our range (tenant co-ours): each consecutive from the start up to the last one allocated
    belongs to exactly one document; numbers not issued at the provider are recorded as such."""
    ours = [docs[s.doc_id] for s in submissions if s.tenant == "co-ours"]
    consecutives = sorted(int(d["number"].removeprefix("SETP")) for d in ours)
    assert consecutives == list(range(RANGE_FROM, RANGE_FROM + len(ours))), "duplicate or gap in numbering"
    issued_numbers = [
        e["number"] for s in submissions if s.tenant == "co-ours" for _, e in issued.get(s.serial, [])
    ]
    assert len(issued_numbers) == len(set(issued_numbers))
    not_issued = [d for d in ours if d["number"] not in set(issued_numbers)]
    assert all(d["status"] in ("rejected", "failed", "unknown") for d in not_issued)
    return {
        "allocated": len(consecutives),
        "issued at APIDIAN": len(issued_numbers),
        "allocated, not issued (rejected/failed, recorded)": len(not_issued),
    }


async def operator_resolves(
    cluster: Cluster, sims: SimulatorThread, submissions: list[Submission], docs: dict[str, Any]
) -> int:
    """The operator settles each flagged document from the provider's records (the ledger): one
    issued ends accepted; one not issued is dispatched again (accepted) unless its deadline has
    passed (failed, and still issued nowhere)."""
    flagged = [s for s in submissions if docs[s.doc_id]["status"] == "unknown"]
    issued = read_ledgers(sims)
    async with httpx.AsyncClient(timeout=60) as client:
        for sub in flagged:
            entries = issued.get(sub.serial, [])
            resolution = (
                {"issued": True, "provider_reference": entries[0][1]["reference"]}
                if entries
                else {"issued": False}
            )
            r = await client.post(
                f"{cluster.url(sub.serial)}/v1/documents/{sub.doc_id}/resolve",
                json=resolution,
                headers=auth(sub.tenant),
            )
            assert r.status_code == 200, r.text
    final = await settle(cluster, flagged, timeout_s=60)
    issued = read_ledgers(sims)
    for sub in flagged:
        status = final[sub.doc_id]["status"]
        assert status in ("accepted", "failed"), final[sub.doc_id]
        assert len(issued.get(sub.serial, [])) == (1 if status == "accepted" else 0), final[sub.doc_id]
    return len(flagged)
