"""Routing rules: first match whose chain can emit the kind; chains and splits name accounts."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import gateway_fakes  # noqa: F401  (registers the fake adapters)
import pytest

from adapters.base import Account
from canonical.validation import prepare
from gateway.tenants.routing import Route, RouteMatch, RoutingError, SplitShare, choose_chain

ACCOUNTS = [
    Account(name="a", provider="fake", base_url="http://127.0.0.1:9"),
    Account(name="b", provider="fake", base_url="http://127.0.0.1:9"),
    Account(name="off", provider="fake", base_url="http://127.0.0.1:9", enabled=False),
]


@pytest.fixture(scope="module")
def co_invoice(example_bytes):
    return prepare(example_bytes["co-invoice"])


def names(chain: list[Account]) -> list[str]:
    return [a.name for a in chain]


def test_first_matching_rule_wins(co_invoice):
    doc, totals = co_invoice
    routes = [
        Route(match=RouteMatch(country="SV"), chain=["b"]),
        Route(match=RouteMatch(metadata={"order_id": "A-1001"}), chain=["b", "a"]),
        Route(chain=["a"]),
    ]
    assert names(choose_chain(routes, ACCOUNTS, doc, totals)) == ["b", "a"]


@pytest.mark.parametrize(
    ("match", "hit"),
    [
        (RouteMatch(min_amount=Decimal("358050.00")), True),
        (RouteMatch(min_amount=Decimal("358050.01")), False),
        (RouteMatch(max_amount=Decimal("358049.99")), False),
        (RouteMatch(currency="USD"), False),
        (RouteMatch(customer_id_types=["NIT"]), True),
        (RouteMatch(customer_id_types=["CC"]), False),
        (RouteMatch(kinds=["credit_note"]), False),
        (RouteMatch(metadata={"channel": "web"}), False),
    ],
)
def test_match_fields(co_invoice, match, hit):
    doc, totals = co_invoice
    chain = choose_chain([Route(match=match, chain=["a"]), Route(chain=["b"])], ACCOUNTS, doc, totals)
    assert names(chain) == (["a"] if hit else ["b"])


def test_disabled_accounts_are_never_in_a_chain(co_invoice):
    doc, totals = co_invoice
    assert names(choose_chain([Route(chain=["off", "b"])], ACCOUNTS, doc, totals)) == ["b"]
    with pytest.raises(RoutingError) as err:
        choose_chain([Route(chain=["a"])], ACCOUNTS, doc, totals, forced="off")
    assert err.value.rule == "provider-cannot-emit"


def test_split_puts_one_account_first_by_weight(co_invoice):
    doc, totals = co_invoice
    route = Route(split=[SplitShare(account="a", weight=9), SplitShare(account="b", weight=1)])
    rng = random.Random(7)
    firsts = Counter(names(choose_chain([route], ACCOUNTS, doc, totals, rng=rng))[0] for _ in range(1000))
    assert 850 < firsts["a"] < 950
    assert sorted(names(choose_chain([route], ACCOUNTS, doc, totals, rng=rng))) == [
        "a",
        "b",
    ]  # the other is fallback


def test_no_route_and_forced_unknown_account(co_invoice):
    doc, totals = co_invoice
    with pytest.raises(RoutingError) as err:
        choose_chain([Route(match=RouteMatch(country="SV"), chain=["a"])], ACCOUNTS, doc, totals)
    assert err.value.rule == "no-route"
    with pytest.raises(RoutingError) as err:
        choose_chain([], ACCOUNTS, doc, totals, forced="fake")
    assert err.value.rule == "provider-unknown"


def test_a_note_goes_only_to_accounts_that_emit_its_document(example_bytes):
    """A credit note on a support document is DIAN's adjustment note 95: an account that cannot emit
    support documents (FacePro here) cannot emit it either, and is refused with a clear error."""
    import json

    raw = json.loads(example_bytes["co-credit-note"])
    raw["reference"]["kind"] = "support_document"
    raw["supplier"] = json.loads(example_bytes["co-support-document"])["supplier"]
    del raw["customer"]
    doc, totals = prepare(json.dumps(raw).encode())
    accounts = [
        Account(name="facepro", provider="facepro", base_url="http://127.0.0.1:9"),
        Account(name="dian", provider="dian", base_url="http://127.0.0.1:9"),
    ]
    route = Route(match=RouteMatch(country="CO"), chain=["facepro", "dian"])
    assert names(choose_chain([route], accounts, doc, totals)) == ["dian"]
    with pytest.raises(RoutingError) as err:
        choose_chain([route], accounts, doc, totals, forced="facepro")
    assert err.value.rule == "provider-cannot-emit"


def test_routing_asks_the_adapter_contract(example_bytes):
    """Eligibility is the adapter's contract (adapters.capabilities.can_emit, through `emits`): an
    adapter that overrides `emits` is routed as it says. APIDIAN lists debit notes and POS documents
    but sends no debit note on a POS document, so routing skips it instead of sending it there."""
    import json

    raw = json.loads(example_bytes["co-credit-note"])
    raw["kind"] = "debit_note"
    raw["reason"] = {"code": "interest", "description": "Intereses por mora"}
    raw["reference"].update(number="EPOS1", kind="pos_invoice")
    doc, totals = prepare(json.dumps(raw).encode())
    accounts = [
        Account(name="apidian", provider="apidian", base_url="http://127.0.0.1:9"),
        Account(name="dian", provider="dian", base_url="http://127.0.0.1:9"),
    ]
    route = Route(match=RouteMatch(country="CO"), chain=["apidian", "dian"])
    assert names(choose_chain([route], accounts, doc, totals)) == ["dian"]
    with pytest.raises(RoutingError) as err:
        choose_chain([route], accounts, doc, totals, forced="apidian")
    assert err.value.rule == "provider-cannot-emit"
