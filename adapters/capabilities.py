"""Refusals that follow from what an adapter declares (country, kind, currency), written once.

Each adapter states its countries, kinds and currencies as class attributes; a document outside
them is refused here, with the rule `<adapter>-<what>` and the adapter's own words where it gave
them (`Adapter.refusals`). The adapter's `_unsupported` then adds only what is its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from adapters.base import Adapter, UnsupportedIssue
from canonical.catalogs import DEFAULT_CURRENCY
from canonical.document import Document


def _currency(adapter: type[Adapter], doc: Document) -> bool:
    stated = doc.currency or DEFAULT_CURRENCY.get(doc.country, "")
    return adapter.currencies is None or stated in adapter.currencies


# (what, holds): a declared capability and whether the document stays inside it
DECLARED: Final[tuple[tuple[str, Callable[[type[Adapter], Document], bool]], ...]] = (
    ("country", lambda adapter, doc: doc.country in adapter.countries),
    ("kind", lambda adapter, doc: adapter.emits(doc)),
    ("currency", _currency),
)

GENERIC: Final = {
    "country": "{name} does not issue documents of {country}",
    "kind": "{name} does not emit {kind}",
    "currency": "{name} does not issue in {currency}",
}


# What routing asks before it tries an account (gateway.tenants.routing): the country and the kind
# (a note by its family, `Adapter.emits`). A currency outside the declared ones is not: the
# adapter refuses it in its own words (`<adapter>-currency`), naming the account that refused.
ROUTED: Final = frozenset({"country", "kind"})


def can_emit(adapter: type[Adapter], doc: Document) -> bool:
    """Whether routing may choose this provider for the document."""
    return all(holds(adapter, doc) for what, holds in DECLARED if what in ROUTED)


def declared_refusals(adapter: type[Adapter], doc: Document) -> list[UnsupportedIssue]:
    """One issue per declared capability the document leaves (in the order of DECLARED)."""
    return [
        UnsupportedIssue(
            path=what,
            rule=f"{adapter.name}-{what}",
            message=adapter.refusals.get(what, GENERIC[what]).format(
                name=adapter.name, country=doc.country, kind=doc.kind, currency=doc.currency
            ),
        )
        for what, holds in DECLARED
        if not holds(adapter, doc)
    ]


def issue(path: str, rule: str, message: str) -> UnsupportedIssue:
    """Shorthand for the refusal tables of the adapters."""
    return UnsupportedIssue(path=path, rule=rule, message=message)
