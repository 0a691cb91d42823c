"""Reconciliation of an `unknown` document on the account that may have issued it (ARCHITECTURE.md).

A timeout after sending may mean the provider issued the document (research/anchors.md (c) 1), so
nothing is sent anywhere else until this account is proven not to have it. This module only asks:
what each answer means is `gateway.dispatch.evidence.POLICY`.

- we know its provider reference or fiscal id (CUFE): ask `status()`;
- otherwise `find()` searches the provider (by customer, total and time window); a single match
  proves the provider holds it, and its status is asked next;
- a provider that takes our number (DIAN, APIDIAN) and cannot be searched is asked by that number.

Documented absence counts only after the provider's processing window (DIAN answers GetStatus
with 66 while it still processes a document). Before it, a provider that takes our number gets the
*same* document again on the *same* account (the authority refuses a second document with that
number: DIAN rule 90), never another account; a self-numbering provider is asked again later.

Adapter conventions: `find()` raises NotSearchable when the provider cannot be searched and
Ambiguous(code="several-matches") when several documents match; any other failure to list the
whole window (a short or malformed page, an item lacking a compared field) is a failure class,
which the table reads as "cannot tell".
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from msgspec import Struct

from adapters.base import (
    Adapter,
    Emission,
    NotSearchable,
    Outcome,
    ProviderFailure,
    ProviderRef,
)
from gateway.dispatch.evidence import Evidence, Phase, action, answer_of

log = logging.getLogger(__name__)

VerdictKind = Literal["settled", "not_issued", "resend", "wait", "attention"]

# A search failure whose code names a settled answer rather than a failure to ask.
FIND_CODES: Final = {"several-matches": "several"}


class Verdict(Struct, kw_only=True):
    kind: VerdictKind
    reason: str
    outcome: Outcome | None = None  # settled: the provider's answer to record
    retry_at: float | None = None  # wait, and attention that keeps asking
    held: ProviderRef | None = None  # a search proved the provider holds it: keep this fact


class Asked(Struct, kw_only=True):
    """One question to the provider and what it answered, in the table's words."""

    phase: Phase
    answer: str
    message: str
    outcome: Outcome | None = None
    found: ProviderRef | None = None


async def reconcile(
    adapter: Adapter,
    emission: Emission,
    ref: ProviderRef,
    *,
    evidence: Evidence,
    unknown_since: float,
    window_s: float,
    attention_after_s: float,
    retry_s: float,
    now: float,
) -> Verdict:
    """Ask the account about the document and turn the answer into a verdict by the table."""
    asked = await _ask(adapter, emission, ref)
    held: ProviderRef | None = None
    act = action(asked.phase, asked.answer, evidence)
    if act == "ask_status":
        held = asked.found
        evidence = "held"
        assert held is not None
        asked = await _status(adapter, held)
        act = action(asked.phase, asked.answer, evidence)
    where = f"{adapter.name} {asked.phase}: {asked.message}"
    if act == "adopt":
        return Verdict(kind="settled", reason=f"the provider has it ({where})", outcome=asked.outcome)
    if act == "absent":
        settles_at = unknown_since + window_s
        if now >= settles_at:
            return Verdict(kind="not_issued", reason=f"not found after the processing window ({where})")
        if adapter.numbering == "ours":
            return Verdict(kind="resend", reason=f"not found yet; resend the same document here ({where})")
        return Verdict(
            kind="wait",
            reason=f"not found yet; {adapter.name} may still be processing it ({where})",
            retry_at=min(settles_at, now + retry_s),
        )
    if act == "cannot_tell" and now < unknown_since + attention_after_s:
        return Verdict(kind="wait", reason=f"cannot tell yet ({where})", retry_at=now + retry_s, held=held)
    if act == "cannot_tell":
        return Verdict(kind="attention", reason=f"cannot tell ({where})", retry_at=now + retry_s, held=held)
    return Verdict(kind="attention", reason=f"an operator must settle it ({where})", held=held)


async def _ask(adapter: Adapter, emission: Emission, ref: ProviderRef) -> Asked:
    """`status()` by our known ids; else a search; a provider that takes our number and cannot be
    searched is asked by that number."""
    if ref.provider_reference or ref.fiscal_id:
        return await _status(adapter, ref)
    try:
        found = await adapter.find(emission)
    except NotSearchable as exc:
        if adapter.numbering == "ours" and ref.number:
            return await _status(adapter, ref)
        return Asked(phase="find", answer="unsearchable", message=str(exc) or "cannot be searched")
    except ProviderFailure as exc:
        return Asked(phase="find", answer=FIND_CODES.get(exc.code or "", exc.kind), message=exc.message)
    except Exception as exc:  # an adapter bug on an odd answer proves nothing either way
        log.exception("%s find() raised an unexpected error", adapter.name)
        return Asked(phase="find", answer="ambiguous", message=f"adapter error: {type(exc).__name__}")
    if found is None:
        return Asked(phase="find", answer="not_found", message="no document matches")
    return Asked(phase="find", answer="found", message="one document matches", found=found)


async def _status(adapter: Adapter, ref: ProviderRef) -> Asked:
    try:
        outcome = await adapter.status(ref)
    except NotSearchable as exc:
        return Asked(phase="status", answer="unsearchable", message=str(exc) or "cannot be asked")
    except ProviderFailure as exc:
        return Asked(phase="status", answer=exc.kind, message=exc.message)
    except Exception as exc:
        log.exception("%s status() raised an unexpected error", adapter.name)
        return Asked(phase="status", answer="ambiguous", message=f"adapter error: {type(exc).__name__}")
    return Asked(phase="status", answer=answer_of(outcome), message=outcome.status, outcome=outcome)
