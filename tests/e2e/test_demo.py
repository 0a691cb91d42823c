"""`pasarela demo` runs the whole story on loopback, exits 0 and leaves no process behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from simulators.runner import free_port


def test_demo_tells_the_story_and_cleans_up():
    gateway_port = free_port()
    base = 18401  # seven consecutive simulator ports, away from the defaults and the other suites
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "--port", str(gateway_port), "--base-port", str(base)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    for step in range(1, 9):
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
    assert "signed UBL" in out
    saved = [Path(line.strip()) for line in out.splitlines() if line.strip().endswith(".xml")]
    assert len(saved) == 2 and all(p.exists() for p in saved)  # still there after the demo ended
    assert b"ds:Signature" in saved[0].read_bytes() or b"Signature" in saved[0].read_bytes()
    assert b"AttachedDocument" in saved[1].read_bytes()
    seconds = float(re.search(r"Done in ([0-9.]+) s", out).group(1))
    assert seconds < 60
    # nothing is left listening on the demo's ports
    import socket

    for port in [gateway_port, *range(base, base + 7)]:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
