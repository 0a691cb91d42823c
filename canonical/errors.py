"""Validation problems: every one names the field path and a stable rule code (GOBL-style)."""

from __future__ import annotations

from msgspec import Struct


class FieldError(Struct, kw_only=True):
    path: str  # e.g. "lines[1].quantity"; "" for the whole document
    rule: str  # stable, namespaced code, e.g. "co-nit-check-digit"
    message: str


class InvalidDocument(Exception):
    """The document cannot be accepted; `errors` lists every problem found, not just the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path or '$'}: {e.message} [{e.rule}]" for e in errors))
        self.errors = errors
