"""Every amount leaves the gateway as a plain decimal string: no exponent ("0E-8", "1E+3"), no float.

msgspec writes a Decimal as `str()` does, so the property is checked on the encoded JSON of what the
canonical engine returns for arbitrary CO and SV documents (issue 17: SV lines showed "0E-8")."""

from __future__ import annotations

import json
import re
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from canonical.errors import InvalidDocument
from canonical.totals import MICRO, plain
from canonical.validation import prepare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLAIN = re.compile(r"-?\d+(\.\d+)?")


def decimals(low: str, high: str, max_places: int = 8) -> st.SearchStrategy[str]:
    """Decimal strings as ERPs send them, with 0 to `max_places` places, and now and then written
    with an exponent (JSON allows it; the engine must not pass the form on)."""
    value = st.integers(0, max_places).flatmap(
        lambda places: st.decimals(min_value=D(low), max_value=D(high), places=places)
    )
    return st.one_of(value.map(str), value.map(lambda d: f"{d:E}"))


@st.composite
def line(draw, country: str) -> dict[str, Any]:
    rates = {"CO": ["0", "5", "19"], "SV": ["13"]}[country]
    drawn: dict[str, Any] = {
        "description": "item",
        "quantity": draw(decimals("0.00000001", "1000")),
        "unit_price": draw(decimals("0", "100000")),
        "tax_treatment": draw(st.sampled_from(["taxed", "taxed", "exempt"])),
    }
    if drawn["tax_treatment"] == "taxed":
        drawn["taxes"] = [{"tax": "IVA", "rate": draw(st.sampled_from(rates))}]
    discount = draw(st.none() | st.sampled_from(["percent", "all"]))
    if discount == "percent":
        drawn["discount"] = {"percent": draw(decimals("0", "100", 2))}
    elif discount == "all":  # a free line: every figure is zero
        drawn["discount"] = {"percent": "100"}
    return drawn


@st.composite
def document(draw) -> dict[str, Any]:
    country = draw(st.sampled_from(["CO", "SV"]))
    base = json.loads((EXAMPLES / ("co-invoice.json" if country == "CO" else "sv-invoice.json")).read_text())
    base.pop("issue_date", None)
    base["lines"] = draw(st.lists(line(country), min_size=1, max_size=5))
    base["prices_include_tax"] = country == "SV" and draw(st.booleans())
    base["discounts"] = [{"reason": "promo", "percent": draw(decimals("0", "5", 2))}]
    if country == "SV":
        base["customer"] = None
        base["kind"] = "invoice"
    return base


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=document())
def test_every_figure_of_the_engine_is_a_plain_decimal_string(body):
    try:
        _, totals = prepare(json.dumps(body))
    except InvalidDocument as exc:
        # refusals are fine (amounts beyond the limits, SV receptor rules); none of them is a 500
        assert all(e.rule for e in exc.errors)
        event(f"refused: {sorted({e.rule for e in exc.errors})}")
        return
    event(f"accepted {body['country']}")
    encoded = json.loads(msgspec.json.encode(totals))
    figures = [leaf for leaf in leaves(encoded) if not isinstance(leaf, str) or leaf[:1].isdigit()]
    assert figures, encoded
    for figure in figures:
        assert isinstance(figure, str), f"not a string: {figure!r}"  # never a float, never a number
        assert PLAIN.fullmatch(figure), f"not a plain decimal: {figure!r}"


def test_an_sv_line_without_discount_shows_a_plain_zero():
    """The report of issue 17: SV line totals showed "discount": "0E-8"."""
    _, totals = prepare((EXAMPLES / "sv-invoice.json").read_bytes())
    shown = json.loads(msgspec.json.encode(totals))
    assert [line["discount"] for line in shown["lines"]] == ["0.00", "0.00", "0.00"]
    assert "E" not in msgspec.json.encode(totals).decode()


def test_a_line_figure_below_a_millionth_is_refused_not_written_with_an_exponent():
    body = json.loads((EXAMPLES / "sv-invoice.json").read_text())
    body["lines"] = [
        {"description": "x", "quantity": "0.001", "unit_price": "0.0001", "tax_treatment": "exempt"}
    ]
    try:
        prepare(json.dumps(body))
    except InvalidDocument as exc:
        assert [(e.path, e.rule) for e in exc.errors] == [("lines[0]", "amount-too-small")]
    else:
        raise AssertionError("a line of 0.0000001 was accepted")


def test_plain_keeps_the_amount_and_drops_the_exponent():
    for written, shown in [("0E-8", "0.00"), ("1E+3", "1000"), ("1.50E+2", "150"), ("12.50", "12.50")]:
        assert str(plain(D(written))) == shown and plain(D(written)) == D(written)
    assert plain(MICRO / 2) == MICRO / 2  # no plain form exists: validation refuses it
