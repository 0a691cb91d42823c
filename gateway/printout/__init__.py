"""The buyer's copy (graphic representation) of the documents the gateway signs itself: the signed
document read into a `Printout` by the authority's reader, drawn by `layout`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.printout import dte, layout, ubl
from gateway.printout.model import Printout

# provider whose signed document we hold -> reader of (stored signed document, authority's seal).
# DIAN's answer has no seal to print (the CUFE is the document's key); MH's sello de recepción is
# printed on the versión legible.
READERS: Final[dict[str, Callable[[bytes, str | None], Printout]]] = {
    "dian": lambda signed, _seal: ubl.printout(signed),
    "hacienda": dte.printout,
}


def can_print(provider: str | None) -> bool:
    return provider in READERS


def render_pdf(provider: str, signed: bytes, *, seal: str | None = None, logo: bytes | None = None) -> bytes:
    """The PDF of the document `provider`'s adapter signed (its stored XML or DTE)."""
    return layout.render(READERS[provider](signed, seal), logo)
