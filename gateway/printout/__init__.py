"""The buyer's copy (graphic representation) of the documents the gateway signs itself: the signed
document read into a `Printout` by the authority's reader, drawn by `layout` (or by the tenant's own
layout, `[tenants.printout] layout = "module:function"`, which takes the same `Printout` and logo)."""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from gateway.printout import dte, layout, ubl
from gateway.printout.model import Printout

Layout = Callable[[Printout, bytes | None], bytes]

# provider whose signed document we hold -> reader of (stored signed document, authority's seal,
# resolution dates). DIAN's answer has no seal to print (the CUFE is the document's key) and its UBL
# no resolution date; MH's sello de recepción is printed on the versión legible.
Reader = Callable[[bytes, str | None, Mapping[str, dt.date]], Printout]
READERS: Final[dict[str, Reader]] = {
    "dian": lambda signed, _seal, dates: ubl.printout(signed, dates),
    "hacienda": lambda signed, seal, _dates: dte.printout(signed, seal),
}
IMAGE_SIGNATURES: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG: what fpdf2 draws


def can_print(provider: str | None) -> bool:
    return provider in READERS


def render_pdf(
    provider: str,
    signed: bytes,
    *,
    seal: str | None = None,
    resolution_dates: Mapping[str, dt.date] | None = None,
    logo: bytes | None = None,
    draw: Layout = layout.render,
) -> bytes:
    """The PDF of the document `provider`'s adapter signed (its stored XML or DTE)."""
    return draw(READERS[provider](signed, seal, resolution_dates or {}), logo)


@functools.lru_cache(maxsize=64)
def load_logo(path: str) -> bytes:
    """The logo file's bytes, read once; a PNG or JPEG, or ValueError."""
    content = Path(path).read_bytes()
    if not content.startswith(IMAGE_SIGNATURES):
        raise ValueError(f"{path} is not a PNG or JPEG image")
    return content


@functools.lru_cache(maxsize=64)
def load_layout(reference: str) -> Layout:
    """`package.module:function`, imported once; ValueError when it is not that shape or not callable."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{reference!r}: write it as package.module:function")
    draw = getattr(importlib.import_module(module_name), attribute)
    if not callable(draw):
        raise ValueError(f"{reference!r} is not callable")
    return draw
