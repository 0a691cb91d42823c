"""Routing (ARCHITECTURE.md, Routing): a tenant's first-match rules → an ordered chain of accounts.

Chains name accounts, never adapters. Saving rules (tenants file or `PUT /v1/routing`) validates
them with `validate_routes`; at emit time `choose_chain` keeps only accounts that are enabled and
whose adapter's contract covers the document's country and kind, a note by its family
(adapters.capabilities.can_emit; research/anchors.md (c) 3: a disabled or incapable account is
never tried).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from msgspec import Struct, field

from adapters import capabilities
from adapters.base import Account, Adapter, adapter_class
from canonical.document import Document
from canonical.totals import Totals

_RNG = random.Random()


class RouteMatch(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    country: str | None = None
    kinds: list[str] | None = None
    min_amount: Decimal | None = None  # on `payable`
    max_amount: Decimal | None = None
    currency: str | None = None
    customer_id_types: list[str] | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class SplitShare(Struct, kw_only=True, forbid_unknown_fields=True):
    account: str
    weight: int


class Route(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    match: RouteMatch = field(default_factory=RouteMatch)
    chain: list[str] | None = None
    split: list[SplitShare] | None = None
    allow_mixed_numbering: bool = False


class RoutingError(Exception):
    """No account can take this document: a 422 problem with a stable rule code."""

    def __init__(self, rule: str, message: str, path: str = "") -> None:
        super().__init__(message)
        self.rule, self.message, self.path = rule, message, path


def _adapter(account: Account) -> type[Adapter] | None:
    try:
        return adapter_class(account.provider)
    except (KeyError, ImportError):
        return None


def accounts_of(route: Route) -> list[str]:
    if route.chain is not None:
        return list(route.chain)
    return [share.account for share in route.split or []]


def validate_routes(routes: Sequence[Route], accounts: Sequence[Account]) -> list[str]:
    """Every problem of a rule list, each naming its key (`routes[1].chain[0]: ...`)."""
    by_name = {a.name: a for a in accounts}
    problems: list[str] = []
    for i, route in enumerate(routes):
        at = f"routes[{i}]"
        if (route.chain is None) == (route.split is None):
            problems.append(f"{at}: give exactly one of `chain` or `split`")
            continue
        names = accounts_of(route)
        key = "chain" if route.chain is not None else "split"
        if not names:
            problems.append(f"{at}.{key}: name at least one account")
        for share in route.split or []:
            if share.weight <= 0:
                problems.append(f"{at}.split[{share.account}].weight: must be > 0")
        numbering: set[str] = set()
        problems.extend(f"{at}.{key}{p}" for p in shared_ranges(names, by_name))
        for j, name in enumerate(names):
            account = by_name.get(name)
            if account is None:
                problems.append(f"{at}.{key}[{j}]: no account named {name!r} in this tenant")
                continue
            adapter = _adapter(account)
            if adapter is None:
                continue  # reported once, on the account itself
            numbering.add(adapter.numbering)
            if route.match.country and route.match.country not in adapter.countries:
                problems.append(
                    f"{at}.{key}[{j}]: {name} ({account.provider}) does not serve {route.match.country}"
                )
            missing = sorted(set(route.match.kinds or ()) - adapter.kinds)
            if missing:
                problems.append(f"{at}.{key}[{j}]: {name} ({account.provider}) cannot emit {missing}")
        if len(numbering) > 1 and not route.allow_mixed_numbering:
            # anchors (c) 14: a document numbered from our range must not fall back to a provider
            # that numbers itself (or the reverse) unless the tenant says so.
            problems.append(
                f"{at}.{key}: mixes providers that take our number with providers that number "
                "themselves; set allow_mixed_numbering = true to allow it"
            )
        if (
            route.match.min_amount is not None
            and route.match.max_amount is not None
            and route.match.max_amount < route.match.min_amount
        ):
            problems.append(f"{at}.match.max_amount: below min_amount")
    return problems


def _numbers_from_dian_range(adapter: type[Adapter]) -> bool:
    """A Colombian provider that numbers itself does so from a DIAN resolution's prefix and range.
    (El Salvador's numeroControl carries each account's establishment and transmitter code, so two
    accounts never build the same one.)"""
    return adapter.numbering == "provider" and "CO" in adapter.countries


def shared_ranges(names: Sequence[str], by_name: dict[str, Account]) -> list[str]:
    """A chain's self-numbering accounts must each declare their range, and no two may share one:
    a fallback from one to the other would issue the same number twice (DIAN refuses the second)."""
    own = [
        (j, by_name[n])
        for j, n in enumerate(names)
        if n in by_name
        and (adapter := _adapter(by_name[n])) is not None
        and _numbers_from_dian_range(adapter)
    ]
    if len({a.name for _, a in own}) < 2:
        return []
    problems = [
        f"[{j}]: {a.name} ({a.provider}) numbers itself; declare its range (`range = {{ prefix, from, to }}`) "
        "to use it in a chain with another self-numbering account"
        for j, a in own
        if a.range is None
    ]
    for i, (j, a) in enumerate(own):
        for _, b in own[i + 1 :]:
            if a.name != b.name and a.range and b.range and a.range.overlaps(b.range):
                problems.append(
                    f"[{j}]: {a.name} and {b.name} both number themselves from prefix {a.range.prefix!r} "
                    "with consecutives in common: a fallback between them would issue one number twice"
                )
    return problems


def matches(match: RouteMatch, doc: Document, totals: Totals) -> bool:
    if match.country and doc.country != match.country:
        return False
    if match.kinds and doc.kind not in match.kinds:
        return False
    if match.currency and doc.currency != match.currency:
        return False
    if match.min_amount is not None and totals.payable < match.min_amount:
        return False
    if match.max_amount is not None and totals.payable > match.max_amount:
        return False
    if match.customer_id_types is not None:
        if doc.customer is None or doc.customer.id_type not in match.customer_id_types:
            return False
    return all(doc.metadata.get(k) == v for k, v in match.metadata.items())


def can_emit(account: Account, doc: Document) -> bool:
    """An enabled account whose adapter's contract covers the document (adapters.capabilities)."""
    adapter = _adapter(account)
    return account.enabled and adapter is not None and capabilities.can_emit(adapter, doc)


def choose_chain(
    routes: Sequence[Route],
    accounts: Sequence[Account],
    doc: Document,
    totals: Totals,
    *,
    forced: str | None = None,
    rng: random.Random | None = None,
) -> list[Account]:
    """The ordered accounts to try. `forced` (`?provider=`) skips the rules."""
    by_name = {a.name: a for a in accounts}
    if forced is not None:
        account = by_name.get(forced)
        if account is None:
            raise RoutingError("provider-unknown", f"no account named {forced!r} for this tenant", "provider")
        if not can_emit(account, doc):
            raise RoutingError(
                "provider-cannot-emit",
                f"account {forced!r} ({account.provider}) cannot emit a {doc.country} {doc.kind}"
                + ("" if account.enabled else " (disabled)"),
                "provider",
            )
        return [account]
    for route in routes:
        if not matches(route.match, doc, totals):
            continue
        chain = [by_name[n] for n in _ordered(route, rng or _RNG) if n in by_name]
        chain = [a for a in chain if can_emit(a, doc)]
        if chain:
            return chain
    if not any(can_emit(a, doc) for a in accounts):
        raise RoutingError(
            "kind-not-supported", f"no account of this tenant can emit a {doc.country} {doc.kind}", "kind"
        )
    raise RoutingError("no-route", f"no routing rule matches this {doc.country} {doc.kind}", "")


def _ordered(route: Route, rng: random.Random) -> list[str]:
    """A chain as written; a split puts one account first by weight, the others after as fallback."""
    if route.chain is not None:
        return list(route.chain)
    shares = list(route.split or [])
    first = rng.choices(shares, weights=[s.weight for s in shares])[0]
    rest = sorted((s for s in shares if s is not first), key=lambda s: -s.weight)
    return [first.account, *(s.account for s in rest)]
