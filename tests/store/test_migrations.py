"""alembic migrations (gateway.store.migrations), on SQLite and PostgreSQL:
- the revisions and the models never drift apart (autogenerate finds nothing to do);
- a store made by the hand-rolled steps this replaced upgrades in place and keeps its rows, from
  its first step (a frozen copy of that DDL) and from each later one;
- a start creates an empty store and refuses an outdated one with one line, `db upgrade` fixes it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from gateway.store import migrations
from gateway.store.engine import dispose, make_engine
from gateway.store.migrations import SchemaOutdated, current, ensure_current, head, upgrade
from gateway.store.schema import metadata

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))  # the unit tests' harness
import legacy_schema_v1  # tests/store: pytest puts the test's folder on the path
from gateway_harness import tenants_toml

BASELINE = "5f1e0c7a9b21"
# What the hand-rolled steps 2..6 added to tables an older step had made (their frozen lists).
LEGACY_COLUMNS: dict[int, dict[str, tuple[str, ...]]] = {
    2: {
        "tenants": ("issuer", "dispatch", "source", "revision"),
        "api_keys": ("key_id", "label", "prefix", "created_at", "expires_at", "revoked_at"),
        "accounts": ("source", "timeout_s", "transmitter_code"),
        "documents": ("voided_by", "voids", "voided_at"),
    },
    3: {"webhook_endpoints": ("previous_secret", "previous_until")},
    4: {"idempotency": ("owner",)},
    5: {"accounts": ("own_range",)},
    6: {"documents": ("delivery",)},
}


def _drift(sync: sa.Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(sync), metadata)


def _shape(sync: sa.Connection) -> dict[str, set[str]]:
    inspector = sa.inspect(sync)
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}


async def test_the_revisions_create_exactly_the_models(store):
    url, connect_args = store
    engine = make_engine(url, connect_args=connect_args)
    try:
        assert await current(engine) is None
        assert await upgrade(engine) == head()
        async with engine.connect() as conn:
            assert await conn.run_sync(_drift) == []
        assert await current(engine) == head()
    finally:
        await dispose(engine)


def test_the_drift_check_sees_a_model_change():
    """The check above can fail: a column the revisions lack is reported."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as sync:
        command.upgrade(migrations.config(sync), "head")
        sync.execute(sa.text("ALTER TABLE jobs DROP COLUMN last_error"))
        diff = _drift(sync)
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "last_error")]


async def _legacy_store(engine: Any, step: int) -> None:
    """A store as the hand-rolled code left it at `step`: the baseline's tables less what the
    steps after it added, and its `schema_version` rows."""

    def build(sync: sa.Connection) -> None:
        command.upgrade(migrations.config(sync), BASELINE)
        sync.execute(sa.text("DROP TABLE alembic_version"))
        for later in range(step + 1, 7):
            for table, columns in LEGACY_COLUMNS[later].items():
                for column in columns:
                    _drop_column(sync, table, column)
        if step < 5:
            sync.execute(sa.text("DROP INDEX ix_documents_range_consecutive"))
        if step < 4:
            sync.execute(sa.text("DROP TABLE auth_failures"))
            sync.execute(sa.text("DROP TABLE numbering_slots"))
        legacy_schema_v1.schema_version.create(sync)
        for version in range(1, step + 1):
            sync.execute(sa.text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})

    async with engine.begin() as conn:
        await conn.run_sync(build)


def _drop_column(sync: sa.Connection, table: str, column: str) -> None:
    from alembic.operations import Operations

    with Operations.context(MigrationContext.configure(sync)) as op, op.batch_alter_table(table) as batch:
        batch.drop_column(column)


async def _rows_survive(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO tenants (id, name, updated_at) VALUES ('old', 'Old', 0)"))
    assert await upgrade(engine) == head()
    async with engine.connect() as conn:
        assert await conn.run_sync(_drift) == []
        old = (
            await conn.execute(sa.text("SELECT name, source, revision FROM tenants WHERE id = 'old'"))
        ).one()
        tables = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    assert tuple(old) == ("Old", "file", 0)
    assert "schema_version" not in tables
    assert await current(engine) == head()
    assert await upgrade(engine) == head()  # idempotent


@pytest.mark.parametrize("step", [2, 3, 4, 5, 6])
async def test_a_store_at_each_hand_rolled_step_upgrades_in_place(store, step):
    url, connect_args = store
    engine = make_engine(url, connect_args=connect_args)
    try:
        await _legacy_store(engine, step)
        assert await current(engine) == f"legacy step {step}"
        with pytest.raises(SchemaOutdated):
            await ensure_current(engine)
        await _rows_survive(engine)
    finally:
        await dispose(engine)


async def test_a_store_made_by_the_first_hand_rolled_step_upgrades_in_place(store):
    """From the frozen DDL of the first step (tests/store/legacy_schema_v1.py), with a document."""
    url, connect_args = store
    engine = make_engine(url, connect_args=connect_args)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(legacy_schema_v1.metadata.create_all)
            await conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (1)"))
            await conn.execute(
                legacy_schema_v1.documents.insert().values(
                    id="d1",
                    tenant_id="t",
                    status="issued",
                    version=1,
                    country="CO",
                    kind="invoice",
                    chain="[]",
                    chain_index=0,
                    document=b"{}",
                    totals=b"{}",
                    warnings="[]",
                    links="{}",
                    needs_attention=False,
                    deadline=0,
                    created_at=0,
                    updated_at=0,
                )
            )
        await _rows_survive(engine)
        async with engine.connect() as conn:
            doc = (
                await conn.execute(sa.text("SELECT status, delivery FROM documents WHERE id = 'd1'"))
            ).one()
        assert tuple(doc) == ("issued", None)
    finally:
        await dispose(engine)


async def test_a_start_creates_an_empty_store_and_refuses_an_outdated_one(store):
    url, connect_args = store
    engine = make_engine(url, connect_args=connect_args)
    try:
        await ensure_current(engine)  # empty: created
        assert await current(engine) == head()
        await ensure_current(engine)  # at head: accepted
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
        with pytest.raises(SchemaOutdated) as refused:
            await ensure_current(engine)
        assert str(refused.value) == (
            f"the store's schema is at older, this version needs {head()}: run `pasarela db upgrade`"
        )
    finally:
        await dispose(engine)


def test_serve_refuses_an_outdated_store_and_db_upgrade_fixes_it(tmp_path, capsys, monkeypatch):
    """`pasarela serve` exits 2 with one line before listening; `db current` exits 1 until
    `db upgrade` ran; `db` takes the store from the tenants file like `serve`, or from --db."""
    from gateway.cli import main as cli

    monkeypatch.setattr("gateway.observability.logs.configure", lambda *args, **kwargs: None)  # keep pytest's logging
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    config_file = tmp_path / "tenants.toml"
    config_file.write_text(f'[server]\ndatabase = "{url}"\n' + tenants_toml([("ours", "fakeours")]))

    async def legacy() -> None:
        engine = make_engine(url)
        try:
            await _legacy_store(engine, 6)
        finally:
            await dispose(engine)

    asyncio.run(legacy())
    assert cli.main(["serve", "--config", str(config_file), "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"pasarela serve: the store's schema is at legacy step 6, this version needs {head()}: "
        "run `pasarela db upgrade`"
    )
    assert cli.main(["db", "current", "--db", url]) == 1
    assert json.loads(capsys.readouterr().out) == {"current": "legacy step 6", "head": head()}
    assert cli.main(["db", "upgrade", "--config", str(config_file)]) == 0
    assert json.loads(capsys.readouterr().out) == {"current": head(), "head": head()}
    assert cli.main(["db", "current", "--db", url]) == 0
