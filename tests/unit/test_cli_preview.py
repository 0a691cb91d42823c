"""`pasarela preview FILE` works offline without a config."""

from __future__ import annotations

import json
import subprocess
import sys

from gateway.cli import main


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
        [sys.executable, "-m", "gateway.cli", "preview", str(examples_dir / "sv-invoice.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["totals"]["payable"] == "27.00"
