"""Engine setup (schema migrations: gateway.store.migrations).

SQLite (default): WAL + synchronous=NORMAL (survives a process crash; the last transactions may be
lost on power loss) and `BEGIN IMMEDIATE` for every write transaction, so a read that turns into a
write never fails with "database is locked".

SQLite statements take microseconds, less than handing each one to a worker thread and back (what
aiosqlite does, four times per statement), so they run on the event loop's own thread
(gateway.store.shortcuts.aiosqlite_on_loop). Two rules keep that from ever blocking the loop on a lock:
- one write connection per process (`SqliteWriter`): writers of this process queue for it on the
  loop, never on SQLite's lock;
- a writer of another process holding the lock makes `BEGIN IMMEDIATE` fail at once
  (busy_timeout 0 on the write connection), and the begin is retried after an asyncio sleep.
WAL checkpoints (copying the log back into the database, with an fsync) run on a worker thread
every `CHECKPOINT_EVERY` commits, between two write transactions, not inside the commit that crosses
SQLite's page threshold: they were 1 % of commits but ~40 % of commit time on the loop
(bench/README.md).
Reads go through `reader(engine)`: their own pool of connections in autocommit mode (no BEGIN, no
lock; SQLite WAL readers never wait for writers). A statement that may scan a large table
(`/metrics`, the alert sweep: counts over every document) runs on a worker thread, which SQLite
lets the loop go on meanwhile (gateway.store.on_thread says which); every other statement is keyed
or paged.
PostgreSQL (by URL) is the store for several gateway processes; it takes row locks itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_

from gateway.store import on_thread
from gateway.store.shortcuts import aiosqlite_on_loop
from gateway.tenants.config import Server, database_url

SQLITE_PRAGMAS: Final = ("PRAGMA busy_timeout=30000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
LOCK_WAIT_S: Final = 30.0  # how long a write transaction waits for another process's lock
READERS: Final = 8
CHECKPOINT_EVERY: Final = 100  # commits between WAL checkpoints (~1,000 pages: SQLite's own default)

log = logging.getLogger(__name__)
_readers: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()


class SqliteWriter(AsyncEngine):
    """The process's one write connection, kept checked out: writers take turns on a lock instead
    of checking it out of the pool and closing it again (a greenlet and a task) per transaction,
    ~60 µs less each (bench/README.md). The pool keeps one overflow connection for callers of
    `connect()` (tests, tools); the gateway writes only through `begin()`."""

    def __init__(self, sync_engine: sa.Engine, path: str) -> None:
        super().__init__(sync_engine)
        self._turn = asyncio.Lock()
        self._held: AsyncConnection | None = None
        self._path = path
        self._commits = 0
        self._checkpoint: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._turn:
            if self._held is None:
                self._held = await self.connect()
            conn = self._held
            try:
                async with conn.begin():
                    yield conn
            finally:
                if conn.in_transaction():  # a rollback cut short: never keep SQLite's write lock
                    self._held = None
                    await asyncio.shield(conn.close())
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and self._checkpoint is None:
            self._commits = 0
            self._checkpoint = asyncio.ensure_future(self._checkpoint_in_turn())
            self._checkpoint.add_done_callback(self._checkpointed)

    async def _checkpoint_in_turn(self) -> None:
        """This process's writers wait meanwhile (on the loop; reads and provider calls go on): a
        log that nothing was appended to during the checkpoint is started over by the next write,
        while one written to meanwhile would only grow."""
        async with self._turn:
            await asyncio.to_thread(_checkpoint, self._path)

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and done.exception() is not None:  # the next one catches up
            log.warning("WAL checkpoint failed: %s", done.exception())

    async def dispose(self, close: bool = True) -> None:
        if self._checkpoint is not None:
            await asyncio.shield(self._checkpoint)
        if self._held is not None:
            held, self._held = self._held, None
            await held.close()
        await super().dispose(close)


def _checkpoint(path: str) -> None:
    """PASSIVE: copies what no reader still needs, never waits for or blocks anyone; the writer
    starts the log over once all of it was copied."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


class SqliteReaders(AsyncEngine):
    """The autocommit read connections, kept open between uses (a read needs no transaction to
    end): a free list instead of a pool checkout and a close task per use. A use that raised
    closes its connection. At most `size` uses at a time (the pool's size): a use waits for a
    connection given back to the free list, which the pool's own waiters would never see."""

    def __init__(self, sync_engine: sa.Engine, size: int) -> None:
        super().__init__(sync_engine)
        self._idle: list[AsyncConnection] = []
        self._uses = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:  # type: ignore[override]
        async with self._uses:
            conn = self._idle.pop() if self._idle else await super().connect()
            try:
                yield conn
            except BaseException:
                await asyncio.shield(conn.close())
                raise
            self._idle.append(conn)

    async def dispose(self, close: bool = True) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
        await super().dispose(close)


def make_engine(
    url: str, *, connect_args: dict[str, Any] | None = None, server: Server | None = None
) -> AsyncEngine:
    """The store's engine; `server` carries the PostgreSQL pool settings (`[server]` in the tenants
    file; their defaults otherwise)."""
    url = database_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engines(url, connect_args or {})
    server = server or Server()
    return create_async_engine(
        url,
        connect_args=connect_args or {},
        pool_size=server.pool_size,
        max_overflow=server.pool_max_overflow,
        pool_timeout=server.pool_timeout_s,
    )


# SQLSTATE classes that mean "the database cannot serve this now", not "this request is wrong":
# 53 insufficient resources (53300 too many connections), 57P0x shutdown / cannot connect now,
# 08 connection exceptions.
UNAVAILABLE_SQLSTATES: Final = ("53", "57P01", "57P02", "57P03", "08")


def unavailable(exc: BaseException) -> bool:
    """Whether a store error is temporary: every pooled connection busy for `pool_timeout_s`, the
    server out of connections or restarting, the connection lost, SQLite's lock held too long.
    The API answers these 503 with Retry-After (gateway.api.problems), never 500."""
    if isinstance(exc, sa.exc.TimeoutError | ConnectionError):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or ""
    if state.startswith(UNAVAILABLE_SQLSTATES):
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def _sqlite_engines(url: str, connect_args: dict[str, Any]) -> AsyncEngine:
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:":  # every connection would open a database of its own
        raise ValueError("SQLite store needs a file (e.g. sqlite:///pasarela.db), not an in-memory database")

    writer = SqliteWriter(
        aiosqlite_on_loop.create_engine(
            url,
            path,
            (*SQLITE_PRAGMAS, "PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0"),
            connect_args,
            pool_size=1,
            max_overflow=1,
            pool_timeout=LOCK_WAIT_S,
        ).sync_engine,
        path,
    )
    reader_engine = SqliteReaders(
        aiosqlite_on_loop.create_engine(
            url,
            path,
            SQLITE_PRAGMAS,
            connect_args,
            pool_size=READERS,
            max_overflow=READERS,
            pool_reset_on_return=None,
        ).sync_engine,
        2 * READERS,
    )
    if aiosqlite_on_loop.SHORTCUT:  # statements that scan go to a worker thread, off the loop
        for engine in (writer, reader_engine):
            event.listen(engine.sync_engine, "before_cursor_execute", on_thread.route)
    event.listen(writer.sync_engine, "begin", _begin_immediate)  # readers: autocommit, no BEGIN
    _readers[writer] = reader_engine
    return writer


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock; while another process holds it, wait on the loop, not in SQLite."""
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    driver = connection.connection.driver_connection
    delay, deadline = 0.0002, time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            aiosqlite_on_loop.execute_now(driver, "BEGIN IMMEDIATE")  # on the loop's connection: no hop
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await_(asyncio.sleep(delay))
        delay = min(delay * 1.5, 0.001)  # a failed BEGIN costs ~5 µs: polling is cheap, long sleeps starve


def reader(engine: AsyncEngine) -> AsyncEngine:
    """Connections for reads that need no transaction: each statement sees the latest commit, takes
    no write lock and costs no BEGIN/COMMIT. SQLite: the engine's own reader pool."""
    registered = _readers.get(engine)
    if registered is not None:
        return registered
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def dispose(engine: AsyncEngine) -> None:
    """Close the engine and its reader pool."""
    registered = _readers.pop(engine, None)
    if registered is not None:
        await registered.dispose()
    await engine.dispose()


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def shown_url(database: str) -> str:
    """The store's URL as an operator may see it: the password hidden (messages, logs)."""
    return sa.engine.make_url(database).render_as_string(hide_password=True)
