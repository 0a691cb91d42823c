"""`pasarela tenants ...` against a running gateway in front of the DIAN simulator: numbering ranges
imported from DIAN's GetNumberingRange, an account tested with its own credentials, an API key
created and revoked (refused at once), and the account's secrets in no answer and no log line."""

from __future__ import annotations

import json
import logging

import pytest

from e2e.test_lifecycle import SOFTWARE, TENANTS
from gateway.cli.main import main
from simulators.pki import generate

KEY = "e2e-admin-key-0123456789abcdef"
SECRET_KEY = "e2e-admin-server-secret-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("e2e-admin-pki"), nit="900373115", password="admin-p12-SECRET-pw")


@pytest.fixture
def gw(gateway_for, sims, pki, monkeypatch):
    monkeypatch.setenv("PASARELA_SIM_DIAN_SOFTWARE", SOFTWARE)
    sims.states["dian"].set_fault("ok")
    software_id, pin = SOFTWARE.split(":")
    env = {
        "LIFE_KEY": KEY,
        "LIFE_SV_KEY": "e2e-admin-sv-key-0123456789",
        "LIFE_SOFTWARE_ID": software_id,
        "LIFE_SOFTWARE_PIN": pin,
        "LIFE_P12": str(pki.p12),
        "LIFE_P12_PASSWORD": pki.password,
        "PASARELA_SECRET_KEY": SECRET_KEY,
    }
    return gateway_for(TENANTS, env=env)


def cli(capsys, gw, *args: str, key: str = KEY) -> tuple[int, object]:
    code = main(["tenants", *args, "--url", gw.url, "--api-key", key])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_ranges_imported_from_dian_and_listed_with_used_and_remaining(gw, capsys):
    code, imported = cli(capsys, gw, "numbering", "import", "dian-direct")
    assert code == 0, imported
    (setp,) = [v for v in imported if v["range"]["name"] == "SETP"]
    assert setp["range"]["technical_key"] == "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
    assert (setp["range"]["from"], setp["range"]["to"], setp["source"]) == (990000000, 995000000, "api")
    code, listed = cli(capsys, gw, "numbering", "list")
    assert code == 0 and {"setp", "nc", "nd", "SETP"} <= {v["range"]["name"] for v in listed}
    assert next(v for v in listed if v["range"]["name"] == "SETP")["remaining"] == 995000000 - 990000000 + 1


def test_account_test_and_key_lifecycle_from_the_cli(gw, capsys):
    code, tested = cli(capsys, gw, "accounts", "test", "dian-direct")
    assert code == 0 and tested["ok"] is True and tested["probe"] == "numbering_ranges", tested
    code, created = cli(capsys, gw, "keys", "create", "--label", "cli")
    assert code == 0 and created["key"].startswith("psk_")
    assert (
        gw.client.get("/v1/providers", headers={"Authorization": f"Bearer {created['key']}"}).status_code
        == 200
    )
    code, _ = cli(capsys, gw, "keys", "revoke", created["id"])
    assert code == 0
    assert (
        gw.client.get("/v1/providers", headers={"Authorization": f"Bearer {created['key']}"}).status_code
        == 401
    )
    code, refused = cli(capsys, gw, "keys", "list", key=created["key"])
    assert code == 1 and refused["status"] == 401


def test_account_secrets_appear_in_no_answer_and_no_log(gw, pki, capsys, caplog, example_bytes):
    caplog.set_level(logging.DEBUG)
    auth = {"Authorization": f"Bearer {KEY}"}
    answers = [
        gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=auth).text,
        gw.client.get("/v1/admin/accounts", headers=auth).text,
        gw.client.get("/v1/providers", headers=auth).text,
        gw.client.post("/v1/admin/accounts/dian-direct/test", headers=auth).text,
        gw.client.patch("/v1/admin/accounts/dian-direct", json={"timeout_s": 6}, headers=auth).text,
        gw.client.get("/metrics").text,
    ]
    assert (
        '"credential_fields":["certificate","certificate_password","software_id","software_pin"]'
        in answers[1]
    )
    pin = SOFTWARE.split(":")[1]
    for secret in (pki.password, SECRET_KEY):
        assert all(secret not in a for a in answers)
        assert secret not in caplog.text
    assert all(f'"{pin}"' not in a for a in answers)
    # the sealed copy still works: the account, now stored through the API, emits
    doc = gw.client.post("/v1/documents", content=example_bytes["co-invoice"], headers=auth).json()
    assert doc["status"] == "accepted", doc


def test_certificate_expiring_within_30_days_alerts_once(gateway_for, sims, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PASARELA_SIM_DIAN_SOFTWARE", SOFTWARE)
    short = generate(
        tmp_path_factory.mktemp("e2e-admin-short"), nit="900373115", password="short-pw", days=10
    )
    software_id, pin = SOFTWARE.split(":")
    env = {
        "LIFE_KEY": "e2e-admin-cert-key-0123456789",
        "LIFE_SV_KEY": "e2e-admin-cert-sv-key-0123456789",
        "LIFE_SOFTWARE_ID": software_id,
        "LIFE_SOFTWARE_PIN": pin,
        "LIFE_P12": str(short.p12),
        "LIFE_P12_PASSWORD": short.password,
        "PASARELA_SECRET_KEY": SECRET_KEY,
    }
    hook = '[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="\nevents = ["account.misconfigured"]\n'
    gw = gateway_for(
        TENANTS.replace('[[tenants]]\nid = "life-sv"', hook + '[[tenants]]\nid = "life-sv"'), env=env
    )
    auth = {"Authorization": f"Bearer {env['LIFE_KEY']}"}
    for _ in range(3):  # each scrape checks the condition again; it fires once
        metrics = gw.client.get("/metrics").text
    assert 'pasarela_alerts{alert="account.misconfigured",tenant="life-co"} 1.0' in metrics
    events = gw.client.get("/v1/admin/webhooks/deliveries", headers=auth).json()
    assert [e["event_type"] for e in events] == ["account.misconfigured"]
