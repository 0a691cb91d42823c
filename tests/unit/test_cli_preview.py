"""`pasarela preview FILE` works offline without a config."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

from gateway.cli.main import main

TENANTS_ENV = (
    "ACME_CO_API_KEY",
    "ACME_FACEPRO_TOKEN",
    "ACME_APIDIAN_TOKEN",
    "TIENDA_SV_API_KEY",
    "TIENDA_SMARTBILL_PUBLIC_KEY",
    "TIENDA_SMARTBILL_PRIVATE_KEY",
    "PASARELA_SECRET_KEY",
    "ACME_WEBHOOK_SECRET",
    "ACME_DIAN_SOFTWARE_ID",
    "ACME_DIAN_SOFTWARE_PIN",
    "ACME_DIAN_P12_PATH",
    "ACME_DIAN_P12_PASSWORD",
    "ACME_DIAN_TEST_SET_ID",
    "TIENDA_MH_USER",
    "TIENDA_MH_API_PASSWORD",
    "TIENDA_MH_CERTIFICATE",
    "TIENDA_MH_CERTIFICATE_PASSWORD",
    "TIENDA_MH_RESPONSIBLE_NAME",
    "TIENDA_MH_RESPONSIBLE_DUI",
)
# Every variable of the example tenants file; the webhook secret in the form Standard Webhooks takes.
EXAMPLE_ENV = {
    **{name: "preview-" + name.lower() for name in TENANTS_ENV},
    "ACME_WEBHOOK_SECRET": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
}


def test_preview_prints_totals(capsys, examples_dir):
    assert main(["preview", str(examples_dir / "co-invoice.json")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is True
    assert out["totals"]["payable"] == "358050.00"


def test_preview_bad_document_prints_errors_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "country": "CO",
                "kind": "invoice",
                "lines": [{"description": "x", "quantity": "0", "unit_price": "1"}],
            }
        )
    )
    assert main(["preview", str(bad)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {(e["path"], e["rule"]) for e in out["errors"]} == {
        ("lines[0].quantity", "quantity-positive"),
        ("customer", "customer-required"),
    }


def test_console_script_runs_as_a_process(examples_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "preview", str(examples_dir / "sv-invoice.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"]["payable"] == "27.00"


def test_preview_with_a_tenant_shows_each_accounts_payload(capsys, examples_dir, monkeypatch):
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    args = ["preview", str(examples_dir / "sv-invoice.json"), "--config", str(examples_dir / "tenants.toml")]
    assert main([*args, "--tenant", "tienda-sv"]) == 0
    out = json.loads(capsys.readouterr().out)
    smartbill, hacienda = out["payloads"]  # the SV chain: SmartBill, then Hacienda direct
    assert smartbill["account"] == "smartbill"
    assert "dteJson" in smartbill["payload"]
    assert hacienda["account"] == "hacienda"  # the DTE that would be signed, numbered from the range
    assert hacienda["payload"]["identificacion"]["numeroControl"].startswith("DTE-01-M001P001-")


def test_preview_with_a_broken_tenants_file_says_which_key(capsys, tmp_path, examples_dir, monkeypatch):
    monkeypatch.delenv("ACME_FACEPRO_TOKEN", raising=False)
    args = ["preview", str(examples_dir / "co-invoice.json"), "--config", str(examples_dir / "tenants.toml")]
    assert main(args) == 2
    assert "ACME_FACEPRO_TOKEN is not set" in capsys.readouterr().err


def test_preview_reads_stdin(capsys, monkeypatch, example_bytes):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(example_bytes["co-invoice"])))
    assert main(["preview", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["payable"] == "358050.00"


def test_preview_of_an_unknown_account_says_so_and_exits_1(examples_dir):
    env = {**os.environ, **EXAMPLE_ENV}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli.main",
            "preview",
            str(examples_dir / "co-invoice.json"),
            "--config",
            str(examples_dir / "tenants.toml"),
            "--tenant",
            "acme-co",
            "--provider",
            "nope",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "tenant acme-co has no account 'nope'" in proc.stderr and "'facepro'" in proc.stderr


def test_preview_exits_1_when_no_account_shown_can_take_it(capsys, examples_dir, monkeypatch):
    """Forced onto an account that cannot be used (no real P12): shown with its error, exit 1."""
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    args = ["preview", str(examples_dir / "co-invoice.json"), "--config", str(examples_dir / "tenants.toml")]
    assert main([*args, "--tenant", "acme-co", "--provider", "dian"]) == 1
    (dian,) = json.loads(capsys.readouterr().out)["payloads"]
    assert "certificate" in dian["error"]  # the environment names no real P12


def test_preview_shows_the_pos_and_support_documents_ubl(capsys, examples_dir, monkeypatch, tmp_path):
    """`pasarela preview` of each new example through direct DIAN: the signed UBL of its DIAN type,
    numbered from its own range of the example tenants file."""
    from simulators.pki import generate

    pki = generate(tmp_path, nit="900373115", password="preview-p12")
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ACME_DIAN_P12_PATH", str(pki.p12))
    monkeypatch.setenv("ACME_DIAN_P12_PASSWORD", pki.password)
    for example, code, number in (("co-pos-invoice", "20", "EPOS1"), ("co-support-document", "05", "DSP1")):
        args = [
            "preview",
            str(examples_dir / f"{example}.json"),
            "--config",
            str(examples_dir / "tenants.toml"),
        ]
        assert main([*args, "--tenant", "acme-co", "--provider", "dian"]) == 0
        (dian,) = json.loads(capsys.readouterr().out)["payloads"]
        assert f"<cbc:InvoiceTypeCode>{code}</cbc:InvoiceTypeCode>" in dian["payload"]
        assert f"<cbc:ID>{number}</cbc:ID>" in dian["payload"]


def test_preview_shows_the_apidian_pos_and_support_requests(capsys, examples_dir, monkeypatch):
    """Through APIDIAN the same examples become POST /eqdoc and /support-document bodies."""
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    for example, type_document_id in (("co-pos-invoice", 15), ("co-support-document", 11)):
        args = [
            "preview",
            str(examples_dir / f"{example}.json"),
            "--config",
            str(examples_dir / "tenants.toml"),
        ]
        assert main([*args, "--tenant", "acme-co", "--provider", "apidian"]) == 0
        (apidian,) = json.loads(capsys.readouterr().out)["payloads"]
        assert apidian["payload"]["type_document_id"] == type_document_id
