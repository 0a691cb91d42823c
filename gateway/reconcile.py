"""Reconciliation of an `unknown` document on the account that may have issued it (ARCHITECTURE.md).

A timeout after sending may mean the provider issued the document (research/anchors.md (c) 1), so
nothing is resent or sent elsewhere until this module says "not issued":

- we know its provider reference or fiscal id (CUFE): ask `status()`; `not_found` = not issued;
- otherwise `find()` searches the provider (by our reference, customer, total, time window);
- providers that take our number (DIAN, APIDIAN) may always get the *same* document again: the
  authority refuses a second document with that number (DIAN rule 90), so "not found" means resend;
- providers that number themselves: "not found" is trusted only after their processing window;
  several matches or no search possible → an operator settles it (`POST .../resolve`).

Adapter conventions: `find()` raises NotSearchable when the provider cannot be searched and
Ambiguous when several documents match.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

from adapters.base import (
    Adapter,
    Ambiguous,
    Emission,
    NotSearchable,
    Outcome,
    ProviderFailure,
    ProviderRef,
    Rejected,
)

VerdictKind = Literal["issued", "not_issued", "wait", "attention"]


class Verdict(Struct, kw_only=True):
    kind: VerdictKind
    reason: str
    outcome: Outcome | None = None
    retry_at: float | None = None


async def reconcile(
    adapter: Adapter,
    emission: Emission,
    ref: ProviderRef,
    *,
    unknown_since: float,
    window_s: float,
    retry_s: float,
    now: float,
) -> Verdict:
    try:
        found = await _locate(adapter, emission, ref)
        if found is not None:
            outcome = await adapter.status(found)
            if outcome.status != "not_found":
                return Verdict(kind="issued", reason="the provider has it", outcome=outcome)
    except NotSearchable:
        return Verdict(
            kind="attention", reason=f"{adapter.name} cannot be searched; an operator must resolve it"
        )
    except Ambiguous as exc:
        return Verdict(kind="attention", reason=f"several possible matches at {adapter.name}: {exc.message}")
    except Rejected:
        pass  # the provider says it has no such document: the same as not found
    except ProviderFailure as exc:
        return Verdict(
            kind="wait", reason=f"cannot ask {adapter.name} now: {exc.message}", retry_at=now + retry_s
        )

    if adapter.numbering == "ours":
        return Verdict(kind="not_issued", reason="not found; resend under the same number")
    settles_at = unknown_since + window_s
    if now < settles_at:
        return Verdict(
            kind="wait",
            reason=f"not listed yet; {adapter.name} may still be processing it",
            retry_at=min(settles_at, now + retry_s),
        )
    return Verdict(kind="not_issued", reason="not found after the provider's processing window")


async def _locate(adapter: Adapter, emission: Emission, ref: ProviderRef) -> ProviderRef | None:
    """What to ask `status()` about: our known ids, else a search; a provider that takes our
    number can always be asked by that number when it cannot be searched."""
    if ref.provider_reference or ref.fiscal_id:
        return ref
    try:
        return await adapter.find(emission)
    except NotSearchable:
        if adapter.numbering == "ours" and ref.number:
            return ref
        raise
