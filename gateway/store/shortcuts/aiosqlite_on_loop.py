"""SQLite statements on the event loop's own thread, through aiosqlite's private interface.

Why: a SQLite statement takes microseconds, less than handing it to aiosqlite's worker thread and
back (four times per statement); on the loop's thread the gateway's CPU per document fell from 9.1
to 6.1 ms (bench/README.md). `LoopSqlite` keeps aiosqlite's interface, the one SQLAlchemy's adapter
drives, and replaces its worker queue (`_tx`), its connect step and its `_execute` (private names,
verified against aiosqlite 0.22.x: 0.22.1 installed). A statement that may scan a table runs on a
worker thread even so, when SQLAlchemy's `before_cursor_execute` marks it (gateway.store.on_thread).

With any other aiosqlite version `SHORTCUT` is False and the engine is SQLAlchemy's own aiosqlite
engine (its worker thread; the pragmas run on connect): the same statements and transactions.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from typing import Any, Final

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_

VERIFIED: Final = (
    "0.22.",
)  # version prefixes `_tx`, `_connection`, `_connector`, `_execute` were checked against
SHORTCUT: bool = version("aiosqlite").startswith(VERIFIED)
ITER_CHUNK: Final = 64  # rows a cursor fetches per step, aiosqlite's default


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs the call at once. (SQLAlchemy's
    aiosqlite adapter queues its isolation-level changes here directly.)"""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, like aiosqlite does
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class LoopSqlite(aiosqlite.Connection):
    """aiosqlite's interface (what SQLAlchemy's adapter drives), executed on the loop's thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=ITER_CHUNK)
        self._tx = _RunNow()  # type: ignore[assignment]
        self._thread_next = False

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        """The `sqlite3` connection, used on this thread (None once closed)."""
        return self._connection

    def run_next_on_thread(self) -> None:
        """The next statement runs on a worker thread (the connection is its alone meanwhile)."""
        self._thread_next = True

    def __await__(self) -> Any:
        return self._connect().__await__()

    async def _connect(self) -> LoopSqlite:
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        if self._thread_next and args and isinstance(args[0], str):  # the statement, not its cursor
            self._thread_next = False
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()

    def __del__(self) -> None:
        self.stop()


def create_engine(
    url: str, path: str, pragmas: tuple[str, ...], connect_args: dict[str, Any], **pool: Any
) -> AsyncEngine:
    """An engine whose connections are autocommit at the driver (SQLAlchemy's `begin` listeners
    emit BEGIN themselves) and run `pragmas` when opened."""
    if SHORTCUT:
        return create_async_engine(url, async_creator=partial(_on_loop, path, pragmas, connect_args), **pool)
    engine = create_async_engine(
        url, connect_args={"isolation_level": None, "check_same_thread": False, **connect_args}, **pool
    )
    event.listen(engine.sync_engine, "connect", partial(_run_pragmas, pragmas))
    return engine


def _on_loop(path: str, pragmas: tuple[str, ...], connect_args: dict[str, Any]) -> LoopSqlite:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, **connect_args)
        for pragma in pragmas:
            connection.execute(pragma)
        return connection

    return LoopSqlite(connect)


def _run_pragmas(pragmas: tuple[str, ...], dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(pragma)
    finally:
        cursor.close()


def on_loop(driver_connection: Any) -> LoopSqlite | None:
    """The connection as `LoopSqlite` when it is one (SQLAlchemy's `driver_connection`), else None."""
    return driver_connection if isinstance(driver_connection, LoopSqlite) else None


def execute_now(driver_connection: Any, sql: str) -> None:
    """Run `sql` from SQLAlchemy's synchronous side (an event listener): at once on the loop's
    connection, else through aiosqlite's public `execute`."""
    loop_sqlite = on_loop(driver_connection)
    if loop_sqlite is not None and loop_sqlite.sqlite is not None:
        loop_sqlite.sqlite.execute(sql)
    else:
        await_(_execute(driver_connection, sql))


async def _execute(connection: aiosqlite.Connection, sql: str) -> None:
    cursor = await connection.execute(sql)
    await cursor.close()
