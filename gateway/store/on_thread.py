"""Which SQLite statements run on a worker thread instead of the event loop's.

Every other statement runs on the loop's thread (gateway.store.shortcuts.aiosqlite_on_loop): they
are keyed or paged and take microseconds. A statement that may scan a whole table would hold the
loop for as long as the scan takes; on a worker thread SQLite lets the loop go on meanwhile.

The decision is explicit, made from the statement object, never from its SQL text:
- a statement may declare it: `.execution_options(on_thread=True)` (or False to keep one on the loop);
- otherwise a SELECT (or a UNION of them) that counts (a `count()` anywhere in it: /metrics, the alert sweep, the free
  slots per numbering range) scans: `SCANNING_FUNCTIONS`. min/max and keyed reads go by an index.
"""

from __future__ import annotations

import weakref
from typing import Any, Final

from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.sql import functions, visitors
from sqlalchemy.sql.expression import SelectBase

from gateway.store.shortcuts.aiosqlite_on_loop import on_loop

ON_THREAD: Final = "on_thread"  # the execution option a statement declares it with
SCANNING_FUNCTIONS: Final = (functions.count,)  # a SELECT holding one of these may scan a table

_decided: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()  # per compiled statement


def scans(statement: Any) -> bool:
    """Whether a statement object may scan a table (its type and contents say so)."""
    return isinstance(statement, SelectBase) and any(
        isinstance(element, SCANNING_FUNCTIONS) for element in visitors.iterate(statement)
    )


def runs_on_thread(context: ExecutionContext) -> bool:
    """The statement's own declaration, else whether it scans; statements SQLAlchemy did not
    compile (driver SQL, DDL strings) run on the loop."""
    declared = context.execution_options.get(ON_THREAD)
    if declared is not None:
        return bool(declared)
    compiled = context.compiled
    if compiled is None:
        return False
    decided = _decided.get(compiled)
    if decided is None:
        decided = _decided[compiled] = scans(compiled.statement)
    return decided


def route(conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _executemany: bool) -> None:
    """SQLAlchemy's `before_cursor_execute`: send the statement to a worker thread when it runs so."""
    if runs_on_thread(context):
        loop_sqlite = on_loop(conn.connection.driver_connection)
        if loop_sqlite is not None:
            loop_sqlite.run_next_on_thread()
