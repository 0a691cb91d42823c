"""Secrets stay secret, and webhooks are verifiable by the receiver.

A real gateway process (`pasarela serve`, JSON logs) runs in front of the simulators with every
kind of secret configured through the environment: tenant API keys, provider tokens and client
secrets, DIAN's software PIN and certificate password (and a wrong one, whose failure is logged),
the server's secret key and a webhook secret. Documents go through every account, with provider
faults and refusals, previews, listings, admin views, metrics and webhooks. Then every byte the
gateway wrote — its whole log, every API answer (headers too), every webhook delivery — is
scanned for each secret, plain, base64 and URL-encoded.

The webhook deliveries are verified as a receiver verifies them, with the reference
`standardwebhooks` package (signatures over `id.timestamp.body`, timestamp within five minutes),
not with gateway code.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import standardwebhooks

from simulators.control import SimSettings
from simulators.pki import generate
from simulators.runner import SimulatorThread, free_port

ROOT = Path(__file__).resolve().parents[2]
SOFTWARE_ID, SOFTWARE_PIN = "5ec7e700-1111-2222-3333-444444444444", "97531"
WEBHOOK_KEY = b"standard-webhooks-test-key-32byt"
SECRETS = {
    "CO_KEY": "co-api-key-7f3a9c1e5b2d4f6a8c0e",
    "SV_KEY": "sv-api-key-2b4d6f8a0c1e3a5c7e9b",
    "SERVER_KEY": "server-secret-key-9e8d7c6b5a4f3e2d1c0b",
    "FACEPRO_TOKEN": "7|facepro-token-4c5d6e7f8a9b0c1d",
    "KOYWE_SECRET": "koywe-client-secret-1a2b3c4d5e6f",
    "KOYWE_PASSWORD": "koywe-password-6f5e4d3c2b1a",
    "APIDIAN_TOKEN": "apidian-token-8b7a6c5d4e3f2a1b",
    "SMARTBILL_PRIVATE": "smartbill-private-key-0f1e2d3c4b5a",
    "DIAN_PIN": SOFTWARE_PIN,
    "P12_PASSWORD": "p12-password-3c2b1a0f9e8d",
    "WRONG_P12_PASSWORD": "p12-wrong-password-5d6c7b8a9f",
    "WEBHOOK_SECRET": "whsec_" + base64.b64encode(WEBHOOK_KEY).decode(),
}
DISPATCH = """
[tenants.dispatch]
deadline_s = 10
max_attempts = 2
backoff_base_s = 0.01
backoff_max_s = 0.05
poll_interval_s = 0.05
reconcile_window_s = 0.2
breaker_cooldown_s = 0.2
lease_s = 2
"""


def tenants(sims: SimulatorThread, p12: Path, database: Path, hooks_url: str) -> str:
    return f"""
[server]
database = "sqlite:///{database}"
secret_key = "${{SERVER_KEY}}"

[[tenants]]
id = "co"
name = "ACME Colombia SAS"
api_keys = ["${{CO_KEY}}"]
issuer = {{ country = "CO", party_type = "company", id_type = "NIT", id_number = "900373115", check_digit = "3", name = "ACME Colombia SAS", tax_responsibilities = ["O-13"], phone = "6015550100", address = {{ line = "Carrera 7 # 71-21", city_code = "11001", department_code = "11", country = "CO" }} }}
{DISPATCH}
[[tenants.numbering]]
name = "setp"
kinds = ["invoice"]
prefix = "SETP"
resolution = "18760000001"
from = 990900000
to = 990999999
valid_from = 2019-01-19
valid_to = 2030-01-19
technical_key = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
[[tenants.webhooks]]
url = "{hooks_url}"
secret = "${{WEBHOOK_SECRET}}"
[[tenants.accounts]]
name = "dian"
provider = "dian"
base_url = "{sims.url("dian")}/WcfDianCustomerServices.svc"
timeout_s = 1
credentials = {{ software_id = "{SOFTWARE_ID}", software_pin = "${{DIAN_PIN}}", certificate = "{p12}", certificate_password = "${{P12_PASSWORD}}" }}
[[tenants.accounts]]
name = "dian-wrong-password"
provider = "dian"
base_url = "{sims.url("dian")}/WcfDianCustomerServices.svc"
credentials = {{ software_id = "{SOFTWARE_ID}", software_pin = "${{DIAN_PIN}}", certificate = "{p12}", certificate_password = "${{WRONG_P12_PASSWORD}}" }}
[[tenants.accounts]]
name = "apidian"
provider = "apidian"
base_url = "{sims.url("apidian")}/api/ubl2.1"
timeout_s = 1
credentials = {{ token = "${{APIDIAN_TOKEN}}", software_pin = "${{DIAN_PIN}}" }}
[[tenants.accounts]]
name = "koywe"
provider = "koywe"
base_url = "{sims.url("koywe")}/V1"
timeout_s = 1
credentials = {{ client_id = "acme", client_secret = "${{KOYWE_SECRET}}", username = "acme-api", password = "${{KOYWE_PASSWORD}}", account_id = "39", county_ids = {{ "11001" = "496" }} }}
[[tenants.accounts]]
name = "facepro"
provider = "facepro"
base_url = "{sims.url("facepro")}/api/v1"
timeout_s = 1
credentials = {{ token = "${{FACEPRO_TOKEN}}" }}
[[tenants.routes]]
chain = ["dian-wrong-password", "dian"]

[[tenants]]
id = "sv"
name = "Tienda SV"
api_keys = ["${{SV_KEY}}"]
issuer = {{ country = "SV", party_type = "company", id_type = "NIT", id_number = "06142803901121", nrc = "2345678", name = "Tienda SV", economic_activity = "47190", establishment = "M001", point_of_sale = "P001", email = "dte@tienda.example", phone = "22223333", address = {{ line = "Colonia Escalón 123", department_code = "06", city_code = "14", country = "SV" }} }}
{DISPATCH}
[[tenants.accounts]]
name = "smartbill"
provider = "smartbill"
base_url = "{sims.url("smartbill")}/v1"
timeout_s = 1
credentials = {{ public_key = "pk-tienda", private_key = "${{SMARTBILL_PRIVATE}}" }}
transmitter_code = "001"
[[tenants.routes]]
chain = ["smartbill"]
"""


class Hooks(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        Hooks.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, by the reference `standardwebhooks` package (which also refuses a
    timestamp more than 5 minutes from now)."""
    try:
        standardwebhooks.Webhook(secret).verify(body, headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def forms(secret: str) -> set[str]:
    """A secret as it could leak: plain, base64, URL-encoded."""
    raw = secret.encode()
    return {
        secret,
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        urllib.parse.quote(secret, safe=""),
    }


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("PASARELA_SIM_DIAN_SOFTWARE", f"{SOFTWARE_ID}:{SOFTWARE_PIN}")
    pki = generate(tmp_path / "pki", nit="900373115", password=SECRETS["P12_PASSWORD"])
    hooks = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    Hooks.received = []
    settings = SimSettings(slow_s=0.01, hang_s=3, retry_after_s=0)
    with SimulatorThread(["dian", "apidian", "koywe", "facepro", "smartbill"], settings=settings) as sims:
        config = tmp_path / "tenants.toml"
        hooks_url = f"http://127.0.0.1:{hooks.server_address[1]}/hooks"
        config.write_text(tenants(sims, pki.p12, tmp_path / "gw.db", hooks_url))
        port, log = free_port(), tmp_path / "gateway.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port", str(port)],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **SECRETS},
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        try:
            yield url, sims, log
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
            hooks.shutdown()


def test_no_secret_in_logs_errors_or_answers_and_webhooks_verify(world, example_bytes):
    url, sims, log = world
    co = {"Authorization": f"Bearer {SECRETS['CO_KEY']}"}
    sv = {"Authorization": f"Bearer {SECRETS['SV_KEY']}"}
    seen: list[str] = []

    def call(method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        r = httpx.request(method, f"{url}{path}", headers=headers, timeout=30, **kwargs)
        seen.append(f"{r.status_code} {dict(r.headers)} {r.text}")
        return r

    invoice, sv_invoice = example_bytes["co-invoice"], example_bytes["sv-invoice"]
    # FacEPro has no field for credit terms (refused, never dropped): it gets the sale in cash
    cash = json.dumps({**json.loads(invoice), "payment": {"form": "cash", "means": "bank_transfer"}}).encode()
    docs = [call("POST", "/v1/documents", co, content=invoice).json()]  # wrong password, then DIAN
    assert docs[0]["status"] == "accepted", docs[0]
    assert any(a["account"] == "dian-wrong-password" and a["error"] for a in docs[0]["attempts"])
    for account, fault in (("apidian", "reject"), ("koywe", "down"), ("facepro", "reject"), ("koywe", "ok")):
        sims.states[account].set_fault(fault, 1)
        body = cash if account == "facepro" else invoice
        docs.append(call("POST", f"/v1/documents?provider={account}", co, content=body).json())
    sims.states["smartbill"].set_fault("reject", 1)
    docs += [call("POST", "/v1/documents", sv, content=sv_invoice).json() for _ in range(2)]
    assert {d["status"] for d in docs} >= {"accepted", "rejected"}, [d["status"] for d in docs]
    for account in ("dian", "apidian", "koywe", "facepro"):
        call(
            "POST",
            f"/v1/documents/preview?provider={account}",
            co,
            content=cash if account == "facepro" else invoice,
        )
    call("POST", "/v1/documents/preview", sv, content=sv_invoice)
    for doc in docs:
        auth = sv if doc["country"] == "SV" else co
        call("GET", f"/v1/documents/{doc['id']}", auth)
        call("GET", f"/v1/documents/{doc['id']}/xml", auth)
    for path in ("/v1/documents", "/v1/providers", "/v1/routing", "/v1/admin/accounts", "/v1/admin/webhooks"):
        call("GET", path, co)
    call("GET", "/metrics", {})
    call("GET", "/v1/documents", {"Authorization": "Bearer " + SECRETS["SV_KEY"][:-1]})  # a near miss: 401
    call("POST", "/v1/documents", co, content=b'{"country": "CO", "kind": "invoice", "lines": "nope"}')
    deadline = time.monotonic() + 10
    while len(Hooks.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    log_text = log.read_text()
    assert '"level": "info"' in log_text and "/v1/documents" in log_text  # the log was written

    store = b"".join(p.read_bytes() for p in log.parent.iterdir() if p.name.startswith("gw.db"))
    haystacks = {
        "log": log_text,
        "answers": "\n".join(seen),
        "webhooks": "\n".join(b.decode() for _, b in Hooks.received),
        "store": store.decode("latin-1"),  # attempts' errors, raw provider answers, sealed credentials
    }
    leaks = [
        (name, where)
        for name, secret in SECRETS.items()
        for form in forms(secret)
        for where, text in haystacks.items()
        if form in text
    ]
    assert not leaks, leaks

    # webhooks: verifiable by the receiver with the specification's algorithm, and only so
    assert Hooks.received, "no webhook delivered"
    for headers, body in Hooks.received:
        assert verify_standard_webhook(SECRETS["WEBHOOK_SECRET"], headers, body)
        event = json.loads(body)
        assert {"type", "timestamp", "data"} <= set(event)
        assert not verify_standard_webhook(SECRETS["WEBHOOK_SECRET"], headers, body + b" ")
        assert not verify_standard_webhook("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
        replayed = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}
        assert not verify_standard_webhook(SECRETS["WEBHOOK_SECRET"], replayed, body)
