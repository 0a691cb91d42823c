"""Every private-API shortcut is gated on the library version it was verified against, and the
versions installed here are those: an upgrade that turns a shortcut off (its plain path then runs,
correct but slower) fails here instead of slowing the gateway silently. Each module's plain path
has its own tests (tests/unit/test_shortcuts_httpx.py, test_dian_equivalence.py, tests/store)."""

from __future__ import annotations

from importlib.metadata import version
from types import ModuleType

import pytest

from adapters.dian import zeep_private
from adapters.shortcuts import httpx_private
from gateway.store import prepared
from gateway.store.shortcuts import aiosqlite_on_loop

SHORTCUTS = [
    (httpx_private, "httpx"),
    (zeep_private, "zeep"),
    (aiosqlite_on_loop, "aiosqlite"),
    (prepared, "sqlalchemy"),
]


@pytest.mark.parametrize(("module", "distribution"), SHORTCUTS, ids=[d for _, d in SHORTCUTS])
def test_shortcut_is_on_for_the_verified_installed_version(module: ModuleType, distribution: str) -> None:
    installed = version(distribution)
    assert module.SHORTCUT is installed.startswith(module.VERIFIED)
    assert module.SHORTCUT, f"{distribution} {installed} is not one {module.__name__} was verified for"
