"""`pasarela tenants check` and `pasarela emit` (serve is exercised by the crash-resume e2e test)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from gateway_harness import AUTH, KEY, running, tenants_toml

from gateway.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_tenants_check_accepts_the_example_with_its_environment(monkeypatch, capsys):
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", (EXAMPLES / "tenants.toml").read_text())):
        monkeypatch.setenv(name, f"{name.lower()}-0123456789abcdef")
    monkeypatch.setenv(
        "ACME_WEBHOOK_SECRET", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    )  # Standard Webhooks: base64
    assert main(["tenants", "check", str(EXAMPLES / "tenants.toml")]) == 0
    out = capsys.readouterr()
    assert "acme-co: 3 account(s)" in out.out and out.err == ""


def test_tenants_check_warns_about_literal_secrets_and_fails_on_errors(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text(tenants_toml())
    assert main(["tenants", "check", str(good)]) == 0
    assert "literal secret" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(tenants_toml().replace('chain = ["primary", "backup"]', 'chain = ["ghost"]'))
    assert main(["tenants", "check", str(bad)]) == 1
    assert "routes[0].chain[0]: no account named 'ghost'" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [[], ["--idempotency-key", "cli-1"]])
async def test_emit_posts_a_document(flag, tmp_path, example_bytes, capsys):
    document = tmp_path / "co-invoice.json"
    document.write_bytes(example_bytes["co-invoice"])
    async with running(tenants_toml()) as (client, _):
        args = [
            "emit",
            str(document),
            "--url",
            str(client.base_url),
            "--api-key",
            KEY,
            "--provider",
            "backup",
            *flag,
        ]
        assert await asyncio.to_thread(main, args) == 0
        emitted = json.loads(capsys.readouterr().out)
        assert emitted["status"] == "accepted" and emitted["account"] == "backup"
        listed = (await client.get("/v1/documents", headers=AUTH)).json()["items"]
        assert [d["id"] for d in listed] == [emitted["id"]]
        assert await asyncio.to_thread(main, [*args[:5], "wrong-key-0123456789"]) == 1
