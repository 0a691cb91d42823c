"""Migrations 2 (administration and lifecycle), 3 (webhook secret rotation), 4 (idempotency
record owners), 5 (a self-numbering account's declared range) and 6 (the buyer's copy's delivery
state) bring older databases up to date: the new tables and the new columns of existing tables,
with their defaults for rows written before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.store.engine import (
    _V2_COLUMNS,
    _V3_COLUMNS,
    _V4_COLUMNS,
    _V5_COLUMNS,
    _V6_COLUMNS,
    MIGRATIONS,
    make_engine,
    migrate,
)
from gateway.store.schema import metadata

NEW_TABLES = ("admin_keys", "numbering_ranges", "webhook_endpoints", "alerts")
LATEST = MIGRATIONS[-1][0]


async def test_a_version_1_database_gains_the_new_tables_and_columns(store):
    url, connect_args = store
    engine = make_engine(url, connect_args=connect_args)
    try:
        assert await migrate(engine) == LATEST
        async with engine.begin() as conn:  # back to version 1's shape, with a row from then
            for table in NEW_TABLES:
                await conn.execute(sa.text(f"DROP TABLE {table}"))
            for table, columns in _V2_COLUMNS.items():
                for column in columns:
                    await conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            await conn.execute(sa.text("DELETE FROM schema_version WHERE version >= 2"))
            await conn.execute(sa.text("INSERT INTO tenants (id, name, updated_at) VALUES ('old', 'Old', 0)"))
        assert await migrate(engine) == LATEST
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            columns = {
                table: await conn.run_sync(
                    lambda sync, t=table: {c["name"] for c in sa.inspect(sync).get_columns(t)}
                )
                for table in _V2_COLUMNS
            }
            old = (await conn.execute(sa.text("SELECT source, revision FROM tenants WHERE id = 'old'"))).one()
        assert set(NEW_TABLES) <= tables
        for table, names in _V2_COLUMNS.items():
            assert set(names) <= columns[table] == {c.name for c in metadata.tables[table].c}
        assert (old.source, old.revision) == ("file", 0)
        assert await migrate(engine) == LATEST  # idempotent
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("version", "step"), [(3, _V3_COLUMNS), (4, _V4_COLUMNS), (5, _V5_COLUMNS), (6, _V6_COLUMNS)]
)
async def test_a_database_of_the_version_before_gains_that_steps_columns(store, version, step):
    url, connect_args = store
    engine = make_engine(url, connect_args=connect_args)
    try:
        assert await migrate(engine) == LATEST
        async with engine.begin() as conn:
            for table, columns in step.items():
                for column in columns:
                    await conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            if version == 5:
                await conn.execute(sa.text("DROP INDEX ix_documents_range_consecutive"))
            await conn.execute(sa.text(f"DELETE FROM schema_version WHERE version >= {version}"))
        assert await migrate(engine) == LATEST
        async with engine.connect() as conn:
            for table, names in step.items():
                present = await conn.run_sync(
                    lambda sync, t=table: {c["name"] for c in sa.inspect(sync).get_columns(t)}
                )
                assert set(names) <= present
            indexes = await conn.run_sync(
                lambda sync: {i["name"] for i in sa.inspect(sync).get_indexes("documents")}
            )
        assert "ix_documents_range_consecutive" in indexes
    finally:
        await engine.dispose()
