"""Root test configuration: options shared by every suite."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from canonical import clock

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


CREDIT_TERM = dt.timedelta(days=30)
_DUE_DATE = re.compile(rb'("due_date"\s*:\s*")\d{4}-\d{2}-\d{2}(")')
_ZONES = {b'"CO"': ZoneInfo("America/Bogota"), b'"SV"': ZoneInfo("America/El_Salvador")}


def sent_today(example: bytes) -> bytes:
    """An example as an ERP sends it today: a credit sale falls due CREDIT_TERM from today. The
    example's fixed due date keeps it valid for years, but not for every provider (APIDIAN's term
    has three digits) nor forever, and no test may depend on the day it runs. Only the date's
    characters change, so exact decimals and layout stay as written."""
    zone = next(z for country, z in _ZONES.items() if b'"country": ' + country in example)
    due = (clock.today(zone) + CREDIT_TERM).isoformat().encode()
    return _DUE_DATE.sub(lambda m: m.group(1) + due + m.group(2), example)


@pytest.fixture(scope="session")
def example_bytes() -> dict[str, bytes]:
    """The public examples as sent today (`sent_today`), by stem: co-invoice, co-credit-note, sv-invoice."""
    return {p.stem: sent_today(p.read_bytes()) for p in EXAMPLES.glob("*.json")}
