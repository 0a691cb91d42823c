"""Moving a tenant's store (issue 14): `pasarela store copy` carries documents and numbering
counters together (SQLite → PostgreSQL when PASARELA_TEST_PG_URL is set, SQLite → SQLite always),
the copy continues numbering after the last number, a counter set by hand never goes back over a
number already held, and `serve` refuses to start on a counter behind its documents."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))  # the unit tests' harness

from gateway_harness import AUTH, KEY, running, tenants_toml

from gateway.cli import main as cli
from gateway.documents import numbering
from gateway.documents.numbering_guard import NumberingBehind
from gateway.startup import start
from gateway.store.copy import CopyRefused, copy_store
from gateway.store.engine import dispose, make_engine
from gateway.store.schema import attempts, documents, jobs, numbering_counters
from gateway.tenants.config import load_config
from gateway.tenants.runtime import Runtime

TOML = tenants_toml([("ours", "fakeours")])
FIRST = 990000000


async def issue(client, example: bytes, count: int) -> list[str]:
    numbers = []
    for _ in range(count):
        r = await client.post("/v1/documents", content=example, headers=AUTH)
        assert r.status_code == 201 and r.json()["status"] == "accepted", r.text
        numbers.append(r.json()["number"])
    return numbers


async def test_copy_carries_counters_with_documents_and_numbering_continues(
    tmp_path, engine: AsyncEngine, store, example_bytes
):
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    async with running(TOML, env={"PASARELA_DATABASE_URL": source_url}) as (client, _):
        before = await issue(client, example_bytes["co-invoice"], 3)
    assert before == [f"SETP{FIRST + i}" for i in range(3)]
    source = make_engine(source_url)
    try:
        copied = await copy_store(source, engine)
        assert copied["documents"] == 3 and copied["numbering_counters"] >= 1 and copied["attempts"] >= 3
        with pytest.raises(CopyRefused, match="empty store"):  # never merged into a store with data
            await copy_store(source, engine)
    finally:
        await dispose(source)
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(documents))).scalar() == 3
        counter = (
            await conn.execute(
                sa.select(numbering_counters.c.next_value).where(numbering_counters.c.range_name == "setp")
            )
        ).scalar()
        (setp,) = (r for r in load_config(TOML).tenants[0].numbering if r.name == "setp")
        following = await numbering.peek(conn, "t1", setp)
    # the counter draws numbers in blocks; the block's unused numbers travel with it
    assert counter >= FIRST + 3 and following == FIRST + 3
    # the moved store goes on where the old one stopped, and new rows get fresh ids
    async with running(TOML, engine=engine) as (client, _):
        after = await issue(client, example_bytes["co-invoice"], 2)
        listed = (await client.get("/v1/documents", headers=AUTH)).json()["items"]
    assert after == [f"SETP{FIRST + 3}", f"SETP{FIRST + 4}"]
    assert {d["number"] for d in listed} == set(before + after)
    async with engine.connect() as conn:
        for table in (attempts, jobs):
            ids = (await conn.execute(sa.select(table.c.id))).scalars().all()
            assert len(ids) == len(set(ids))


async def test_set_next_moves_a_counter_but_never_over_a_used_number(example_bytes):
    async with running(TOML) as (client, _):
        await issue(client, example_bytes["co-invoice"], 2)  # FIRST, FIRST + 1

        async def set_next(value: int, name: str = "setp"):
            return await client.post(f"/v1/admin/numbering/{name}/next", json={"next": value}, headers=AUTH)

        r = await set_next(FIRST + 1)
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "numbering-next-used", r.text
        r = await set_next(FIRST + 100)
        assert r.status_code == 200 and r.json()["next"] == FIRST + 100, r.text
        assert await issue(client, example_bytes["co-invoice"], 1) == [f"SETP{FIRST + 100}"]
        r = await set_next(FIRST + 50)  # backwards, below a number now used
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "numbering-next-used"
        r = await set_next(FIRST - 1)
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "numbering-next-outside"
        assert (await set_next(FIRST + 200, "nope")).status_code == 404


async def test_serve_refuses_a_counter_behind_its_documents(tmp_path, example_bytes, capsys):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    async with running(TOML, env={"PASARELA_DATABASE_URL": url}) as (client, rt):
        await issue(client, example_bytes["co-invoice"], 2)
        async with rt.engine.begin() as conn:  # e.g. a store rebuilt without its counters
            await conn.execute(numbering_counters.update().values(next_value=FIRST + 1))
    config = load_config(TOML, env={"PASARELA_DATABASE_URL": url})
    rt = Runtime(config)
    try:
        with pytest.raises(NumberingBehind) as refused:
            await start(rt)
    finally:
        await rt.close()
    (behind,) = refused.value.behind
    assert (behind.range_name, behind.next_value, behind.highest) == ("setp", FIRST + 1, FIRST + 1)
    assert f"set-next setp --next {FIRST + 2}" in str(refused.value)


def test_serve_command_exits_with_the_reason(tmp_path, capsys, monkeypatch):
    """The same refusal through `pasarela serve`: exit 2 and the message, before listening."""
    monkeypatch.setattr("gateway.observability.logs.configure", lambda *args, **kwargs: None)  # keep pytest's logging

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    config_file = tmp_path / "tenants.toml"
    config_file.write_text(f'[server]\ndatabase = "{url}"\n' + TOML)

    async def behind() -> None:
        rt = Runtime(load_config(config_file, env={}))
        await start(rt)
        async with rt.engine.begin() as conn:
            await conn.execute(
                documents.insert().values(
                    id="doc_x", tenant_id="t1", status="accepted", country="CO", kind="invoice",
                    number=f"SETP{FIRST + 7}", consecutive=FIRST + 7, numbering_range="setp", chain="[]",
                    document=b"{}", totals=b"{}", deadline=0, created_at=0, updated_at=0,
                )
            )  # fmt: skip
        await rt.close()

    asyncio.run(behind())
    assert cli.main(["serve", "--config", str(config_file), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "numbering range 'setp'" in err and f"{FIRST + 7} is already used" in err


def test_store_copy_command(tmp_path, example_bytes, capsys):
    source, target = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"

    async def fill() -> None:
        async with running(TOML, env={"PASARELA_DATABASE_URL": source}) as (client, _):
            await issue(client, example_bytes["co-invoice"], 2)

    asyncio.run(fill())
    assert cli.main(["store", "copy", "--from", source, "--to", target]) == 0
    assert '"documents": 2' in capsys.readouterr().out
    assert cli.main(["store", "copy", "--from", source, "--to", target]) == 1  # the target has data now
    assert "empty store" in capsys.readouterr().err


async def test_serve_checks_counters_against_dians_range_where_it_answers(tmp_path, monkeypatch):
    """GetNumberingRange reports where DIAN's range starts: a counter below it is refused; DIAN out
    of reach only warns."""
    import gateway_fakes

    from adapters.base import NumberingRange, Unavailable
    from gateway.startup import preflight

    config = load_config(TOML, env={"PASARELA_DATABASE_URL": f"sqlite:///{tmp_path / 'gw.db'}"})
    reported = [
        NumberingRange(name="SETP", kinds=["invoice"], prefix="SETP", from_=FIRST + 500, to=FIRST + 900)
    ]

    async def numbering_ranges(self, issuer_nit: str) -> list[NumberingRange]:
        return reported

    monkeypatch.setattr(gateway_fakes.FakeOurNumbering, "numbering_ranges", numbering_ranges, raising=False)
    with pytest.raises(NumberingBehind) as refused:
        await preflight(config)
    (behind,) = refused.value.behind
    assert (behind.range_name, behind.next_value, behind.highest) == ("setp", FIRST, FIRST + 499)
    assert "DIAN" in str(refused.value)

    reported[0] = NumberingRange(name="SETP", kinds=["invoice"], prefix="SETP", from_=FIRST, to=FIRST + 900)
    assert await preflight(config) == []  # the counter is inside DIAN's range

    async def unreachable(self, issuer_nit: str) -> list[NumberingRange]:
        raise Unavailable("connection refused")

    monkeypatch.setattr(gateway_fakes.FakeOurNumbering, "numbering_ranges", unreachable, raising=False)
    (warning,) = await preflight(config)
    assert "GetNumberingRange unavailable" in warning


async def test_set_next_from_the_command_line(example_bytes, capsys):
    async with running(TOML) as (client, _):
        await issue(client, example_bytes["co-invoice"], 1)
        base = ["tenants", "numbering", "set-next", "setp", "--url", str(client.base_url), "--api-key", KEY]
        assert await asyncio.to_thread(cli.main, [*base, "--next", str(FIRST + 10)]) == 0
        assert json.loads(capsys.readouterr().out)["next"] == FIRST + 10
        assert await asyncio.to_thread(cli.main, [*base, "--next", str(FIRST)]) == 1  # already used
        assert "numbering-next-used" in capsys.readouterr().out
        assert await issue(client, example_bytes["co-invoice"], 1) == [f"SETP{FIRST + 10}"]
