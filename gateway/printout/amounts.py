"""Amounts as each country prints them: Colombia groups thousands with dots and uses a decimal comma
(358.050,00); El Salvador prints dollars the US way (1,234.56). Decimal throughout, never float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

# country -> (thousands separator, decimal separator)
SEPARATORS: Final = {"CO": (".", ","), "SV": (",", ".")}


def money(text: str | None, country: str) -> str:
    """`text` (a plain decimal string from the signed document) grouped for print; kept as written when
    it is not a number, so nothing printed ever differs silently from the document."""
    if not text:
        return ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    places = max(2, -value.as_tuple().exponent) if isinstance(value.as_tuple().exponent, int) else 2
    grouped = f"{value:,.{places}f}"
    thousands, decimal = SEPARATORS[country]
    return grouped.replace(",", "\0").replace(".", decimal).replace("\0", thousands)


def quantity(text: str | None, country: str) -> str:
    """A quantity without trailing zeros (2.000000 -> 2), in the country's decimal mark."""
    if not text:
        return ""
    try:
        value = Decimal(text).normalize()
    except InvalidOperation:
        return text
    plain = f"{value:f}"
    return plain.replace(".", SEPARATORS[country][1])
