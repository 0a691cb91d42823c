"""SQLite on the event loop's thread (gateway.store.engine): keyed statements run there, aggregates
that may scan a table run on a worker thread, and two processes' writers take turns on the lock
without either failing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from gateway.store.engine import dispose, make_engine, reader
from gateway.store.migrations import upgrade


async def _thread_ids(tmp_path: Path) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    readers = reader(engine)

    @event.listens_for(readers.sync_engine, "connect")
    def register(dbapi_connection, _record):  # the thread that runs each statement reports itself
        dbapi_connection.driver_connection._conn.create_function("thread_id", 0, threading.get_ident)

    try:
        await upgrade(engine)
        async with readers.connect() as conn:
            keyed = (await conn.execute(sa.text("SELECT thread_id()"))).scalar()
            scan = (await conn.execute(sa.text("SELECT count(*), thread_id() FROM documents"))).one()[1]
        return keyed, scan
    finally:
        await dispose(engine)


async def test_keyed_statements_run_on_the_loop_and_aggregates_on_a_worker_thread(tmp_path):
    keyed, scan = await _thread_ids(tmp_path)
    assert keyed == threading.get_ident()
    assert scan != threading.get_ident()


async def test_two_processes_writers_take_turns_on_the_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'two.db'}"
    one, other = make_engine(url), make_engine(url)  # two gateway processes' engines
    await upgrade(one)
    async with one.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE counter (n INTEGER)"))
        await conn.execute(sa.text("INSERT INTO counter VALUES (0)"))

    async def add(engine, times: int) -> None:
        for _ in range(times):
            async with engine.begin() as conn:
                await conn.execute(sa.text("UPDATE counter SET n = n + 1"))
                await asyncio.sleep(0)  # hold the lock across a turn of the loop

    try:
        started = time.monotonic()
        await asyncio.gather(*(add(e, 50) for e in (one, other) for _ in range(5)))
        async with reader(one).connect() as conn:
            assert (await conn.execute(sa.text("SELECT n FROM counter"))).scalar() == 500
        assert time.monotonic() - started < 20
    finally:
        await dispose(one)
        await dispose(other)


async def _commit_rows(engine, count: int, start: int) -> None:
    for n in range(start, start + count):
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("INSERT INTO admin_keys (key_hash, created_at) VALUES (:v, 0)"), {"v": str(n)}
            )
        await asyncio.sleep(0)  # a server's loop runs other tasks between transactions


async def test_wal_checkpoints_run_off_the_loop_and_keep_the_log_bounded(tmp_path, monkeypatch):
    """The commits never checkpoint themselves (that fsync would stall the loop); every
    CHECKPOINT_EVERY commits a worker thread does, and the log then starts over instead of growing."""
    from gateway.store import engine as store_engine

    path = tmp_path / "wal.db"
    ran_on: list[int] = []
    real = store_engine._checkpoint

    def spy(p: str) -> None:
        if Path(p) == path:  # this test's database only: other tests' engines may still commit
            ran_on.append(threading.get_ident())
        real(p)

    monkeypatch.setattr(store_engine, "_checkpoint", spy)
    engine = make_engine(f"sqlite:///{path}")
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            assert (await conn.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar() == 0
        every = store_engine.CHECKPOINT_EVERY
        await _commit_rows(engine, every, 0)
        if engine._checkpoint is not None:
            await engine._checkpoint
        assert ran_on and threading.get_ident() not in ran_on
        size_after_first = Path(f"{path}-wal").stat().st_size
        await _commit_rows(engine, 3 * every, every)
        if engine._checkpoint is not None:
            await engine._checkpoint
        assert len(ran_on) == 4
        # without checkpoints the log would hold all 4 × CHECKPOINT_EVERY transactions by now
        assert Path(f"{path}-wal").stat().st_size <= size_after_first
    finally:
        await dispose(engine)
