"""Store fixtures: the same tests on SQLite (a temporary file) and PostgreSQL.

SQLite runs twice: with the private-API shortcuts (gateway.store.shortcuts, gateway.store.prepared)
and with the plain public path they fall back to when the installed libraries are not the versions
the shortcuts were written for ("sqlite-plain").

PostgreSQL runs for real when PASARELA_TEST_PG_URL is set (`.ci/run` sets it to the local server);
each test gets a fresh schema (dropped afterwards), so reruns start clean. Without the variable
the PostgreSQL cases skip, saying why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store import prepared
from gateway.store.engine import dispose, make_engine
from gateway.store.migrations import upgrade
from gateway.store.shortcuts import aiosqlite_on_loop

PG_URL = os.environ.get("PASARELA_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "sqlite-plain", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, dict]]:
    """(database URL, connect_args) for a fresh, empty database of each kind."""
    if request.param == "sqlite-plain":
        monkeypatch.setattr(aiosqlite_on_loop, "SHORTCUT", False)
        monkeypatch.setattr(prepared, "SHORTCUT", False)
    if request.param.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'store.db'}", {}
        return
    if not PG_URL:
        pytest.skip("PASARELA_TEST_PG_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = "pasarela_test_" + secrets.token_hex(4)
    admin = make_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield PG_URL, {"server_settings": {"search_path": schema}}
    finally:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def engine(store: tuple[str, dict]) -> AsyncIterator[AsyncEngine]:
    url, connect_args = store
    eng = make_engine(url, connect_args=connect_args)
    await upgrade(eng)
    yield eng
    await dispose(eng)  # the engine and its reader pool
