"""The evidence rule (ARCHITECTURE.md, pinned): one table says what every answer means.

A provider answers in one of three phases: `emit` (a send, first or again), `status` (asked by a
reference we hold) and `find` (searched by the document's content). Every answer, an Outcome or a
failure class, is named by `answer_of` and looked up in `POLICY` together with what the store
already proves about that account (`Evidence`, folded from the attempt rows): dispatch and
reconciliation both act on the Action it gives, and on nothing else.

The rules the table encodes:
- positive evidence is never overturned: once an account is known to hold the document (`held`),
  no later error, odd status or "not found" makes it "not issued" (at worst: cannot tell);
- absence needs proof: only a documented "not found" or a complete listing of the search window
  whose items carry every compared field; even then only after the provider's processing window
  (DIAN answers 66 to GetStatus while it is still processing a document);
- a failure to *ask* (any failure class at `status`/`find`, a Rejected included) proves nothing;
- a document another account may hold never moves on to the next account, and is `failed` only
  when no account of its chain may hold it (`may_be_issued`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, NamedTuple

from adapters.base import Outcome, ProviderFailure, Unsupported

Phase = Literal["emit", "status", "find"]
Evidence = Literal["none", "maybe", "held"]  # what the store proves about one account

Action = Literal[
    "adopt",  # the provider has it: record its answer (accepted, pending, or the authority's refusal)
    "reject",  # the provider refused the data and holds nothing: `rejected`, no fallback
    "retry",  # it did not take it: back off on this account, then the next account
    "fall_back",  # this account cannot take it (credentials, unsupported content): the next account
    "reconcile",  # it may have taken it: `unknown`, ask this same account before anything else
    "stay",  # not taken now, but an earlier send may have been: back to `unknown` on this account
    "ask_status",  # a search matched exactly one document: the account holds it; ask its status
    "absent",  # documented absence: proof once the processing window has passed
    "cannot_tell",  # ask again with backoff; after `attention_after_s`, flag an operator too
    "attention",  # only an operator can settle it (several matches, no search possible)
]


class Rule(NamedTuple):
    """The action for one (phase, answer), by what the store proves about that account."""

    none: Action
    maybe: Action
    held: Action

    def given(self, evidence: Evidence) -> Action:
        return getattr(self, evidence)  # type: ignore[no-any-return]


def _same(action: Action) -> Rule:
    return Rule(action, action, action)


# (phase, answer) → Rule. Answers: Outcome statuses (`rejected` renamed `refused`: the authority's
# documented verdict, never an HTTP status), failure kinds, and what a search returned.
POLICY: Final[Mapping[tuple[Phase, str], Rule]] = {
    ("emit", "accepted"): _same("adopt"),
    ("emit", "pending"): _same("adopt"),
    # a refusal of a resend while a first copy may be held can be the refusal of a duplicate (DIAN
    # rule 90 whose GetStatus still says 66): ask again instead of calling it rejected
    ("emit", "refused"): Rule("reject", "reconcile", "reconcile"),
    ("emit", "rejected"): Rule("reject", "reconcile", "reconcile"),
    ("emit", "not_found"): _same("reconcile"),  # an emission answered "not found": nonsense, maybe taken
    ("emit", "ambiguous"): _same("reconcile"),
    ("emit", "unavailable"): Rule("retry", "stay", "stay"),
    ("emit", "misconfigured"): Rule("fall_back", "stay", "stay"),
    ("emit", "unsupported"): Rule("fall_back", "stay", "stay"),
    ("status", "accepted"): _same("adopt"),
    ("status", "pending"): _same("adopt"),
    ("status", "refused"): _same("adopt"),  # the authority's verdict on a document it holds
    ("status", "not_found"): Rule("absent", "absent", "cannot_tell"),
    ("status", "unavailable"): _same("cannot_tell"),
    ("status", "ambiguous"): _same("cannot_tell"),
    ("status", "rejected"): _same("cannot_tell"),  # a refused *query* says nothing of the document
    ("status", "misconfigured"): _same("cannot_tell"),
    ("status", "unsearchable"): _same("attention"),
    ("find", "found"): _same("ask_status"),
    ("find", "not_found"): Rule("absent", "absent", "cannot_tell"),
    ("find", "several"): _same("attention"),
    ("find", "cannot_tell"): _same("cannot_tell"),  # incomplete listing, items lacking compared fields
    ("find", "unsearchable"): _same("attention"),
    ("find", "unavailable"): _same("cannot_tell"),
    ("find", "ambiguous"): _same("cannot_tell"),
    ("find", "rejected"): _same("cannot_tell"),
    ("find", "misconfigured"): _same("cannot_tell"),
}

# Attempt outcome → what it proves about its account. `in_flight` (a worker died mid-call) and
# `ambiguous` may have left a copy there; an answer or a search that showed the document (`held`,
# written when find() matched) proves one; `not_issued` is absence proven by reconciliation; an
# operator's word settles either way. Every other outcome (unavailable, circuit_open, a refusal,
# `resend`) changes nothing: an earlier copy may still be there.
PROVES: Final[Mapping[str, Evidence]] = {
    "in_flight": "maybe",
    "ambiguous": "maybe",
    "accepted": "held",
    "pending": "held",
    "reconciled": "held",
    "held": "held",
    "resolved_issued": "held",
    "not_issued": "none",
    "resolved_not_issued": "none",
}
# Positive evidence is never overturned by a later "not issued" (reconciliation never writes one
# after `held`, the operator may): `not_issued` clears only `maybe`.
_CLEARS: Final[Mapping[str, frozenset[Evidence]]] = {
    "not_issued": frozenset({"maybe"}),
    "resolved_not_issued": frozenset({"maybe", "held"}),
}


def answer_of(result: Outcome | ProviderFailure | Unsupported) -> str:
    """The table's name for what a provider call returned."""
    if isinstance(result, Outcome):
        return "refused" if result.status == "rejected" else result.status
    if isinstance(result, Unsupported):
        return "unsupported"
    return result.kind


def action(phase: Phase, answer: str, evidence: Evidence = "none") -> Action:
    """What to do; an answer the table does not know is "cannot tell" (at emit: maybe taken)."""
    rule = POLICY.get((phase, answer))
    if rule is None:
        return "reconcile" if phase == "emit" else "cannot_tell"
    return rule.given(evidence)


def evidence_by_account(attempts: Iterable[Any]) -> dict[str, Evidence]:
    """Fold a document's attempt rows (in order) into what each account is proven to hold."""
    known: dict[str, Evidence] = {}
    for attempt in attempts:
        proved = PROVES.get(attempt.outcome)
        if proved is None:
            continue
        current = known.get(attempt.account, "none")
        if proved == "none":
            if current in _CLEARS[attempt.outcome]:
                known[attempt.account] = "none"
        elif not (current == "held" and proved == "maybe"):
            known[attempt.account] = proved
    return known


def may_be_issued(known: Mapping[str, Evidence]) -> bool:
    """True while some account may hold the document: it can then never be `failed`."""
    return any(e != "none" for e in known.values())
