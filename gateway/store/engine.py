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


# Issue 8: administration and lifecycle columns on existing tables (new tables come from create_all).
_V2_COLUMNS: Final = {
    "tenants": ("issuer", "dispatch", "source", "revision"),
    "api_keys": ("key_id", "label", "prefix", "created_at", "expires_at", "revoked_at"),
    "accounts": ("source", "timeout_s", "transmitter_code"),
    "documents": ("voided_by", "voids", "voided_at"),
}


async def _v2(conn: AsyncConnection) -> None:
    """New tables, and the new columns where a version-1 database lacks them (a database created
    after this step's columns were declared already has them from `_v1`)."""

    def step(sync: Any) -> None:
        metadata.create_all(sync, checkfirst=True)
        inspector = sa.inspect(sync)
        for table_name, names in _V2_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table_name)}
            for column in (metadata.tables[table_name].c[n] for n in names if n not in present):
                ddl = f"ALTER TABLE {table_name} ADD COLUMN {column.name} {column.type.compile(sync.dialect)}"
                if column.server_default is not None:
                    ddl += f" NOT NULL DEFAULT '{column.server_default.arg}'"
                sync.exec_driver_sql(ddl)

    await conn.run_sync(step)


_V3_COLUMNS: Final = {"webhook_endpoints": ("previous_secret", "previous_until")}


async def _v3(conn: AsyncConnection) -> None:
    """Webhook secret rotation with an overlap (nullable columns; absent from version-2 databases)."""

    def step(sync: Any) -> None:
        inspector = sa.inspect(sync)
        for table_name, names in _V3_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table_name)}
            for column in (metadata.tables[table_name].c[n] for n in names if n not in present):
                ddl = f"ALTER TABLE {table_name} ADD COLUMN {column.name} {column.type.compile(sync.dialect)}"
                sync.exec_driver_sql(ddl)

    await conn.run_sync(step)


# Ordered steps; a shipped step never changes, a schema change is a new step.
MIGRATIONS: Final[list[tuple[int, Callable[[AsyncConnection], Awaitable[None]]]]] = [
    (1, _v1),
    (2, _v2),
    (3, _v3),
]


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
