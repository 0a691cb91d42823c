"""Operator events: the log lines an operator alerts on, each a stable `event` name with its fields.

Access lines say that a request came; these say what went wrong behind it (a provider failing, a
circuit opening, a webhook given up) without reading the attempt rows. `EVENTS` is the one list of
names, their level and their fields: docs/deploy.md ("Logs") shows the same table, and a test keeps
the two in step. Field values pass through the log redactor like every message (gateway.observability.logs), so a
secret that slips into a provider's error text is still never written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

log = logging.getLogger("gateway.observability.events")

DOC: Final = ("tenant", "document_id", "account")  # where they apply, every event carries these


class Event(NamedTuple):
    level: int
    meaning: str
    fields: tuple[str, ...]


EVENTS: Final[Mapping[str, Event]] = {
    "provider.failure": Event(
        logging.WARNING,
        "a provider call failed; `failure` is its class (unavailable, ambiguous, rejected, misconfigured)",
        (*DOC, "provider", "failure", "code", "http_status", "error"),
    ),
    "dispatch.retry": Event(
        logging.INFO,
        "the same account is asked again after a backoff (an `unavailable` answer)",
        (*DOC, "attempt", "wait_s", "failure"),
    ),
    "dispatch.fallback": Event(
        logging.WARNING,
        "the document leaves this account for `next_account` (none: the chain starts again later); "
        "`action` is the policy's verdict on `answer` given `evidence` (retry: its retries are spent; "
        "fall_back: it cannot take this document)",
        (*DOC, "next_account", "answer", "code", "evidence", "action"),
    ),
    "document.failed": Event(
        logging.ERROR,
        "deadline passed and no account of the chain may hold the document",
        (*DOC, "chain"),
    ),
    "breaker.opened": Event(
        logging.WARNING,
        "consecutive failures opened the account's circuit (or its half-open probe failed)",
        ("tenant", "account", "failures", "cooldown_s"),
    ),
    "breaker.half_open": Event(
        logging.INFO, "the cooldown is over: one probe call is let through", ("tenant", "account")
    ),
    "breaker.closed": Event(
        logging.INFO, "the probe succeeded: the circuit is closed", ("tenant", "account")
    ),
    "reconcile.verdict": Event(
        logging.INFO,
        "what asking the account about an `unknown` document proved",
        (*DOC, "evidence", "verdict", "reason"),
    ),
    "document.needs_attention": Event(
        logging.ERROR, "only an operator can settle this `unknown` document", (*DOC, "reason")
    ),
    "alert.raised": Event(
        logging.ERROR,
        "an alert condition turned on (account.misconfigured, certificate expiring)",
        ("tenant", "account", "alert", "error"),
    ),
    "webhook.failed": Event(
        logging.WARNING,
        "a webhook delivery try failed; it is tried again later",
        ("tenant", "document_id", "event_type", "delivery_id", "url", "tries", "http_status", "error"),
    ),
    "webhook.gave_up": Event(
        logging.ERROR,
        "a webhook delivery failed for good (410 Gone, attempts exhausted, endpoint removed)",
        ("tenant", "document_id", "event_type", "delivery_id", "url", "tries", "http_status", "error"),
    ),
    "delivery.failed": Event(
        logging.WARNING,
        "an e-mail to the buyer failed; it is tried again later",
        ("tenant", "document_id", "error"),
    ),
    "delivery.gave_up": Event(
        logging.ERROR, "the buyer's e-mail failed for good", ("tenant", "document_id", "error")
    ),
    "config.warning": Event(logging.WARNING, "the tenants file works but something is risky", ("warning",)),
    "config.problem": Event(
        logging.ERROR,
        "an account cannot be used as configured (certificate unreadable, wrong password, bad credentials)",
        ("tenant", "account", "error"),
    ),
}


def emit(name: str, **fields: Any) -> None:
    """Log one event (KeyError for a name not in EVENTS: the list stays the whole truth). Fields left
    None are left out, so a line carries what applies."""
    spec = EVENTS[name]
    assert fields.keys() <= set(spec.fields), (
        f"{name}: fields not in EVENTS: {fields.keys() - set(spec.fields)}"
    )
    if log.isEnabledFor(spec.level):
        present = {k: v for k, v in fields.items() if v is not None}
        log.log(spec.level, "%s", name, extra={"event": name, "fields": present})


def table() -> str:
    """EVENTS as the Markdown table of docs/deploy.md ("Logs")."""
    rows = ["| event | level | fields | meaning |", "|---|---|---|---|"]
    for name, spec in EVENTS.items():
        fields = ", ".join(f"`{f}`" for f in spec.fields)
        rows.append(f"| `{name}` | {logging.getLevelName(spec.level).lower()} | {fields} | {spec.meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")
