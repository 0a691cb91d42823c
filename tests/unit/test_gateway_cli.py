"""`pasarela tenants check` and `pasarela emit` (serve is exercised by the crash-resume e2e test)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import respx
from gateway_harness import AUTH, KEY, running, tenants_toml

from adapters.hacienda.certificate import write_test_certificate
from demo import tour as demo
from gateway.cli.io import EXIT_BROKEN_PIPE
from gateway.cli.main import main
from simulators import pki
from simulators.runner import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_environment(monkeypatch, tmp_path) -> pki.TestPki:
    """Every ${NAME} of the example tenants file set, the DIAN certificate a real P12."""
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", (EXAMPLES / "tenants.toml").read_text())):
        monkeypatch.setenv(name, f"{name.lower()}-0123456789abcdef")
    monkeypatch.setenv(
        "ACME_WEBHOOK_SECRET", "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    )  # Standard Webhooks: base64
    certs = pki.generate(tmp_path / "certs", password="p12-password-0123")
    monkeypatch.setenv("ACME_DIAN_P12_PATH", str(certs.p12))
    monkeypatch.setenv("ACME_DIAN_P12_PASSWORD", certs.password)
    mh_password = "mh-password-0123"
    crt = write_test_certificate("06142803901121", mh_password, tmp_path / "certs")
    monkeypatch.setenv("TIENDA_MH_CERTIFICATE", str(crt))
    monkeypatch.setenv("TIENDA_MH_CERTIFICATE_PASSWORD", mh_password)
    return certs


def test_tenants_check_accepts_the_example_with_its_environment(monkeypatch, tmp_path, capsys):
    example_environment(monkeypatch, tmp_path)
    assert main(["tenants", "check", str(EXAMPLES / "tenants.toml")]) == 0
    out = capsys.readouterr()
    assert "acme-co: 3 account(s)" in out.out and out.err == ""


@pytest.mark.parametrize(
    ("variable", "value", "account", "said"),
    [
        (
            "ACME_DIAN_P12_PATH",
            "/nonexistent/acme.p12",
            "acme-co].accounts[dian",
            "certificate file not readable",
        ),
        ("ACME_DIAN_P12_PASSWORD", "not-the-password-42", "acme-co].accounts[dian", "wrong password"),
        ("TIENDA_MH_CERTIFICATE", "/nonexistent/mh.crt", "tienda-sv].accounts[hacienda", "file not readable"),
        (
            "TIENDA_MH_CERTIFICATE_PASSWORD",
            "not-the-password-42",
            "tienda-sv].accounts[hacienda",
            "does not match",
        ),
    ],
)
def test_tenants_check_opens_each_certificate_with_its_password(
    variable, value, account, said, monkeypatch, tmp_path, capsys
):
    example_environment(monkeypatch, tmp_path)
    monkeypatch.setenv(variable, value)
    assert main(["tenants", "check", str(EXAMPLES / "tenants.toml")]) == 1
    out = capsys.readouterr()
    assert f"tenants[{account}]: certificate" in out.err and said in out.err
    assert "not-the-password-42" not in out.err + out.out
    assert "ok" not in out.out.split()


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


ADMIN = "http://gateway.test"


@respx.mock
def test_tenants_command_exits_1_when_the_answer_says_not_ok(capsys):
    """`accounts test` answers 200 with `"ok": false` when the provider refused the credentials."""
    refused = {"account": "dian", "ok": False, "outcome": "misconfigured", "message": "401 from provider"}
    respx.post(f"{ADMIN}/v1/admin/accounts/dian/test").respond(200, json=refused)
    respx.post(f"{ADMIN}/v1/admin/accounts/backup/test").respond(200, json={**refused, "ok": True})
    args = ["tenants", "accounts", "test", "--url", ADMIN, "--api-key", KEY]
    assert main([*args, "dian"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main([*args, "backup"]) == 0


@respx.mock
def test_tenants_data_reads_stdin(monkeypatch, capsys):
    route = respx.post(f"{ADMIN}/v1/admin/accounts").respond(201, json={"name": "extra"})
    body = {"name": "extra", "provider": "facepro", "base_url": "http://127.0.0.1:1/api/v1"}
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(body).encode())))
    assert main(["tenants", "accounts", "create", "--url", ADMIN, "--api-key", KEY, "--data", "-"]) == 0
    assert json.loads(route.calls.last.request.content) == body


@respx.mock
def test_emit_reads_the_admin_commands_defaults_and_stdin(monkeypatch, example_bytes, capsys):
    """No --url, no --api-key: PASARELA_API_KEY and the default URL, as `pasarela tenants ...` does."""
    monkeypatch.delenv("PASARELA_URL", raising=False)
    monkeypatch.setenv("PASARELA_API_KEY", KEY)
    route = respx.post("http://127.0.0.1:8000/v1/documents").respond(201, json={"status": "accepted"})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(example_bytes["co-invoice"])))
    assert main(["emit", "-"]) == 0
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.content == example_bytes["co-invoice"]
    monkeypatch.setenv("PASARELA_URL", ADMIN)
    other = respx.post(f"{ADMIN}/v1/documents").respond(201, json={"status": "rejected"})
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(example_bytes["co-invoice"])))
    assert main(["emit", "-"]) == 1  # created, but rejected: the exit code says so
    assert other.called


def test_emit_without_a_key_names_the_variable(monkeypatch, examples_dir, capsys):
    monkeypatch.delenv("PASARELA_API_KEY", raising=False)
    assert main(["emit", str(examples_dir / "co-invoice.json")]) == 2
    assert "PASARELA_API_KEY" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"pasarela {version('pasarela')}"


@pytest.mark.parametrize(
    ("argv", "variables"),
    [
        ([], ["PASARELA_CONFIG", "PASARELA_DATABASE_URL", "PASARELA_SECRET_KEY", "PASARELA_API_KEY"]),
        (["serve"], ["PASARELA_CONFIG", "PASARELA_DATABASE_URL", "PASARELA_SECRET_KEY"]),
        (["emit"], ["PASARELA_URL", "PASARELA_API_KEY"]),
        (["simulators"], ["PASARELA_SIM_DIAN_SOFTWARE"]),
        (["tenants", "keys", "list"], ["PASARELA_URL", "PASARELA_API_KEY", "PASARELA_ADMIN_KEY"]),
    ],
)
def test_help_names_the_environment_variables(argv, variables, capsys):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps help lines
    assert all(v in shown for v in variables), [v for v in variables if v not in shown]


def test_a_closed_pipe_ends_the_command_quietly(examples_dir):
    """`pasarela preview ... | head -c0`: the reader is gone before the first write."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "preview", str(examples_dir / "co-invoice.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert err == b""
    assert proc.returncode == EXIT_BROKEN_PIPE


def _listening() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


def test_demo_refuses_a_taken_gateway_port(capsys):
    """A gateway left by an earlier demo would answer in place of the new one."""
    with _listening() as stale:
        port = stale.getsockname()[1]
        assert demo.run(port=port, base_port=free_port()) == 1
    err = capsys.readouterr().err
    assert f"port {port} is taken" in err and "--port" in err


def test_demo_suggests_a_base_port_when_simulator_ports_are_taken(capsys):
    with _listening() as taken:
        base = taken.getsockname()[1]
        assert demo.run(port=free_port(), base_port=base) == 1
    err = capsys.readouterr().err
    suggested = int(re.search(r"--base-port (\d+)", err).group(1))
    assert str(base) in err and suggested > base
    assert demo.busy_ports(demo.simulator_ports(suggested)) == []


def test_demo_notes_each_step_that_did_not_end_as_the_story_says(tmp_path):
    """A stale gateway once made step 7 fail while the demo still printed "Done" and exited 0."""
    tour = demo.Demo(tmp_path, free_port(), free_port())
    tour.expect({"_label": "invoice", "status": "accepted", "account": "dian"}, "accepted", "dian")
    tour.expect({"_label": "invoice", "status": "accepted", "account": "apidian"}, "rejected", "dian")
    assert tour.surprises == ["invoice: accepted on apidian, expected rejected on dian"]
