"""Stores made by the hand-rolled migrations (a `schema_version` table, steps 1..6) join alembic.

Those steps only ever added tables, nullable or defaulted columns and one index, so any of them is
brought to the baseline by the baseline revision itself, run with operations that create what is
missing and keep what exists. The store is then stamped with the baseline and `schema_version`
dropped; its rows are untouched.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations, ops

BASELINE_MODULE: Final = "gateway.store.migrations.versions.5f1e0c7a9b21_baseline"
LEGACY_TABLE: Final = "schema_version"


def step(sync: sa.Connection) -> int | None:
    """The hand-rolled step a store is at, or None when it has none (new, or alembic's)."""
    if not sa.inspect(sync).has_table(LEGACY_TABLE):
        return None
    return sync.execute(sa.text(f"SELECT max(version) FROM {LEGACY_TABLE}")).scalar() or 0


def _filling(operations: Operations) -> Any:
    """`operations.invoke`, skipping what a legacy store already has."""
    invoke = operations.invoke

    def fill(operation: Any) -> Any:
        inspector = sa.inspect(operations.get_bind())
        if isinstance(operation, ops.CreateTableOp) and inspector.has_table(operation.table_name):
            present = {c["name"] for c in inspector.get_columns(operation.table_name)}
            for column in operation.columns:
                if isinstance(column, sa.Column) and column.name not in present:
                    invoke(ops.AddColumnOp(operation.table_name, column))
            return None
        if isinstance(operation, ops.CreateIndexOp):
            if operation.index_name in {i["name"] for i in inspector.get_indexes(operation.table_name)}:
                return None
        return invoke(operation)

    return fill


def adopt(sync: sa.Connection) -> str:
    """Bring a legacy store to the baseline (inside the caller's transaction); the caller stamps the
    revision returned."""
    baseline = importlib.import_module(BASELINE_MODULE)
    with Operations.context(MigrationContext.configure(sync)) as operations:
        operations.invoke = _filling(operations)  # type: ignore[method-assign]  # what `op.*` calls
        baseline.upgrade()
    sync.execute(sa.text(f"DROP TABLE {LEGACY_TABLE}"))
    return str(baseline.revision)
