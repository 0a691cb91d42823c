"""architecture.md, checked: no import cycle inside `gateway`, and the layers' allowed imports
(the import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import os
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_no_import_cycle_in_gateway() -> None:
    """Every import counts, a function's lazy one included: a cycle hidden by a lazy import is a cycle."""
    graph = grimp.build_graph("gateway", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == []


def test_the_graph_sees_lazy_imports() -> None:
    """The check above is only as good as the graph: a function-level import must be in it."""
    graph = grimp.build_graph("gateway", cache_dir=None)
    assert graph.direct_import_exists(importer="gateway.cli.main", imported="gateway.app")  # inside `serve`


def test_layers_hold(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0, (
        capsys.readouterr().out
    )


def test_architecture_md_names_every_layer() -> None:
    """The drawing and the contracts say the same: each layer of the contracts appears in architecture.md."""
    text = (ROOT / "architecture.md").read_text()
    packages = sorted(
        p.name for p in (ROOT / "gateway").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    ) + [p.stem for p in (ROOT / "gateway").glob("*.py") if p.stem not in {"__init__"}]
    missing = [name for name in packages if f"gateway.{name}" not in text and f"gateway/{name}" not in text]
    assert missing == [], os.linesep.join(missing)
