"""Crash-resume: kill -9 a gateway process while it waits on the provider, restart it on the same
store, and every document ends accepted, each issued exactly once at the provider."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from simulators.runner import free_port

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the child gateway process imports the adapter the same way
from fake_http_provider import ProviderState  # noqa: E402

KEY = "crash-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
BOOT = (
    "import sys; sys.path.insert(0, {here!r}); import fake_http_provider; "
    "from gateway.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.fixture
def provider():
    state = ProviderState()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            state.app(), host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=0.5
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield state, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def tenants(provider_url: str, database: Path) -> str:
    return f"""
[server]
database = "sqlite:///{database}"
[[tenants]]
id = "crash"
name = "Crash Test"
api_keys = ["{KEY}"]
issuer = {{ country = "CO", id_type = "NIT", id_number = "900373115", check_digit = "3", name = "ACME" }}
[tenants.dispatch]
deadline_s = 60
backoff_base_s = 0.01
backoff_max_s = 0.05
poll_interval_s = 0.05
reconcile_window_s = 0.2
lease_s = 1
[[tenants.accounts]]
name = "http"
provider = "fakehttp"
base_url = "{provider_url}"
timeout_s = 30
credentials = {{ token = "t" }}
[[tenants.routes]]
chain = ["http"]
"""


def start_gateway(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BOOT.format(here=str(HERE)),
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gateway did not start:\n{log.read_text()}")
        time.sleep(0.05)


def test_kill_mid_dispatch_then_restart_loses_nothing_and_sends_nothing_twice(
    provider, tmp_path, example_bytes
):
    state, provider_url = provider
    config = tmp_path / "tenants.toml"
    config.write_text(tenants(provider_url, tmp_path / "gateway.db"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"

    state.mode = "hang"  # the provider issues, then never answers: the gateway is mid-dispatch
    gateway = start_gateway(config, port, log)
    ids = []
    try:
        for _ in range(3):
            r = httpx.post(
                f"{url}/v1/documents?mode=async", content=example_bytes["co-invoice"], headers=AUTH
            )
            assert r.status_code == 202
            ids.append(r.json()["id"])
        deadline = time.monotonic() + 10
        while len(state.issued) < 3:
            assert time.monotonic() < deadline, "the gateway never sent the documents"
            time.sleep(0.02)
        statuses = {httpx.get(f"{url}/v1/documents/{i}", headers=AUTH).json()["status"] for i in ids}
        assert statuses == {"queued"}  # sent, answer not yet recorded
    finally:
        os.kill(gateway.pid, signal.SIGKILL)
        gateway.wait()

    state.mode = "ok"
    gateway = start_gateway(config, port, log)
    try:
        deadline = time.monotonic() + 15
        while True:
            docs = [httpx.get(f"{url}/v1/documents/{i}", headers=AUTH).json() for i in ids]
            if all(d["status"] == "accepted" for d in docs):
                break
            assert time.monotonic() < deadline, [d["status"] for d in docs]
            time.sleep(0.05)
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)

    assert state.posts == 3  # reconciled by search: never sent again
    assert len(state.issued) == 3
    for doc in docs:
        assert doc["provider_reference"] == state.issued[doc["id"]]["id"]
        outcomes = [a["outcome"] for a in doc["attempts"]]
        assert outcomes[0] == "ambiguous" and "reconciled" in outcomes


def test_a_repeat_after_a_kill_gets_the_document_within_a_lease_not_409_until_the_deadline(
    provider, tmp_path, example_bytes
):
    # issue 14: after a crash, a retry with the same Idempotency-Key got 409 for the deadline plus
    # a lease (here 61 s); the dead request's job lease (1 s here) is what tells it died
    state, provider_url = provider
    config = tmp_path / "tenants.toml"
    config.write_text(tenants(provider_url, tmp_path / "gateway.db"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    headers = {**AUTH, "Idempotency-Key": "order-crash-1"}

    state.mode = "hang"
    gateway = start_gateway(config, port, log)
    try:
        first = threading.Thread(
            target=lambda: _post_ignoring_the_kill(
                f"{url}/v1/documents", example_bytes["co-invoice"], headers
            ),
            daemon=True,
        )
        first.start()
        deadline = time.monotonic() + 10
        while not state.issued:
            assert time.monotonic() < deadline, "the gateway never sent the document"
            time.sleep(0.02)
    finally:
        os.kill(gateway.pid, signal.SIGKILL)
        gateway.wait()

    state.mode = "ok"
    gateway = start_gateway(config, port, log)
    try:
        started = time.monotonic()
        while True:
            again = httpx.post(f"{url}/v1/documents", content=example_bytes["co-invoice"], headers=headers)
            if again.status_code != 409:
                break
            assert time.monotonic() - started < 10, "still 409 long after the request's lease lapsed"
            time.sleep(0.1)
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
    assert again.status_code == 201, again.text
    assert len(state.issued) == 1 and state.posts == 1  # answered with the one document, never sent again


def _post_ignoring_the_kill(url: str, body: bytes, headers: dict[str, str]) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, content=body, headers=headers, timeout=30)
