"""Pieces of the providers' wire formats that several adapters share, written once so that every
adapter reads them the same way: exact JSON numbers, Laravel validation errors, DIAN rule texts and
the reconciliation verdict on a provider's search results. Provider tables stay in each adapter."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import msgspec

from adapters.base import Ambiguous, ProviderError

# DIAN's rule text, however it reaches us (direct DIAN's ErrorMessage, APIDIAN's ResponseDian, a
# provider's relayed message): "Regla: FAD06, Rechazo: Valor del CUFE ..." / "Regla: FAJ44b,
# Notificación: ..." / "Regla: FAK24, Rechazo: ..." (facepro examples/emit.201.rechazado).
DIAN_RULE: Final = re.compile(
    r"Regla:\s*(?P<code>[^,\s]+)\s*(?:,\s*(?P<severity>Rechazo|Notificaci[oó]n)\s*:?\s*(?P<text>.*))?",
    re.S | re.I,
)


def dian_rule(message: str) -> re.Match[str] | None:
    """The rule anywhere in the text (groups code, severity and text; severity may be absent)."""
    return DIAN_RULE.search(message)


def is_notification(rule: re.Match[str] | None) -> bool:
    """DIAN's notifications (Notificación) are warnings; everything else refuses the document."""
    return bool(rule and rule["severity"] and rule["severity"].lower().startswith("notific"))


def number(value: Decimal) -> msgspec.Raw:
    """A Decimal as an exact JSON number (the documentation shows numbers, never strings); Raw, so
    every msgspec encoder (the wire, the gateway's preview) writes the same digits."""
    return msgspec.Raw(format(value, "f").encode())


def laravel_errors(errors: Any, canonical_path: Callable[[str], str | None]) -> list[ProviderError]:
    """Laravel-style `{"lines.0.unit_price": ["..."]}` -> one error per message, each with the
    canonical path the adapter's own table gives its field (None where it has none)."""
    if not isinstance(errors, dict):
        return []
    return [
        ProviderError(code=field, message=str(message), path=canonical_path(field))
        for field, messages in errors.items()
        for message in (messages if isinstance(messages, list) else [messages])
    ]


def dian_error(text: Any) -> ProviderError:
    """A DIAN rejection text relayed by a provider; its rule ("Regla: FAK24") is the error code."""
    message = str(text)
    rule = dian_rule(message)
    return ProviderError(code=rule["code"] if rule else "dian", message=message)


def sole_match(matches: list[dict[str, Any]], *, provider: str, id_field: str) -> dict[str, Any] | None:
    """Reconciliation's verdict on a search (ARCHITECTURE.md): exactly one match is adopted, none is
    None (absent, if the listing was complete), several cannot be told apart and stay Ambiguous for
    an operator. One document listed twice (pages shifting under a listing) is one match; a match
    without its id cannot be told from another: cannot tell."""
    by_id: dict[str, dict[str, Any]] = {}
    for match in matches:
        key = match.get(id_field)
        if key is None or key == "":
            raise cannot_tell(f"a matching {provider} document has no {id_field}")
        by_id.setdefault(str(key), match)
    if len(by_id) > 1:
        ids = ", ".join(by_id)
        raise Ambiguous(f"{len(by_id)} {provider} documents match: {ids}", code="several-matches")
    return next(iter(by_id.values()), None)


def cannot_tell(message: str) -> Ambiguous:
    """A search that cannot prove absence: an incomplete listing, or an item lacking a field the
    match compares (which must not be read as "a different document")."""
    return Ambiguous(message, code="cannot-tell")


def compared(item: Any, *path: str) -> Any:
    """A field the match compares, or cannot_tell when the listed item lacks it."""
    value = item
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None or value == "":
        raise cannot_tell(f"a listed document lacks {'.'.join(path)}: cannot tell whether it is ours")
    return value


def text(value: Any) -> str | None:
    """A string field of a provider's answer; any other type (a malformed answer: a list, a
    number, an object) counts as absent, so it never reaches the store as a reference."""
    return value if isinstance(value, str) and value else None
