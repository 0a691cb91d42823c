"""The document path's statements, run on SQLite's own connection (a shortcut through SQLAlchemy's
compiler internals, beside the plain `conn.execute`).

Why: through SQLAlchemy's async layer a keyed statement costs ~50–70 µs of CPU (execution context,
parameter processing, greenlet hops, result machinery) around the few µs `sqlite3` itself takes, and
every document runs about ten of them (bench/README.md). On SQLite, `Prepared.execute` sends the SQL
SQLAlchemy compiled for the statement (once per set of parameter names) to the `sqlite3` connection
underneath the caller's `AsyncConnection`: same SQL, same transaction, same write lock, with the
column types' own bind and result processors. On PostgreSQL it is `conn.execute` unchanged.

Only statements whose parameters are plain values qualify (no SQL expressions in them); an INSERT
gets its columns' scalar Python defaults as SQLAlchemy would give them.

The shortcut reads SQLAlchemy's compiled form (`positiontup`, `binds`, each bind's `required` and
`effective_value`, the types' processors) and raises its errors through `DBAPIError.instance`:
verified against SQLAlchemy 2.1.x (2.1.9 installed). With another SQLAlchemy version (`SHORTCUT`
False), or when the connection is not on the loop (gateway.store.shortcuts.aiosqlite_on_loop), it is
`conn.execute`: tests/store/test_prepared.py holds that both give the same rows, counts and keys.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable

from gateway.store.shortcuts.aiosqlite_on_loop import on_loop

VERIFIED: Final = ("2.1.",)  # SQLAlchemy version prefixes the compiled form's use was checked against
SHORTCUT: bool = version("sqlalchemy").startswith(VERIFIED)


class _Compiled(NamedTuple):
    sql: str
    binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]  # name, default, bind processor
    row: Callable[..., Any] | None  # namedtuple of the returned columns
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # column index, result processor


class Rows:
    """The subset of SQLAlchemy's Result the store uses."""

    __slots__ = ("_rows", "lastrowid", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int | None) -> None:
        self._rows, self.rowcount, self.lastrowid = rows, rowcount, lastrowid

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise (
                sa.exc.NoResultFound("expected one row") if not self._rows else sa.exc.MultipleResultsFound()
            )
        return self._rows[0]

    def all(self) -> Sequence[Any]:
        return self._rows

    @property
    def inserted_primary_key(self) -> tuple[int | None]:
        return (self.lastrowid,)


class Prepared:
    """A statement built once; `execute(conn, params)` as `conn.execute(statement, params)` would."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[frozenset[str], _Compiled] = {}

    async def execute(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Any:
        sqlite = _sqlite(conn) if SHORTCUT and conn.dialect.name == "sqlite" else None
        if sqlite is None:
            return await conn.execute(self.statement, params)
        if not conn.in_transaction():  # as `conn.execute` would autobegin (the writer: BEGIN IMMEDIATE);
            await conn.begin()  # else sqlite3, in autocommit, would commit this write at once
        compiled = self._compiled.get(frozenset(params)) or self._compile(conn.dialect, params)
        args = []
        for name, default, process in compiled.binds:
            value = params[name] if name in params else default
            args.append(value if process is None else process(value))
        try:
            cursor = sqlite.execute(compiled.sql, args)
            try:
                rows = cursor.fetchall() if compiled.row is not None else []
                rowcount, lastrowid = cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()
        except sqlite3.Error as exc:  # as SQLAlchemy raises it (sa.exc.IntegrityError, ...), not sqlite3's
            raise sa.exc.DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc
        if compiled.results:
            rows = [list(r) for r in rows]
            for r in rows:
                for index, process in compiled.results:
                    r[index] = process(r[index])
        made = [compiled.row(*r) for r in rows] if compiled.row is not None else []
        return Rows(made, rowcount, lastrowid)

    def _compile(self, dialect: sa.Dialect, params: Mapping[str, Any]) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(params))
        defaults = _scalar_defaults(self.statement)
        binds = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if name in params or name in defaults:
                default = defaults.get(name)
            elif not bind.required:  # a value written in the statement itself
                default = bind.effective_value
            else:
                raise sa.exc.ArgumentError(f"{name!r} has no value and no scalar default")
            binds.append((name, default, bind.type.bind_processor(dialect)))
        columns = list(getattr(self.statement, "exported_columns", ()) or ())
        row = collections.namedtuple("Row", [c.key for c in columns]) if columns else None  # type: ignore[misc]
        results = []
        for index, column in enumerate(columns):
            process = column.type.result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        prepared = _Compiled(compiled.string, tuple(binds), row, tuple(results))
        self._compiled[frozenset(params)] = prepared
        return prepared


def _scalar_defaults(statement: Executable) -> dict[str, Any]:
    """An INSERT's Python-side column defaults (all of ours are scalars; a callable one refuses)."""
    if not isinstance(statement, sa.Insert):
        return {}
    found = {}
    for column in statement.table.columns:  # type: ignore[attr-defined]
        if column.default is not None:
            if not column.default.is_scalar:
                raise sa.exc.ArgumentError(f"{column.key}: only scalar defaults run on the SQLite path")
            found[column.key] = column.default.arg
    return found


def _sqlite(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The `sqlite3` connection under `conn` when it runs on the loop's thread, else None."""
    loop_sqlite = on_loop(conn.sync_connection.connection.driver_connection)  # type: ignore[union-attr]
    return None if loop_sqlite is None else loop_sqlite.sqlite
