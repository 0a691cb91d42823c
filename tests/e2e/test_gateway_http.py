"""The gateway over real HTTP: the e2e fixtures themselves, the example tenants file, a simulator."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import gateway_fakes

ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-key-0123456789abcdef"
FAKE_TENANTS = """
[[tenants]]
id = "fake-co"
name = "Fake CO"
api_keys = ["${E2E_KEY}"]
issuer = { country = "CO", id_type = "NIT", id_number = "900373115", check_digit = "3", name = "ACME" }
[tenants.dispatch]
deadline_s = 5
backoff_base_s = 0.001
backoff_max_s = 0.01
poll_interval_s = 0.02
[[tenants.accounts]]
name = "e2e-primary"
provider = "fake"
base_url = "http://127.0.0.1:9"
credentials = { token = "t" }
range = { prefix = "PRI" }
[[tenants.accounts]]
name = "e2e-backup"
provider = "fake"
base_url = "http://127.0.0.1:9"
credentials = { token = "t" }
range = { prefix = "BAK" }
[[tenants.routes]]
chain = ["e2e-primary", "e2e-backup"]
"""
AUTH = {"Authorization": f"Bearer {KEY}"}


def test_fixture_serves_the_gateway_over_loopback(gateway_for, example_bytes):
    gw = gateway_for(FAKE_TENANTS, env={"E2E_KEY": KEY})
    assert gw.url.startswith("http://127.0.0.1:")
    assert gw.client.get("/healthz").json() == {"status": "ok"}
    gateway_fakes.book("e2e-primary").script = ["down"] * 4
    r = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "accepted"
    assert body["account"] == "e2e-backup"
    assert body["totals"]["payable"] == "358050.00"
    assert gw.client.get(f"/v1/documents/{body['id']}", headers=AUTH).json()["status"] == "accepted"
    assert gateway_for(FAKE_TENANTS, env={"E2E_KEY": KEY}) is gw  # cached per text


def test_example_tenants_file_loads_unchanged_and_emits_through_smartbill(gateway_for, sims, example_bytes):
    text = (ROOT / "examples" / "tenants.toml").read_text()
    ports = {
        str(8101 + i): name
        for i, name in enumerate(["facepro", "apidian", "smartapp", "koywe", "smartbill", "dian", "hacienda"])
    }
    text = re.sub(r"http://127\.0\.0\.1:(810[1-7])", lambda m: f"{{sims.{ports[m.group(1)]}}}", text)
    env = {name: f"{name.lower()}-value-0123456789" for name in re.findall(r"\$\{([A-Z0-9_]+)\}", text)}
    env["ACME_WEBHOOK_SECRET"] = (
        "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # Standard Webhooks: base64
    )
    gw = gateway_for(text, env=env)
    before = len(sims.states["smartbill"].entries())
    r = gw.client.post(
        "/v1/documents",
        content=example_bytes["sv-invoice"],
        headers={"Authorization": f"Bearer {env['TIENDA_SV_API_KEY']}"},
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["status"] == "accepted", doc
    assert doc["account"] == "smartbill"
    assert len(sims.states["smartbill"].entries()) == before + 1
    other = gw.client.get(
        f"/v1/documents/{doc['id']}", headers={"Authorization": f"Bearer {env['ACME_CO_API_KEY']}"}
    )
    assert other.status_code == 404  # another tenant's document does not exist for this key
