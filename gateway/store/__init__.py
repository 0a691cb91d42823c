"""The store: SQLAlchemy 2 async, SQLite (WAL) by default, PostgreSQL by URL.

Every SQL statement and table object lives in this package; the rest of the gateway calls its
named functions (tests/unit/test_store_boundary.py holds the line). The names below are what
callers need to hold a unit of work and to catch the store's errors without importing SQLAlchemy.
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# The unit of work callers group several store calls in (`async with engine.begin() as conn`)
# and the engine they open it from.
Conn: TypeAlias = AsyncConnection
Engine: TypeAlias = AsyncEngine
# Every error the store raises (the API answers them 503 or 500: gateway.api.problems).
StoreError: TypeAlias = SQLAlchemyError


class Conflict(Exception):
    """A write collided with a row another transaction committed first (a unique key taken)."""
