"""The buyer's copy (graphic representation) of the documents the gateway signs itself: the signed
document read into a `Printout` by the authority's reader, drawn by `layout`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.printout import layout, ubl
from gateway.printout.model import Printout

# provider whose signed document we hold -> reader of that document
READERS: Final[dict[str, Callable[[bytes], Printout]]] = {"dian": ubl.printout}


def can_print(provider: str | None) -> bool:
    return provider in READERS


def render_pdf(provider: str, signed: bytes, logo: bytes | None = None) -> bytes:
    """The PDF of the document `provider`'s adapter signed (its stored XML or DTE)."""
    return layout.render(READERS[provider](signed), logo)
