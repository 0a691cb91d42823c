"""The store's schema migrations (alembic), configured in code: the scripts ship inside the package
(no alembic.ini at run time) and run on the store's own engine, in one transaction.

- A store with no tables is created by running every revision (`ensure_current`, at start).
- A store at an older revision is never upgraded by a start: `serve` refuses with `SchemaOutdated`
  and the operator runs `pasarela db upgrade` (docs/deploy.md: before rolling out, from one place).
- A store made by the hand-rolled steps this replaced (a `schema_version` table) is adopted by
  `upgrade` (gateway.store.migrations.legacy).
PostgreSQL: upgrades take an advisory lock, so processes started at once upgrade one after another.

A schema change: edit gateway/store/schema.py, then draft its revision against an in-memory store at
the head (review it; a shipped revision never changes):
    with sa.create_engine("sqlite://").begin() as conn:
        command.upgrade(config(conn), "head")
        command.revision(config(conn), "what changed", autogenerate=True)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.migrations import legacy

SCRIPTS: Final = Path(__file__).parent
LOCK: Final = 7261001  # pg_advisory_xact_lock key of schema changes (the hand-rolled steps' own)


class SchemaOutdated(Exception):
    """The store's schema is not the one this version needs; one line for the operator."""

    def __init__(self, current: str, needed: str) -> None:
        super().__init__(
            f"the store's schema is at {current}, this version needs {needed}: run `pasarela db upgrade`"
        )


def config(connection: sa.Connection | None = None) -> Config:
    """alembic's configuration without a file; `connection` is what env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head() -> str:
    """The revision this version of the code needs (the scripts are read once per process)."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None  # the baseline exists
    return revision


def _current(sync: sa.Connection) -> str | None:
    """The store's revision; `legacy step N` for a hand-rolled store; None when it has no tables."""
    revision = MigrationContext.configure(sync).get_current_revision()
    if revision is not None:
        return revision
    step = legacy.step(sync)
    if step is not None:
        return f"legacy step {step}"
    return None if not sa.inspect(sync).get_table_names() else "an unknown schema (tables, no revision)"


def _upgrade(sync: sa.Connection) -> str:
    if legacy.step(sync) is not None:
        command.stamp(config(sync), legacy.adopt(sync))
    command.upgrade(config(sync), "head")
    return head()


async def _locked(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({LOCK})"))


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the store to the head revision (creating it when empty); returns the head."""
    async with engine.begin() as conn:
        await _locked(conn)
        return await conn.run_sync(_upgrade)


async def ensure_current(engine: AsyncEngine) -> None:
    """At start: create an empty store, accept one at the head, refuse anything else."""
    async with engine.begin() as conn:
        await _locked(conn)
        at = await conn.run_sync(_current)
        if at is None:
            await conn.run_sync(_upgrade)
        elif at != head():
            raise SchemaOutdated(at, head())
