"""The store boundary: only gateway/store/ speaks SQL (issue 16). A module elsewhere that imports
SQLAlchemy or the table objects puts SQL back outside the store."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
STORE = GATEWAY / "store"
FORBIDDEN = ("sqlalchemy", "gateway.store.schema")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _offending(path: Path) -> list[str]:
    return sorted(
        name for name in _imports(path) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    )


def test_no_module_outside_the_store_imports_sqlalchemy_or_the_tables() -> None:
    offenders = {
        str(path.relative_to(GATEWAY.parent)): names
        for path in sorted(GATEWAY.rglob("*.py"))
        if STORE not in path.parents and (names := _offending(path))
    }
    assert offenders == {}


def test_the_check_sees_an_offender(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import sqlalchemy as sa\nfrom gateway.store.schema import documents\n")
    assert _offending(module) == ["gateway.store.schema", "gateway.store.schema.documents", "sqlalchemy"]
