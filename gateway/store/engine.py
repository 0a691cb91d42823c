"""Engine setup and schema migrations.

SQLite (default): WAL + synchronous=NORMAL (survives a process crash; the last transactions may be
lost on power loss), a busy timeout, and `BEGIN IMMEDIATE` for every write transaction so two
writers queue on the lock instead of failing with "database is locked" when a read turns into a
write. Reads go through `reader(engine)`: no transaction, no lock.
PostgreSQL (by URL) is the store for several gateway processes; it takes row locks itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.config import database_url
from gateway.store.schema import metadata, schema_version

SQLITE_PRAGMAS: Final = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


def make_engine(url: str, *, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30, **(connect_args or {})}, pool_size=10)
        _sqlite_setup(engine)
        return engine
    return create_async_engine(url, connect_args=connect_args or {}, pool_size=20, max_overflow=20)


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below emits BEGIN itself
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same pool for reads that need no transaction: each statement sees the latest commit,
    takes no write lock (SQLite WAL readers never wait for writers) and costs no BEGIN/COMMIT."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


async def _v1(conn: AsyncConnection) -> None:
    await conn.run_sync(metadata.create_all)


# Ordered steps; a shipped step never changes, a schema change is a new step.
MIGRATIONS: Final[list[tuple[int, Callable[[AsyncConnection], Awaitable[None]]]]] = [(1, _v1)]


async def migrate(engine: AsyncEngine) -> int:
    """Bring the schema to the latest version; safe to run from several processes at once."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(7261001)"))
        await conn.run_sync(lambda sync: schema_version.create(sync, checkfirst=True))
        current = (await conn.execute(sa.select(sa.func.max(schema_version.c.version)))).scalar() or 0
        for version, step in MIGRATIONS:
            if version > current:
                await step(conn)
                await conn.execute(schema_version.insert().values(version=version))
                current = version
        return current
