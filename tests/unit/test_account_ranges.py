"""Self-numbering providers in one chain (issue 14, item 5): accounts that number themselves from a
DIAN range declare it, and a chain where two of them share a prefix and consecutives is refused
wherever rules are saved: the tenants file, `PUT /v1/routing`, and account changes through the
administration API. The simulators number from the declared range."""

from __future__ import annotations

import pytest
from gateway_harness import AUTH, running, tenants_toml

from adapters.base import Account, AccountRange
from gateway.tenants.config import ConfigError, load_config
from gateway.tenants.routing import Route, validate_routes
from simulators.control import RangeDeclaration, RangeExhausted, SimState, declaration_for

ENV = {"PASARELA_SECRET_KEY": "server-secret-key-for-tests-0123456789"}


def fake(name: str, own: AccountRange | None, provider: str = "fake") -> Account:
    return Account(name=name, provider=provider, base_url="http://127.0.0.1:9", range=own)


@pytest.mark.parametrize(
    ("first", "second", "refused"),
    [
        (AccountRange(prefix="SETP"), AccountRange(prefix="SETP"), True),  # the same prefix, open ranges
        (AccountRange(prefix="SETP", from_=1, to=500), AccountRange(prefix="SETP", from_=400), True),
        (AccountRange(prefix="SETP", from_=1, to=500), AccountRange(prefix="SETP", from_=501), False),
        (AccountRange(prefix="FEA"), AccountRange(prefix="FEB"), False),
        (AccountRange(prefix="FEA"), None, True),  # undeclared: cannot be told apart
    ],
)
def test_a_chain_of_two_self_numbering_accounts_needs_ranges_apart(first, second, refused):
    accounts = [fake("a", first), fake("b", second)]
    problems = validate_routes([Route(chain=["a", "b"])], accounts)
    assert bool(problems) is refused, problems
    if refused:
        assert problems[0].startswith("routes[0].chain[")


def test_one_self_numbering_account_or_one_of_ours_needs_no_range():
    accounts = [fake("a", None), fake("ours", None, provider="fakeours")]
    assert validate_routes([Route(chain=["a"])], accounts) == []
    assert validate_routes([Route(chain=["ours", "a"], allow_mixed_numbering=True)], accounts) == []


def test_the_tenants_file_is_refused_with_the_key_named():
    toml = tenants_toml().replace('range = { prefix = "BACKUP" }', 'range = { prefix = "PRIMARY" }')
    with pytest.raises(ConfigError) as refused:
        load_config(toml, env={})
    assert any(
        p.startswith("tenants[t1].routes[0].chain[0]:") and "'PRIMARY'" in p for p in refused.value.problems
    )
    ours = tenants_toml([("ours", "fakeours")]).replace(
        'provider = "fakeours"', 'provider = "fakeours"\nrange = { prefix = "X" }'
    )
    with pytest.raises(ConfigError, match=r"accounts\[ours\]\.range: fakeours takes our number"):
        load_config(ours, env={})


async def test_put_routing_and_account_changes_refuse_a_shared_range():
    async with running(tenants_toml(), env=ENV) as (client, _):
        r = await client.post(
            "/v1/admin/accounts",
            json={"name": "third", "provider": "fake", "base_url": "http://127.0.0.1:9",
                  "credentials": {"token": "t"}, "range": {"prefix": "PRIMARY", "from": 1}},
            headers=AUTH,
        )  # fmt: skip
        assert r.status_code == 201 and r.json()["range"] == {"prefix": "PRIMARY", "from": 1}, r.text
        r = await client.put("/v1/routing", json={"routes": [{"chain": ["primary", "third"]}]}, headers=AUTH)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["path"] == "routes[0].chain[0]"
        assert "PRIMARY" in r.json()["errors"][0]["message"]
        r = await client.put("/v1/routing", json={"routes": [{"chain": ["third", "backup"]}]}, headers=AUTH)
        assert r.status_code == 200, r.text
        # the route in force now holds third and backup: backup may not move onto third's range
        r = await client.patch(
            "/v1/admin/accounts/backup", json={"range": {"prefix": "PRIMARY"}}, headers=AUTH
        )
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "account-range-shared", r.text
        r = await client.patch("/v1/admin/accounts/backup", json={"range": {"prefix": "B2"}}, headers=AUTH)
        assert r.status_code == 200 and r.json()["range"] == {"prefix": "B2"}, r.text
        listed = {a["name"]: a for a in (await client.get("/v1/admin/accounts", headers=AUTH)).json()}
        assert listed["backup"]["range"] == {"prefix": "B2"} and listed["primary"]["range"] == {
            "prefix": "PRIMARY"
        }


def test_simulators_number_from_the_declared_range():
    state = SimState()
    facepro = Account(
        name="fp", provider="facepro", base_url="http://x", credentials={"token": "tok"},
        range=AccountRange(prefix="FEX", from_=7, to=8),
    )  # fmt: skip
    declaration = declaration_for(facepro)
    assert declaration == RangeDeclaration(account="tok", prefix="FEX", from_=7, to=8)
    state.declare_range(declaration)
    assert [state.take_number("tok"), state.take_number("tok")] == [("FEX", 7), ("FEX", 8)]
    with pytest.raises(RangeExhausted):
        state.take_number("tok")
    assert state.take_number("another-token") is None  # undeclared: the simulator's own numbering
    assert declaration_for(Account(name="d", provider="dian", base_url="http://x")) is None
