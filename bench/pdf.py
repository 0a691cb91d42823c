"""The buyer's copy on one core: the signed UBL of `examples/co-invoice.json` read and drawn as a PDF
with its QR code (gateway/printout), per document; and the read alone, for scale.

    .venv/bin/python bench/pdf.py [--seconds 3] [--runs 3] [--lines 3]

Prints the median (min–max) of the runs. Target (issue 19): ≥ 50 PDFs/s per core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

# bench/canonical.py would shadow the `canonical` package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec  # noqa: E402
from dian_pipeline import ISSUER, RANGE  # noqa: E402

from adapters.base import Account, Emission  # noqa: E402
from adapters.dian import DianAdapter  # noqa: E402
from canonical.document import document_decoder  # noqa: E402
from canonical.totals import compute_totals  # noqa: E402
from gateway.printout import render_pdf, ubl  # noqa: E402
from simulators.pki import generate  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "co-invoice.json"


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of this process's CPU time: on a machine shared with other work (the load
    average is printed) the CPU a PDF costs moves least; wall-clock rate is printed beside it."""
    count, cpu, start = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    wall = count / (time.perf_counter() - start)
    per_cpu = count / (time.process_time() - cpu)
    print(f"  run: {per_cpu:,.1f} /s of CPU time, {wall:,.1f} /s of wall-clock time")
    return per_cpu


def report(label: str, figures: list[float]) -> None:
    print(f"{label:<40} {statistics.median(figures):>8,.1f} /s  ({min(figures):,.1f}–{max(figures):,.1f})")


def signed_invoice(lines: int) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        pki = generate(folder)
        adapter = DianAdapter(
            Account(
                name="dian",
                provider="dian",
                base_url="http://127.0.0.1:9/WcfDianCustomerServices.svc",
                credentials={
                    "software_id": "11111111-2222-3333-4444-555555555555",
                    "software_pin": "12345",
                    "certificate": str(pki.p12),
                    "certificate_password": pki.password,
                },
            )
        )
        doc = document_decoder.decode(EXAMPLE.read_bytes())
        doc = msgspec.structs.replace(doc, lines=[doc.lines[i % len(doc.lines)] for i in range(lines)])
        now = dt.datetime.now(ZoneInfo("America/Bogota")).replace(microsecond=0)
        doc = msgspec.structs.replace(doc, issue_date=now.date(), issue_time=now.time())
        emission = Emission(
            document=doc,
            totals=compute_totals(doc),
            issuer=ISSUER,
            reference="bench-pdf",
            number="SETP990000001",
            consecutive=990000001,
            numbering=RANGE,
        )
        return adapter.prepare(emission).xml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    xml = signed_invoice(args.lines)
    pdf = render_pdf("dian", xml)
    print(
        f"one core; load average {os.getloadavg()[0]:.1f}; invoice of {args.lines} lines: signed UBL "
        f"{len(xml):,} bytes, PDF {len(pdf):,} bytes; {args.runs} runs of {args.seconds:g} s"
    )
    report(
        "PDFs: read signed UBL + layout + QR",
        [rate(lambda: render_pdf("dian", xml), args.seconds) for _ in range(args.runs)],
    )
    report(
        "reading the signed UBL alone",
        [rate(lambda: ubl.printout(xml), args.seconds) for _ in range(args.runs)],
    )


if __name__ == "__main__":
    main()
