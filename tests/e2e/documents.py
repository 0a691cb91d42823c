"""Document helpers shared by the e2e modules: a debit note made from the credit-note example, a
note referencing the invoice a test issued, and polling a document until the gateway has settled it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from canonical import clock

SETTLED = frozenset({"accepted", "rejected", "failed"})


def as_debit_note(example_bytes: dict[str, bytes]) -> bytes:
    """The CO credit-note example as a debit note (interest on late payment)."""
    raw = json.loads(example_bytes["co-credit-note"])
    raw["kind"] = "debit_note"
    raw["reason"] = {"code": "interest", "description": "Intereses por mora"}
    return json.dumps(raw).encode()


def referencing(note: bytes, invoice: Mapping[str, Any]) -> bytes:
    """`note` with its reference naming `invoice` as the gateway issued it: the gateway refuses a note
    that names one of the tenant's documents with another number, CUFE or issue date. The examples
    leave the issue date to its default, today in Bogotá."""
    raw = json.loads(note)
    raw["reference"] = {
        "number": invoice["number"],
        "fiscal_id": invoice["fiscal_id"],
        "issue_date": clock.today(ZoneInfo("America/Bogota")).isoformat(),
    }
    return json.dumps(raw).encode()


def settled(doc: Mapping[str, Any]) -> bool:
    return doc["status"] in SETTLED


def wait_for(
    gw: Any,
    doc_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    auth: Mapping[str, str],
    timeout_s: float = 8.0,
) -> dict[str, Any]:
    """The document once `done(document)` holds, or as it is when `timeout_s` runs out (the caller's
    assertion then says what it is)."""
    deadline = time.monotonic() + timeout_s
    while True:
        doc = gw.client.get(f"/v1/documents/{doc_id}", headers=auth).json()
        if done(doc) or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)
