"""Root test configuration: options shared by every suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden payload files under tests/contract/golden/ instead of comparing",
    )


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def example_bytes() -> dict[str, bytes]:
    """The public examples, by stem: co-invoice, co-credit-note, sv-invoice."""
    return {p.stem: p.read_bytes() for p in EXAMPLES.glob("*.json")}
