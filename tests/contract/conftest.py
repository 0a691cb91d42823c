"""Shared helpers for the adapter contract tests: emissions from the repo examples, golden payload
files (`pytest --update-golden` rewrites them), and documented responses replayed through respx.

A test module names its provider's fake root in `BASE` and its simulator in `PROVIDER`: `api` is a
respx router on `BASE` (a module adds its standing routes by overriding `api` and requesting it), and
`simulator` (module scope) runs that simulator on a free loopback port for the tests against it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest
import respx

from adapters.base import Emission, Issuer
from canonical import clock
from canonical.validation import prepare
from contracts import example
from simulators.control import SimSettings
from simulators.runner import SimulatorThread

GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Goldens must not change with the clock: examples are emitted on this fixed date and time.
FIXED_DATE = dt.date(2026, 11, 24)
FIXED_TIME = dt.time(10, 30, 0)
CREDIT_TERM = dt.timedelta(days=30)

CO_ISSUER = Issuer(
    country="CO",
    party_type="company",
    id_type="NIT",
    id_number="900373115",
    check_digit="3",
    name="ACME Colombia SAS",
    tax_responsibilities=["O-13"],
)

# The live adapters time out after 0.5 s: a hang outlasts that, a slow answer does not.
LIVE_SETTINGS = SimSettings(slow_s=0.05, hang_s=1.0, retry_after_s=2)

_wire = msgspec.json.Encoder(decimal_format="number")


def emission_from_example(
    stem: str,
    *,
    edit: Callable[[dict[str, Any]], None] | None = None,
    issuer: Issuer = CO_ISSUER,
    fixed_date: bool = True,
) -> Emission:
    """An Emission from `examples/<stem>.json` (optionally edited as JSON first), dated FIXED_DATE
    (golden files) or, with fixed_date=False, now (simulators accept recent dates only)."""
    raw = json.loads((EXAMPLES / f"{stem}.json").read_bytes())
    if fixed_date:
        raw.setdefault("issue_date", FIXED_DATE.isoformat())
        raw.setdefault("issue_time", FIXED_TIME.isoformat())
    if raw.get("payment", {}).get("due_date"):
        # The example's far-off due date keeps it valid for years; here credit runs 30 days from
        # the issue date, as an ERP would send it (and within APIDIAN's 3-digit term).
        issued = dt.date.fromisoformat(
            raw.get("issue_date") or clock.today(ZoneInfo("America/Bogota")).isoformat()
        )
        raw["payment"]["due_date"] = (issued + CREDIT_TERM).isoformat()
    if edit is not None:
        edit(raw)
    document, totals = prepare(json.dumps(raw).encode())
    return Emission(document=document, totals=totals, issuer=issuer, reference=f"ref-{stem}")


def wire_form(payload: Any) -> Any:
    """A payload as the provider receives it: encoded, then parsed with exact decimals."""
    return json.loads(_wire.encode(payload), parse_float=Decimal)


def documented_response(provider: str, name: str) -> httpx.Response:
    """A documented response (`contracts/<provider>/examples/<name>.json`) as an httpx.Response."""
    sample = example(provider, name)
    return httpx.Response(
        sample["status"],
        headers={"content-type": "application/json", **sample["headers"]},
        content=_wire.encode(sample["body"]),
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """`golden("facepro/invoice", payload)`: compare with (or, under --update-golden, rewrite)
    tests/contract/golden/facepro/invoice.json."""
    update = request.config.getoption("--update-golden", default=False)

    def check(name: str, payload: Any) -> None:
        path = GOLDEN / f"{name}.json"
        text = msgspec.json.format(_wire.encode(payload), indent=2).decode() + "\n"
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not update:
                pytest.fail(f"golden file {path} was missing and has been written; review it and re-run")
        assert text == path.read_text(encoding="utf-8"), (
            f"payload differs from {path} (pytest --update-golden)"
        )

    return check


# The helpers as fixtures: test modules are not a package, so they receive them this way.


@pytest.fixture
def on_fixed_date() -> Iterator[None]:
    """The product's calendar at FIXED_DATE FIXED_TIME in Bogotá, for tests whose examples carry
    that date and whose adapter compares it with today (it ticks on from there)."""
    moment = dt.datetime.combine(FIXED_DATE, FIXED_TIME, tzinfo=ZoneInfo("America/Bogota"))
    with clock.set_to(moment):
        yield


@pytest.fixture(scope="session")
def make_emission() -> Callable[..., Emission]:
    return emission_from_example


@pytest.fixture(scope="session")
def wire_json() -> Callable[[Any], Any]:
    return wire_form


@pytest.fixture(scope="session")
def documented() -> Callable[[str, str], httpx.Response]:
    return documented_response


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Iterator[respx.MockRouter]:
    with respx.mock(using="httpx", base_url=request.module.BASE, assert_all_called=False) as mock:
        yield mock


@pytest.fixture(scope="module")
def simulator(request: pytest.FixtureRequest) -> Iterator[SimulatorThread]:
    with SimulatorThread([request.module.PROVIDER], settings=LIVE_SETTINGS) as sims:
        yield sims
