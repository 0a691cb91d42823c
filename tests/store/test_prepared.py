"""`Prepared.execute` against SQLAlchemy's own execution of the same statement, on real databases.

The SQLite fast path compiles and binds by itself: these tests run the document path's actual
statements both ways on two fresh databases and compare every value with its Python type (bool,
float, bytes, None: `True == 1` would hide a lost result processor), every UPDATE's rowcount and
every INSERT's primary key; then PostgreSQL (when PASARELA_TEST_PG_URL is set) against SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store import breakers as breakers_store
from gateway.store import documents as docs
from gateway.store import jobs as jobs_store
from gateway.store import keys as keys_store
from gateway.store.engine import dispose, make_engine, reader
from gateway.store.migrations import upgrade
from gateway.store.prepared import Prepared
from gateway.store.schema import api_keys, attempts, breakers, documents, jobs, tenants

Execute = Callable[[AsyncConnection, Prepared, Mapping[str, Any]], Awaitable[Any]]
T0 = 1_700_000_000.25  # fractional: a float that went through an integer would show


async def fast(conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any]) -> Any:
    return await prepared.execute(conn, params)


async def reference(conn: AsyncConnection, prepared: Prepared, params: Mapping[str, Any]) -> Any:
    return await conn.execute(prepared.statement, params)


async def sqlite_engine(path: Path) -> AsyncEngine:
    engine = make_engine(f"sqlite:///{path}")
    await upgrade(engine)
    return engine


@pytest.fixture
async def two_sqlite(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two fresh SQLite databases: one written by the fast path, one by SQLAlchemy."""
    first, second = await sqlite_engine(tmp_path / "fast.db"), await sqlite_engine(tmp_path / "reference.db")
    yield first, second
    await dispose(first)
    await dispose(second)


def typed(row: Any) -> tuple[tuple[str, ...], list[tuple[type, Any]]]:
    """A row's column names and each value with its type."""
    return tuple(row._fields), [(type(v), v) for v in row]


def new_document(doc_id: str, **values: Any) -> dict[str, Any]:
    """Only the required columns: version, chain_index, warnings, links and needs_attention are left
    to the columns' defaults."""
    return {
        "id": doc_id,
        "tenant_id": "t1",
        "status": "queued",
        "country": "CO",
        "kind": "invoice",
        "chain": '["primary"]',
        "document": b'{"n": 1}',
        "totals": b"\x00\xff",
        "deadline": T0 + 60,
        "created_at": T0,
        "updated_at": T0,
        **values,
    }


async def document_path(engine: AsyncEngine, execute: Execute) -> list[tuple[str, Any]]:
    """The document path's statements with fixed parameters; what each one returned."""
    trace: list[tuple[str, Any]] = []

    async def rows(name: str, prepared: Prepared, params: Mapping[str, Any]) -> None:
        trace.append((name, [typed(r) for r in (await execute(conn, prepared, params)).all()]))

    async def count(name: str, prepared: Prepared, params: Mapping[str, Any]) -> None:
        trace.append((name, (await execute(conn, prepared, params)).rowcount))

    async def key(name: str, prepared: Prepared, params: Mapping[str, Any]) -> None:
        trace.append((name, tuple((await execute(conn, prepared, params)).inserted_primary_key)))

    async with engine.begin() as conn:
        # fixtures the path reads: written by plain SQLAlchemy on both sides
        await conn.execute(sa.insert(tenants).values(id="t1", name="T1", updated_at=T0, revision=3))
        await conn.execute(
            sa.insert(api_keys).values(
                [
                    {"key_hash": "live", "tenant_id": "t1", "expires_at": None, "revoked_at": None},
                    {"key_hash": "revoked", "tenant_id": "t1", "expires_at": T0 + 5, "revoked_at": T0},
                ]
            )
        )
        await conn.execute(
            sa.insert(breakers).values(
                tenant_id="t1",
                account="primary",
                state="open",
                failures=3,
                opened_until=T0 + 30,
                updated_at=T0,
            )
        )

        await rows("insert defaults", docs._INSERT, new_document("d1"))
        await rows(
            "insert full",
            docs._INSERT,
            new_document(
                "d2",
                version=7,
                chain_index=1,
                warnings='["w"]',
                links='{"a": 1}',
                needs_attention=True,
                xml=b"<x/>",
                consecutive=990000001,
                number="SETP990000001",
                unknown_since=T0 + 0.5,
            ),
        )
        await rows("by id of tenant", docs._BY_ID_OF_TENANT, {"w_id": "d1", "w_tenant": "t1"})
        await rows("by id of another tenant", docs._BY_ID_OF_TENANT, {"w_id": "d1", "w_tenant": "t2"})
        transition = {"w_id": "d1", "w_version": 1, "status": "unknown", "version": 2, "updated_at": T0 + 1}
        await rows(
            "transition", docs._TRANSITION, {**transition, "needs_attention": True, "unknown_since": T0}
        )
        await rows("transition, stale version", docs._TRANSITION, transition)
        await count("transition count, stale", docs._TRANSITION, transition)
        await count("update xml", docs._UPDATE, {"w_id": "d1", "xml": b"<a>\x00</a>"})
        await count("update, no such document", docs._UPDATE, {"w_id": "nope", "xml": b"<a/>"})
        await count(
            "update to NULL and False", docs._UPDATE, {"w_id": "d2", "xml": None, "needs_attention": False}
        )
        await rows("d1 after updates", docs._BY_ID, {"w_id": "d1"})
        await rows("d2 after updates", docs._BY_ID, {"w_id": "d2"})

        attempt = {"document_id": "d1", "account": "primary", "provider": "p", "at": T0}
        await key("attempt in flight", docs._ATTEMPT_INSERT, {**attempt, "outcome": "in_flight"})
        await key(
            "attempt recorded",
            docs._ATTEMPT_INSERT,
            {**attempt, "outcome": "unavailable", "error": "503", "latency_ms": 12},
        )
        await count(
            "attempt update", docs._ATTEMPT_UPDATE, {"w_id": 1, "outcome": "accepted", "latency_ms": 40}
        )
        await count("attempt update, no such", docs._ATTEMPT_UPDATE, {"w_id": 99, "outcome": "accepted"})
        await rows("attempts of", docs._ATTEMPTS_OF, {"w_doc": "d1"})
        await rows("attempts of none", docs._ATTEMPTS_OF, {"w_doc": "d2"})

        job = {"kind": "document", "subject": "d1", "tenant_id": "t1", "run_at": T0, "locked_by": "w1"}
        await key("job insert defaults", jobs_store._INSERT, job)
        await key(
            "job insert full",
            jobs_store._INSERT,
            {**job, "subject": "d2", "locked_by": None, "locked_until": None, "tries": 2, "done": True},
        )
        await count(
            "owned, wrong worker", jobs_store._OWNED, {"w_id": 1, "w_worker": "w2", "locked_until": T0}
        )
        await count("owned, renew", jobs_store._OWNED, {"w_id": 1, "w_worker": "w1", "locked_until": T0 + 9})
        await count(
            "owned, release",
            jobs_store._OWNED,
            {
                "w_id": 1,
                "w_worker": "w1",
                "locked_by": None,
                "locked_until": None,
                "last_error": None,
                "done": True,
            },
        )
        await count(
            "owned, released already", jobs_store._OWNED, {"w_id": 1, "w_worker": "w1", "done": False}
        )

        await rows("breaker open", breakers_store._STATE, {"w_tenant": "t1", "w_account": "primary"})
        await rows("breaker unknown", breakers_store._STATE, {"w_tenant": "t1", "w_account": "other"})
        await count("reset", breakers_store._RESET, {"w_tenant": "t1", "w_account": "primary", "updated_at": T0 + 2})
        await count(
            "reset, nothing to reset",
            breakers_store._RESET,
            {"w_tenant": "t1", "w_account": "primary", "updated_at": T0 + 3},
        )
        await count(
            "reset, no row", breakers_store._RESET, {"w_tenant": "t1", "w_account": "other", "updated_at": T0}
        )
        await rows("breaker closed", breakers_store._STATE, {"w_tenant": "t1", "w_account": "primary"})

        await rows("key live", keys_store._KEY, {"w_digest": "live"})
        await rows("key revoked", keys_store._KEY, {"w_digest": "revoked"})
        await rows("key unknown", keys_store._KEY, {"w_digest": "nope"})

    async with reader(engine).connect() as conn:  # what was stored, read back by SQLAlchemy
        for table in (documents, attempts, jobs, breakers):
            query = sa.select(table).order_by(*table.primary_key.columns)
            trace.append((f"stored {table.name}", [typed(r) for r in (await conn.execute(query)).all()]))
    return trace


def by_name(trace: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(trace)
    assert len(found) == len(trace)  # every step is told apart
    return found


async def test_the_fast_path_returns_and_stores_what_sqlalchemy_does(two_sqlite):
    first, second = two_sqlite
    got, expected = await document_path(first, fast), await document_path(second, reference)
    assert [name for name, _ in got] == [name for name, _ in expected]
    for (name, value), (_, reference_value) in zip(got, expected, strict=True):
        assert value == reference_value, name

    # and what SQLAlchemy returns is what the schema says (so the comparison above compares something)
    steps = by_name(got)
    fields, d2 = steps["insert full"][0]
    values = dict(zip(fields, d2, strict=True))
    assert values["needs_attention"] == (bool, True)
    assert values["unknown_since"] == (float, T0 + 0.5)
    assert values["xml"] == (bytes, b"<x/>")
    assert values["totals"] == (bytes, b"\x00\xff")
    assert values["voided_by"] == (type(None), None)
    assert values["consecutive"] == (int, 990000001)
    assert steps["by id of another tenant"] == []
    assert steps["transition, stale version"] == [] and steps["transition count, stale"] == 0
    assert steps["update xml"] == 1 and steps["update, no such document"] == 0
    assert steps["attempt in flight"] == (1,) and steps["attempt recorded"] == (2,)
    assert steps["attempt update"] == 1 and steps["attempt update, no such"] == 0
    assert steps["job insert defaults"] == (1,) and steps["job insert full"] == (2,)
    assert steps["owned, wrong worker"] == 0 and steps["owned, renew"] == 1 and steps["owned, release"] == 1
    assert steps["owned, released already"] == 0  # locked_by is NULL now: not ours any more
    assert steps["reset"] == 1 and steps["reset, nothing to reset"] == 0 and steps["reset, no row"] == 0
    breaker_columns = ("state", "opened_until", "updated_at")
    assert steps["breaker open"] == [(breaker_columns, [(str, "open"), (float, T0 + 30), (float, T0)])]
    assert steps["breaker closed"] == [
        (breaker_columns, [(str, "closed"), (type(None), None), (float, T0 + 2)])
    ]
    assert steps["key revoked"] == [
        (
            ("tenant_id", "expires_at", "revoked_at", "revision"),
            [(str, "t1"), (float, T0 + 5), (float, T0), (int, 3)],
        )
    ]
    stored_jobs = [dict(zip(f, v, strict=True)) for f, v in steps["stored jobs"]]
    assert [(j["done"], j["tries"], j["locked_by"]) for j in stored_jobs] == [
        ((bool, True), (int, 0), (type(None), None)),
        ((bool, True), (int, 2), (type(None), None)),
    ]

    # what is on disk too, undecoded (Boolean as 0/1, LargeBinary as a blob, times as REAL)
    for table in ("documents", "attempts", "jobs", "breakers"):
        raw = []
        for engine in (first, second):
            async with reader(engine).connect() as conn:
                result = await conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY rowid")
                raw.append([[(type(v), v) for v in row] for row in result.all()])
        assert raw[0] == raw[1], table
        assert raw[0], table


async def test_an_insert_gets_the_columns_python_defaults(two_sqlite):
    first, second = two_sqlite
    stored = []
    for engine, execute in ((first, fast), (second, reference)):
        async with engine.begin() as conn:
            returned = (await execute(conn, docs._INSERT, new_document("d1"))).one()
            job_id = (
                await execute(
                    conn,
                    jobs_store._INSERT,
                    {"kind": "document", "subject": "d1", "tenant_id": "t1", "run_at": T0},
                )
            ).inserted_primary_key[0]
            job = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).one()
        async with reader(engine).connect() as conn:
            read = (await conn.execute(sa.select(documents))).one()
        assert typed(returned) == typed(read)
        defaults = {k: (type(v), v) for k, v in read._mapping.items() if documents.c[k].default is not None}
        assert defaults == {
            "version": (int, 1),
            "chain_index": (int, 0),
            "warnings": (str, "[]"),
            "links": (str, "{}"),
            "needs_attention": (bool, False),
        }
        assert (type(job.tries), job.tries, type(job.done), job.done) == (int, 0, bool, False)
        assert job.locked_by is None and job.last_error is None
        stored.append((typed(read), typed(job)))
    assert stored[0] == stored[1]


async def test_each_new_set_of_parameters_compiles_its_own_statement(two_sqlite):
    engine, _ = two_sqlite
    update = Prepared(docs._UPDATE.statement)  # a cache of its own, empty
    async with engine.begin() as conn:
        await docs._INSERT.execute(conn, new_document("d1"))
        assert (await update.execute(conn, {"w_id": "d1", "xml": b"<a/>"})).rowcount == 1
        changed = await update.execute(conn, {"w_id": "d1", "provider": "p", "needs_attention": True})
        assert changed.rowcount == 1
        await update.execute(conn, {"w_id": "d1", "xml": b"<b/>"})  # the first set again, from the cache
        row = (await docs._BY_ID.execute(conn, {"w_id": "d1"})).one()
    # each statement set exactly its own columns: none wrote another set's columns (as NULL or stale)
    assert (row.xml, row.provider, row.needs_attention) == (b"<b/>", "p", True)


async def test_a_missing_parameter_raises_instead_of_writing_null(two_sqlite):
    engine, _ = two_sqlite
    async with engine.begin() as conn:
        await docs._INSERT.execute(conn, new_document("d1"))
        before = typed((await docs._BY_ID.execute(conn, {"w_id": "d1"})).one())
        for prepared, params in (
            (docs._UPDATE, {"xml": b"<a/>"}),  # no w_id
            # no w_version
            (docs._TRANSITION, {"w_id": "d1", "status": "pending", "version": 2, "updated_at": T0}),
            (jobs_store._OWNED, {"w_id": 1, "done": True}),  # no w_worker
            (breakers_store._STATE, {"w_tenant": "t1"}),
        ):
            with pytest.raises(sa.exc.ArgumentError, match="w_"):
                await prepared.execute(conn, params)
            with pytest.raises(sa.exc.StatementError, match="w_"):  # as SQLAlchemy refuses it
                await conn.execute(prepared.statement, params)
        # a NOT NULL column without a default, left out of an INSERT: the database refuses it
        without_tenant = {k: v for k, v in new_document("d2").items() if k != "tenant_id"}
        with pytest.raises(sa.exc.IntegrityError, match="NOT NULL"):
            await docs._INSERT.execute(conn, without_tenant)
        assert typed((await docs._BY_ID.execute(conn, {"w_id": "d1"})).one()) == before
        assert (await docs._BY_ID.execute(conn, {"w_id": "d2"})).first() is None


async def test_database_errors_are_raised_as_sqlalchemys(two_sqlite):
    """Callers catch `sa.exc.IntegrityError` (as `conn.execute` raises it), not `sqlite3`'s own."""
    engine, _ = two_sqlite
    async with engine.begin() as conn:
        await docs._INSERT.execute(conn, new_document("d1"))
        for execute in (fast, reference):
            with pytest.raises(sa.exc.IntegrityError, match="UNIQUE") as raised:
                async with conn.begin_nested():
                    await execute(conn, docs._INSERT, new_document("d1", status="pending"))
            assert "UNIQUE" in str(raised.value.orig)
        await docs._UPDATE.execute(conn, {"w_id": "d1", "provider": "p"})  # the transaction goes on
    async with reader(engine).connect() as conn:
        row = (await docs._BY_ID.execute(conn, {"w_id": "d1"})).one()
    assert (row.status, row.provider) == ("queued", "p")


class Rollback(Exception):
    pass


async def read_ids(engine: AsyncEngine) -> list[str]:
    async with reader(engine).connect() as conn:
        return list((await conn.execute(sa.select(documents.c.id).order_by(documents.c.id))).scalars())


async def test_statements_run_in_the_callers_transaction(two_sqlite):
    engine, _ = two_sqlite
    with pytest.raises(Rollback):
        async with engine.begin() as conn:
            await docs._INSERT.execute(conn, new_document("rolled_back"))
            # the same transaction: SQLAlchemy on this connection sees it, a reader does not yet
            seen = await conn.execute(sa.select(documents.c.id))
            assert seen.scalars().all() == ["rolled_back"]
            assert await read_ids(engine) == []
            raise Rollback
    assert await read_ids(engine) == []

    async with engine.begin() as conn:
        await docs._INSERT.execute(conn, new_document("committed"))
        await docs._UPDATE.execute(conn, {"w_id": "committed", "provider": "p"})
        await jobs_store._INSERT.execute(
            conn, {"kind": "document", "subject": "committed", "tenant_id": "t1", "run_at": T0}
        )
    assert await read_ids(engine) == ["committed"]
    async with reader(engine).connect() as conn:
        assert (await docs._BY_ID.execute(conn, {"w_id": "committed"})).one().provider == "p"
        assert (await conn.execute(sa.select(sa.func.count()).select_from(jobs))).scalar() == 1


async def test_a_write_on_a_connection_without_a_transaction_begins_one(two_sqlite):
    """As `conn.execute` autobegins: the write is not committed behind SQLAlchemy's back."""
    engine, _ = two_sqlite
    async with engine.connect() as conn:
        await docs._INSERT.execute(conn, new_document("d1"))
        assert conn.in_transaction()
        await conn.rollback()
    assert await read_ids(engine) == []
    async with engine.connect() as conn:
        await docs._INSERT.execute(conn, new_document("d2"))
        await conn.commit()
    assert await read_ids(engine) == ["d2"]


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
async def test_postgresql_returns_what_sqlite_does(engine, tmp_path):
    """The `engine` fixture is PostgreSQL here (skips without PASARELA_TEST_PG_URL)."""
    assert engine.dialect.name == "postgresql"
    sqlite = await sqlite_engine(tmp_path / "sqlite.db")
    try:
        on_sqlite = await document_path(sqlite, fast)
    finally:
        await dispose(sqlite)
    on_postgresql = await document_path(engine, fast)
    for (name, value), (_, sqlite_value) in zip(on_postgresql, on_sqlite, strict=True):
        assert value == sqlite_value, name
