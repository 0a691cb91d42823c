"""`pasarela demo` runs the whole story on loopback, exits 0 and leaves no process or secret behind."""

from __future__ import annotations

import email
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.runner import free_port


@pytest.mark.parametrize(("stop", "flags"), [(signal.SIGTERM, []), (signal.SIGINT, ["--keep-data"])])
def test_demo_tells_the_story_and_cleans_up(stop, flags):
    """With --keep it stays up until SIGTERM or Ctrl-C, then stops every process and removes its
    data folder (plain-text keys) unless --keep-data."""
    gateway_port = free_port()
    base = 18401  # seven consecutive simulator ports, away from the defaults and the other suites
    command = [sys.executable, "-m", "gateway.cli.main", "demo", "--keep", "--port", str(gateway_port), *flags]
    proc = subprocess.Popen(
        [*command, "--base-port", str(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines = []
    deadline = time.monotonic() + 120
    while not any("Everything keeps running" in line for line in lines) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    data = Path(re.search(r"data in (\S+)", lines[0]).group(1))
    assert data.is_dir() and (data / "tenants.toml").exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", gateway_port)) == 0  # still serving
    proc.send_signal(stop)
    rest, err = proc.communicate(timeout=30)
    proc = subprocess.CompletedProcess(command, proc.returncode, "".join(lines) + rest, err)
    if flags:
        assert f"The data folder stays (it holds plain-text keys): {data}" in proc.stdout
        assert (data / "tenants.toml").exists()
        shutil.rmtree(data)
    assert not data.exists()
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for step in range(1, 10):
        assert f"▶ {step}." in out
    # the providers that can carry the canonical invoice accepted it; FacEPro and SmartApp have no
    # field for its credit terms (and SmartApp none for address codes): refused, never dropped
    for account in ("dian", "apidian", "koywe", "smartbill"):
        assert re.search(rf"\b{account}\s+accepted\b", out), account
    assert re.search(r"\bfacepro\s+HTTP 422\b.*facepro-credit-sale", out)
    assert re.search(r"\bsmartapp\s+HTTP 422\b.*smartapp-credit-sale", out)
    assert "facepro:unavailable" in out and "smartapp:accepted" in out  # the fallback
    assert "DIAN's ledger holds 1 document(s)" in out  # reconciled, not sent twice
    assert re.search(r"credit note\s+dian\s+accepted", out)  # its reference matches the invoice
    assert re.search(r"invoice\s+dian\s+rejected", out)
    assert "[co-nit-check-digit]" in out
    assert "smartbill:unavailable" in out and re.search(r"SV factura\s+hacienda\s+accepted", out)
    assert re.search(r"SV CCF\s+hacienda\s+accepted\s+DTE-03-M001P001-", out)
    for account in ("dian", "apidian"):  # each with its own range: EPOS, DSP
        assert re.search(rf"POS document\s+{account}\s+accepted\s+EPOS", out), account
        assert re.search(rf"support document\s+{account}\s+accepted\s+DSP", out), account
    assert "signed UBL" in out
    saved = [Path(line.strip()) for line in out.splitlines() if line.strip().endswith(".xml")]
    assert len(saved) == 2 and all(p.exists() for p in saved)  # still there after the demo ended
    assert b"ds:Signature" in saved[0].read_bytes() or b"Signature" in saved[0].read_bytes()
    assert b"AttachedDocument" in saved[1].read_bytes()
    # the buyer's copy (issue 19): the PDF the gateway drew and the mail the demo's SMTP server received
    pdf = next(Path(line.strip()) for line in out.splitlines() if line.strip().endswith(".pdf"))
    mail = next(Path(line.strip()) for line in out.splitlines() if line.strip().endswith(".eml"))
    assert pdf.read_bytes().startswith(b"%PDF-")
    received = email.message_from_bytes(mail.read_bytes())
    assert received["Subject"].startswith("900373115;ACME Colombia SAS;SETP")
    assert [p.get_content_type() for p in received.walk() if p.get_filename()] == ["application/zip"]
    seconds = float(re.search(r"Done in ([0-9.]+) s", out).group(1))
    assert seconds < 60
    # nothing is left listening on the demo's ports
    for port in [gateway_port, *range(base, base + 7)]:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
