"""Where SQLite and PostgreSQL differ, written once: the upsert and row locks.

SQLite has one writer at a time (`BEGIN IMMEDIATE`), so a row lock there is the transaction
itself; PostgreSQL needs `FOR UPDATE` (and `SKIP LOCKED` where concurrent claimers must not wait
for each other)."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_Select = TypeVar("_Select", bound=sa.Select[Any])


def is_postgresql(bind: AsyncConnection | AsyncEngine) -> bool:
    return bind.dialect.name == "postgresql"


def insert(bind: AsyncConnection | AsyncEngine, table: sa.Table) -> Any:
    """An INSERT with `on_conflict_do_nothing` / `on_conflict_do_update` (both dialects spell them alike)."""
    return (pg_insert if is_postgresql(bind) else sqlite_insert)(table)


def locked(query: _Select, bind: AsyncConnection | AsyncEngine, *, skip_locked: bool = False) -> _Select:
    """`query` taking row locks until the transaction ends (PostgreSQL; SQLite's writer already holds them)."""
    return query.with_for_update(skip_locked=skip_locked) if is_postgresql(bind) else query
