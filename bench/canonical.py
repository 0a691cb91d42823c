"""Documents per second for decode + validate + totals on the CO example, one core.

Run: .venv/bin/python bench/canonical.py [seconds]
Target (issue 2): at least 20 000 documents/s on one core.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from canonical.validation import prepare  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "co-invoice.json"


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    body = EXAMPLE.read_bytes()
    for _ in range(2000):  # warm up
        prepare(body)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(1000):
            prepare(body)
        count += 1000
    rate = count / elapsed
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"decode + validate + totals (co-invoice.json, 3 lines): {rate:,.0f} documents/s on one core")
    print(f"per document: {1e6 / rate:.1f} µs; target 20,000/s: {'met' if rate >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
