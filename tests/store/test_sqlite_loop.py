"""SQLite on the event loop's thread (gateway.store.engine): keyed statements run there, statements
that may scan a table (gateway.store.on_thread) run on a worker thread, and two processes' writers
take turns on the lock without either failing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.util import await_

from gateway.store import on_thread, prepared
from gateway.store.engine import dispose, make_engine, reader
from gateway.store.migrations import upgrade
from gateway.store.prepared import Prepared
from gateway.store.schema import documents
from gateway.store.shortcuts import aiosqlite_on_loop


def _report_thread(engine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def register(dbapi_connection, _record):  # the thread that runs each statement reports itself
        await_(dbapi_connection.driver_connection.create_function("thread_id", 0, threading.get_ident))


async def _thread_ids(tmp_path: Path, *statements) -> list[int]:
    """The thread each statement ran on (its last column is `thread_id()`)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'loop.db'}")
    readers = reader(engine)
    _report_thread(readers)
    try:
        await upgrade(engine)
        async with readers.connect() as conn:
            return [(await conn.execute(statement)).one()[-1] for statement in statements]
    finally:
        await dispose(engine)


THREAD_ID = sa.func.thread_id()
KEYED = (
    sa.select(documents.c.id, THREAD_ID)
    .where(documents.c.id == "x")
    .union_all(sa.select(sa.literal("x"), THREAD_ID))
)
COUNTS = (
    sa.select(documents.c.status, sa.func.count(), THREAD_ID)
    .group_by(documents.c.status)
    .union_all(sa.select(sa.literal("none"), sa.literal(0), THREAD_ID))
)
COUNT_ALL = sa.select(sa.func.count().label("n"), THREAD_ID).select_from(documents)
TEXT_COUNT = sa.text("SELECT count(*), thread_id() FROM documents")


async def test_keyed_statements_run_on_the_loop_and_counting_selects_on_a_worker_thread(tmp_path):
    """The statement object decides (gateway.store.on_thread), not its SQL text: a text that counts
    runs on the loop unless it declares otherwise, a SELECT that counts declared False too."""
    loop = threading.get_ident()
    ran_on = await _thread_ids(
        tmp_path,
        KEYED,
        COUNT_ALL,
        COUNTS,
        TEXT_COUNT,
        TEXT_COUNT.execution_options(on_thread=True),
        COUNT_ALL.execution_options(on_thread=False),
    )
    assert [thread == loop for thread in ran_on] == [True, False, False, True, False, True]


def test_scans_are_told_by_the_statement_type() -> None:
    assert on_thread.scans(COUNT_ALL) and on_thread.scans(
        sa.select(documents.c.id).where(
            documents.c.id.in_(sa.select(sa.func.count()).select_from(documents).scalar_subquery())
        )
    )
    assert not on_thread.scans(sa.select(sa.func.max(documents.c.consecutive)))
    assert not on_thread.scans(documents.update().values(status="x")) and not on_thread.scans(TEXT_COUNT)


async def test_with_aiosqlite_unverified_every_statement_runs_on_its_worker_thread(tmp_path, monkeypatch):
    """The plain path (aiosqlite's own thread, SQLAlchemy's own engine) when the installed aiosqlite
    is not the one the loop shortcut was written for."""
    monkeypatch.setattr(aiosqlite_on_loop, "SHORTCUT", False)
    ran_on = await _thread_ids(tmp_path, KEYED, COUNT_ALL)
    assert threading.get_ident() not in ran_on


# a scratch table of its own: the statements' results, not the store's schema, are compared
schema_version = sa.Table("scratch", sa.MetaData(), sa.Column("version", sa.Integer, primary_key=True))


async def _writes_and_reads(path: Path) -> list:
    engine = make_engine(f"sqlite:///{path}")
    insert = Prepared(schema_version.insert())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(schema_version.create)
            for version in (100, 101, 102):
                await insert.execute(conn, {"version": version})
            updated = (
                await conn.execute(
                    schema_version.update()
                    .where(schema_version.c.version > 100)
                    .values(version=schema_version.c.version + 10)
                )
            ).rowcount
        async with reader(engine).connect() as conn:
            rows = (
                await conn.execute(sa.select(schema_version.c.version).order_by(schema_version.c.version))
            ).all()
            counted = (await conn.execute(sa.select(sa.func.count()).select_from(schema_version))).scalar()
        return [updated, [tuple(r) for r in rows], counted]
    finally:
        await dispose(engine)


async def test_the_loop_shortcut_and_aiosqlite_s_own_thread_give_the_same_results(tmp_path, monkeypatch):
    on_loop = await _writes_and_reads(tmp_path / "loop.db")
    monkeypatch.setattr(aiosqlite_on_loop, "SHORTCUT", False)
    monkeypatch.setattr(prepared, "SHORTCUT", False)
    plain = await _writes_and_reads(tmp_path / "plain.db")
    assert on_loop == plain
    assert on_loop[0] == 2 and on_loop[1][-3:] == [(100,), (111,), (112,)]


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
