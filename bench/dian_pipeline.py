"""Direct DIAN pipeline throughput on one core: build UBL + CUFE + XAdES sign + zip + SOAP envelope
with WS-Security, per document; and RSA-2048 signatures/s on the same machine for scale.

    .venv/bin/python bench/dian_pipeline.py [--seconds 3] [--runs 3]

Prints the median (min–max) of the runs. Nothing is sent: the envelope is built and signed only.
Target (issue 4): ≥ 800 documents/s per core.
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

import msgspec  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from adapters.base import Account, Emission, NumberingRange  # noqa: E402
from adapters.dian import DianAdapter  # noqa: E402
from adapters.dian.soap import package  # noqa: E402
from canonical.document import Issuer, document_decoder  # noqa: E402
from canonical.totals import compute_totals  # noqa: E402
from simulators.pki import generate  # noqa: E402

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "co-invoice.json")
ISSUER = msgspec.convert(
    {
        "country": "CO",
        "party_type": "company",
        "id_type": "NIT",
        "id_number": "900373115",
        "check_digit": "3",
        "name": "ACME Colombia SAS",
        "tax_responsibilities": ["O-13"],
        "address": {
            "line": "Carrera 7 # 71-21",
            "city_code": "11001",
            "department_code": "11",
            "country": "CO",
        },
    },
    Issuer,
)
RANGE = NumberingRange(
    name="setp",
    kinds=["invoice"],
    prefix="SETP",
    from_=990000000,
    to=995000000,
    resolution="18760000001",
    valid_from=dt.date(2019, 1, 19),
    valid_to=dt.date(2030, 1, 19),
    technical_key="fc8eac422eba16e22ffd8c6f94b3f40a6e38162c",
)


def rate(fn: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            fn()
        count += 20
    return count / elapsed


def report(label: str, figures: list[float]) -> None:
    print(f"{label:<58} {statistics.median(figures):>9,.0f} /s  ({min(figures):,.0f}–{max(figures):,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    with tempfile.TemporaryDirectory() as folder:
        pki = generate(folder)
        adapter = DianAdapter(
            Account(
                name="dian",
                provider="dian",
                base_url="http://127.0.0.1:8106/WcfDianCustomerServices.svc",
                credentials={
                    "software_id": "11111111-2222-3333-4444-555555555555",
                    "software_pin": "12345",
                    "certificate": str(pki.p12),
                    "certificate_password": pki.password,
                },
            )
        )
        doc = document_decoder.decode(open(EXAMPLE, "rb").read())
        now = dt.datetime.now(ZoneInfo("America/Bogota")).replace(microsecond=0)
        doc = msgspec.structs.replace(doc, issue_date=now.date(), issue_time=now.time())
        totals = compute_totals(doc)
        counter = iter(range(990000001, 995000000))

        def emission() -> Emission:
            consecutive = next(counter)
            return Emission(
                document=doc,
                totals=totals,
                issuer=ISSUER,
                reference=f"bench-{consecutive}",
                number=f"SETP{consecutive}",
                consecutive=consecutive,
                numbering=RANGE,
            )

        service = adapter.service

        def pipeline() -> None:
            payload = adapter.prepare(emission())  # UBL + CUFE + XAdES-EPES
            content = package({payload.file_name + ".xml": payload.xml})
            service.envelope(
                "SendBillSync", fileName="z" + payload.file_name[2:] + ".zip", contentFile=content
            )

        key = adapter.identity.key
        message = os.urandom(1024)

        def rsa_sign() -> None:
            key.sign(message, padding.PKCS1v15(), hashes.SHA256())

        size = len(adapter.prepare(emission()).xml)
        print(
            f"one core; signed invoice {size:,} bytes ({len(doc.lines)} lines); {args.runs} runs of "
            f"{args.seconds:g} s"
        )
        documents = [rate(pipeline, args.seconds) for _ in range(args.runs)]
        report("documents: build + CUFE + sign + zip + WS-Security envelope", documents)
        signatures = [rate(rsa_sign, args.seconds) for _ in range(args.runs)]
        report("RSA-2048 PKCS#1 v1.5 SHA-256 signatures", signatures)
        print(
            f"each document costs {statistics.median(signatures) / statistics.median(documents):.1f} RSA "
            "signatures of time (2 are RSA: XAdES + WS-Security)"
        )


if __name__ == "__main__":
    main()
