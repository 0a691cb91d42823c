"""Hostile input to the canonical decoder: anything maps to a document or to InvalidDocument with
paths and rule codes, never another exception (which the API would turn into a 500)."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canonical.errors import InvalidDocument
from canonical.validation import RULES, prepare

EXAMPLES = int(os.environ.get("PASARELA_FUZZ_EXAMPLES", "300"))

numeric_strings = st.from_regex(r"\A-?[0-9]{1,3}(\.[0-9]{1,12})?([eE][+-]?[0-9]{1,6})?\Z") | st.sampled_from(
    ["NaN", "-Infinity", "1e400", "1e-400", "0", "-0.00", "99999999999999999999"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | numeric_strings
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _accepts_or_explains(body: bytes) -> None:
    try:
        prepare(body)
    except InvalidDocument as exc:
        assert exc.errors, "an invalid document must say why"
        for e in exc.errors:
            assert e.rule in RULES, e
            assert isinstance(e.path, str) and e.message


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes(body):
    _accepts_or_explains(body)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_arbitrary_json(value):
    _accepts_or_explains(json.dumps(value).encode())


@st.composite
def mutated_example(draw, examples: dict[str, bytes]) -> bytes:
    """An example with one field, at any depth, replaced by an arbitrary JSON value or removed."""
    doc = json.loads(examples[draw(st.sampled_from(sorted(examples)))])
    paths: list[tuple] = []

    def walk(node, at):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*at, k))
                walk(v, (*at, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((*at, i))
                walk(v, (*at, i))

    walk(doc, ())
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return json.dumps(doc).encode()


def test_mutated_examples(example_bytes):
    docs = {k: v for k, v in example_bytes.items() if k != "tenants"}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=mutated_example(docs))
    def run(body):
        _accepts_or_explains(body)

    run()
