"""The administration API against the fake providers: API keys (one-time reveal, revoke that bites
at once, rotation with overlap), accounts whose secrets never come back (responses, logs, store),
numbering ranges with used/remaining and retirement, webhook endpoints with their own signing
secret and redelivery, tenants created with the admin key, and alerts that fire once per condition."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging

import sqlalchemy as sa
import standardwebhooks
from gateway_fakes import book
from gateway_harness import AUTH, OTHER_AUTH, running, tenants_toml
from test_gateway_webhooks import receiver

from gateway.store.schema import accounts, admin_keys, api_keys, webhook_deliveries

SECRET_KEY = "server-secret-key-for-tests-0123456789"
ADMIN_KEY = "admin-key-0123456789abcdef-xyz"
ENV = {"PASARELA_SECRET_KEY": SECRET_KEY, "PASARELA_ADMIN_KEY": ADMIN_KEY}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
ACCOUNT_SECRET = "tok-0f9e8d7c6b5a-NEVER-SHOWN"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_api_keys_reveal_once_revoke_at_once_rotate_with_overlap(example_bytes):
    async with running(tenants_toml(), env=ENV) as (client, rt):
        r = await client.post("/v1/admin/api-keys", json={"label": "ci"}, headers=AUTH)
        assert r.status_code == 201, r.text
        created = r.json()
        assert (await client.get("/v1/providers", headers=bearer(created["key"]))).status_code == 200
        listed = (await client.get("/v1/admin/api-keys", headers=AUTH)).json()
        assert created["key"] not in json.dumps(listed)  # only the one-time reveal carried it
        assert {k["id"] for k in listed} >= {created["id"]} and len(listed) == 2  # the file's key too
        # rotation: the old key keeps working for the overlap, then stops
        r = await client.post(
            f"/v1/admin/api-keys/{created['id']}/rotate", json={"overlap_s": 60}, headers=AUTH
        )
        assert r.status_code == 201, r.text
        rotated = r.json()["key"]
        assert (await client.get("/v1/providers", headers=bearer(created["key"]))).status_code == 200
        old = next(
            k
            for k in (await client.get("/v1/admin/api-keys", headers=AUTH)).json()
            if k["id"] == created["id"]
        )
        overlap_end = dt.datetime.fromisoformat(old["expires_at"]).timestamp()
        assert 55 < overlap_end - rt.clock() <= 60
        async with rt.engine.begin() as conn:  # the overlap has run out (no test waits a minute)
            await conn.execute(
                api_keys.update().where(api_keys.c.key_id == created["id"]).values(expires_at=rt.clock() - 1)
            )
        assert (await client.get("/v1/providers", headers=bearer(created["key"]))).status_code == 401
        assert (await client.get("/v1/providers", headers=bearer(rotated))).status_code == 200
        # revocation: the very next request with that key is refused
        new_id = next(
            k["id"]
            for k in (await client.get("/v1/admin/api-keys", headers=AUTH)).json()
            if k["prefix"] == rotated[:10]
        )
        assert (await client.delete(f"/v1/admin/api-keys/{new_id}", headers=AUTH)).status_code == 200
        assert (await client.get("/v1/providers", headers=bearer(rotated))).status_code == 401
        # another tenant cannot see or revoke this tenant's keys
        assert (
            await client.delete(f"/v1/admin/api-keys/{created['id']}", headers=OTHER_AUTH)
        ).status_code == 404


async def test_a_file_key_can_be_revoked_too():
    async with running(tenants_toml(), env=ENV) as (client, _):
        (file_key,) = (await client.get("/v1/admin/api-keys", headers=AUTH)).json()
        assert (await client.delete(f"/v1/admin/api-keys/{file_key['id']}", headers=AUTH)).status_code == 200
        assert (await client.get("/v1/providers", headers=AUTH)).status_code == 401


async def test_account_secret_never_appears_in_responses_logs_or_store(example_bytes, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with running(tenants_toml(), env=ENV) as (client, rt):
        new = {
            "name": "extra",
            "provider": "fake",
            "base_url": "http://127.0.0.1:9",
            "credentials": {"token": ACCOUNT_SECRET},
        }
        r = await client.post("/v1/admin/accounts", json=new, headers=AUTH)
        assert r.status_code == 201, r.text
        seen.append(r.text)
        assert r.json()["credential_fields"] == ["token"]
        r = await client.post(
            "/v1/documents", content=example_bytes["co-invoice"], headers=AUTH, params={"provider": "extra"}
        )
        assert r.status_code == 201 and r.json()["account"] == "extra", r.text  # usable at once
        seen.append(r.text)
        for path in ("/v1/admin/accounts", "/v1/providers", "/metrics", "/schema/openapi.json"):
            seen.append((await client.get(path, headers=AUTH)).text)
        r = await client.post("/v1/admin/accounts/extra/test", headers=AUTH)
        assert r.json()["ok"] is True, r.text
        seen.append(r.text)
        r = await client.patch(
            "/v1/admin/accounts/extra", json={"credentials": {"token": "x" + ACCOUNT_SECRET}}, headers=AUTH
        )
        seen.append(r.text)
        async with rt.engine.connect() as conn:
            stored = (
                await conn.execute(sa.select(accounts.c.credentials).where(accounts.c.name == "extra"))
            ).scalar()
    assert stored and ACCOUNT_SECRET not in stored  # sealed at rest
    assert all(ACCOUNT_SECRET not in text for text in seen)
    assert ACCOUNT_SECRET not in caplog.text


async def test_account_secrets_need_the_server_secret_key():
    async with running(tenants_toml()) as (client, _):
        r = await client.post(
            "/v1/admin/accounts",
            json={
                "name": "x",
                "provider": "fake",
                "base_url": "http://127.0.0.1:9",
                "credentials": {"token": "t"},
            },
            headers=AUTH,
        )
        assert r.status_code == 409 and r.json()["errors"][0]["rule"] == "secret-key-missing"


async def test_disabled_account_is_skipped_and_bad_accounts_are_refused(example_bytes):
    async with running(tenants_toml(), env=ENV) as (client, _):
        r = await client.patch("/v1/admin/accounts/primary", json={"enabled": False}, headers=AUTH)
        assert r.status_code == 200 and r.json()["enabled"] is False, r.text
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["account"] == "backup" and book("primary").emits == 0
        bad = {"name": "nope", "provider": "fake", "base_url": "ftp://x", "credentials": {"token": "t"}}
        r = await client.post("/v1/admin/accounts", json=bad, headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "account-base-url"
        bad |= {"base_url": "http://127.0.0.1:9", "credentials": {}}
        r = await client.post("/v1/admin/accounts", json=bad, headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "account-credentials"


async def test_numbering_ranges_used_remaining_and_retire(example_bytes):
    async with running(tenants_toml([("ours", "fakeours")]), env=ENV) as (client, _):
        r = await client.post(
            "/v1/admin/numbering",
            json={"name": "fe2", "kinds": ["debit_note"], "prefix": "FE", "from": 10, "to": 19},
            headers=AUTH,
        )
        assert r.status_code == 201, r.text
        assert (r.json()["used"], r.json()["remaining"]) == (0, 10)
        for _ in range(2):
            await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        ranges = {
            v["range"]["name"]: v for v in (await client.get("/v1/admin/numbering", headers=AUTH)).json()
        }
        assert (ranges["setp"]["used"], ranges["setp"]["source"]) == (2, "file")
        assert ranges["setp"]["remaining"] == 995000000 - 990000000 + 1 - 2
        r = await client.post("/v1/admin/numbering/setp/retire", headers=AUTH)
        assert r.status_code == 200 and r.json()["retired"] is True
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "numbering-range-missing"
        r = await client.post(
            "/v1/admin/numbering",
            json={"name": "bad", "kinds": ["invoice"], "from": 5, "to": 1},
            headers=AUTH,
        )
        assert r.status_code == 422


async def test_webhook_endpoint_secret_rotation_deliveries_and_redelivery(example_bytes):
    async with receiver() as (hooks, url), running(tenants_toml(), env=ENV) as (client, _):
        r = await client.post(
            "/v1/admin/webhooks", json={"url": url, "events": ["document.accepted"]}, headers=AUTH
        )
        assert r.status_code == 201, r.text
        hook = r.json()
        assert hook["secret"].startswith("whsec_")
        assert "secret" not in json.dumps((await client.get("/v1/admin/webhooks", headers=AUTH)).json())
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        await _wait(lambda: len(hooks.received) == 1)
        assert _verifies(hooks.received[0], hook["secret"])
        # rotation with an overlap: a redelivery carries both signatures (Standard Webhooks)
        r = await client.post(
            f"/v1/admin/webhooks/{hook['id']}/rotate-secret", json={"overlap_s": 60}, headers=AUTH
        )
        rotated = r.json()["secret"]
        assert rotated != hook["secret"]
        (delivery,) = (await client.get("/v1/admin/webhooks/deliveries", headers=AUTH)).json()
        assert delivery["state"] == "delivered"
        r = await client.post(f"/v1/admin/webhooks/deliveries/{delivery['id']}/redeliver", headers=AUTH)
        assert r.status_code == 202, r.text
        await _wait(lambda: len(hooks.received) == 2)
        headers, _ = hooks.received[1]
        assert headers["webhook-id"] == delivery["id"]  # same id: receivers still deduplicate
        assert _verifies(hooks.received[1], rotated) and _verifies(hooks.received[1], hook["secret"])
        # without an overlap the old secret stops signing at once
        r = await client.post(
            f"/v1/admin/webhooks/{hook['id']}/rotate-secret", json={"overlap_s": 0}, headers=AUTH
        )
        latest = r.json()["secret"]
        await client.post(f"/v1/admin/webhooks/deliveries/{delivery['id']}/redeliver", headers=AUTH)
        await _wait(lambda: len(hooks.received) == 3)
        assert _verifies(hooks.received[2], latest) and not _verifies(hooks.received[2], rotated)


async def test_tenants_are_created_with_the_admin_key_only():
    async with running(tenants_toml(), env=ENV) as (client, rt):
        body = {
            "id": "new-co",
            "name": "New Co",
            "issuer": {
                "country": "CO",
                "id_type": "NIT",
                "id_number": "900373115",
                "check_digit": "3",
                "name": "New Co",
            },
        }
        assert (await client.post("/v1/tenants", json=body, headers=AUTH)).status_code == 401
        r = await client.post("/v1/tenants", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        key = r.json()["api_key"]["key"]
        assert (await client.get("/v1/admin/api-keys", headers=bearer(key))).status_code == 200
        assert (await client.post("/v1/tenants", json=body, headers=ADMIN)).status_code == 409
        ids = {t["id"] for t in (await client.get("/v1/tenants", headers=ADMIN)).json()}
        assert ids == {"t1", "t2", "new-co"}
        r = await client.post(
            "/v1/admin/accounts",
            json={
                "name": "a",
                "provider": "fake",
                "base_url": "http://127.0.0.1:9",
                "credentials": {"token": "t"},
            },
            headers=bearer(key),
        )
        assert r.status_code == 201, r.text
        r = await client.put("/v1/routing", json={"routes": [{"chain": ["a"]}]}, headers=bearer(key))
        assert r.status_code == 200, r.text
        async with rt.engine.connect() as conn:
            digests = (await conn.execute(sa.select(admin_keys.c.key_hash))).scalars().all()
        assert digests == [hashlib.sha256(ADMIN_KEY.encode()).hexdigest()]  # never the key itself


async def test_account_misconfigured_fires_once_per_condition(example_bytes):
    hook = '[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="\nevents = ["account.misconfigured"]'
    async with running(tenants_toml(extra=hook), run_jobs=False, env=ENV) as (client, rt):
        book("primary").script = ["misconfigured"] * 3
        for _ in range(3):
            doc = (
                await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
            ).json()
            assert doc["account"] == "backup"
        assert await _events(rt, "account.misconfigured") == 1  # not once per document
        metrics = (await client.get("/metrics")).text
        assert 'pasarela_alerts{alert="account.misconfigured",tenant="t1"} 1.0' in metrics
        # the account is fixed (changed through the API): the next failure is a new condition
        await client.patch("/v1/admin/accounts/primary", json={"timeout_s": 5}, headers=AUTH)
        book("primary").script = ["misconfigured"]
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert await _events(rt, "account.misconfigured") == 2


async def test_numbering_expiry_alert_fires_once_across_scrapes():
    soon = (
        '[[tenants.numbering]]\nname = "soon"\nkinds = ["invoice"]\nprefix = "S"\nfrom = 1\nto = 1000\n'
        "valid_from = 2020-01-01\nvalid_to = 2020-01-10"
    )
    hook = '[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="\nevents = ["numbering.low"]'
    async with running(tenants_toml(numbering=soon, extra=hook), run_jobs=False, env=ENV) as (client, rt):
        for _ in range(3):
            metrics = (await client.get("/metrics")).text
        assert 'pasarela_alerts{alert="numbering.low",tenant="t1"} 1.0' in metrics
        assert await _events(rt, "numbering.low") == 1


async def _events(rt, event_type: str) -> int:
    async with rt.engine.connect() as conn:
        return len(
            (
                await conn.execute(
                    sa.select(webhook_deliveries).where(webhook_deliveries.c.event_type == event_type)
                )
            ).all()
        )


async def _wait(condition, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def _verifies(received: tuple[dict[str, str], bytes], secret: str) -> bool:
    """Standard Webhooks v1, checked by the reference `standardwebhooks` package as a receiver would."""
    headers, body = received
    try:
        standardwebhooks.Webhook(secret).verify(body, headers)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


async def test_changes_reach_another_gateway_process_sharing_the_store(example_bytes, tmp_path):
    """Two apps on one database (as two `serve` workers): a key revoked through one is refused by
    the other at once; an account added through one is used by the other on its next request."""
    env = {**ENV, "PASARELA_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    async with running(tenants_toml(), env=env) as (one, _), running(tenants_toml(), env=env) as (two, _):
        key = (await one.post("/v1/admin/api-keys", json={}, headers=AUTH)).json()
        assert (await two.get("/v1/providers", headers=bearer(key["key"]))).status_code == 200
        await one.delete(f"/v1/admin/api-keys/{key['id']}", headers=AUTH)
        assert (await two.get("/v1/providers", headers=bearer(key["key"]))).status_code == 401
        new = {
            "name": "extra",
            "provider": "fake",
            "base_url": "http://127.0.0.1:9",
            "credentials": {"token": "t"},
        }
        assert (await one.post("/v1/admin/accounts", json=new, headers=AUTH)).status_code == 201
        r = await two.post(
            "/v1/documents", content=example_bytes["co-invoice"], headers=AUTH, params={"provider": "extra"}
        )
        assert r.status_code == 201 and r.json()["account"] == "extra", r.text


async def test_needs_attention_gauge_counts_documents_waiting_for_an_operator(example_bytes):
    async with running(tenants_toml(), env=ENV) as (client, _):
        book("primary").searchable = False
        book("primary").script = ["lost"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        gauge = 'pasarela_alerts{alert="document.needs_attention",tenant="t1"} '
        await _wait_async(lambda: _scrape_has(client, gauge + "1.0"))
        await client.post(f"/v1/documents/{doc['id']}/resolve", json={"issued": False}, headers=AUTH)
        await _wait_async(lambda: _scrape_has(client, gauge + "0.0"))


async def _scrape_has(client, line: str) -> bool:
    return line in (await client.get("/metrics")).text


async def _wait_async(condition, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_numbering_low_by_use_is_one_event_whether_allocation_or_scrape_sees_it(example_bytes):
    tiny = '[[tenants.numbering]]\nname = "tiny"\nkinds = ["invoice"]\nprefix = "T"\nfrom = 1\nto = 10'
    hook = '[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="\nevents = ["numbering.low"]'
    toml = tenants_toml([("ours", "fakeours")], numbering=tiny, extra=hook)
    async with running(toml, run_jobs=False, env=ENV) as (client, rt):
        for _ in range(9):
            await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        for _ in range(2):
            metrics = (await client.get("/metrics")).text
        assert 'pasarela_alerts{alert="numbering.low",tenant="t1"} 1.0' in metrics
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        await client.get("/metrics")
        assert await _events(rt, "numbering.low") == 1


async def test_cli_creates_a_tenant_with_the_admin_key_and_lists_its_keys(tmp_path, capsys):
    from gateway.cli.main import main

    issuer = {"country": "SV", "id_type": "NIT", "id_number": "06142803901121", "nrc": "2345678", "name": "T"}
    (tmp_path / "tenant.json").write_text(json.dumps({"id": "cli-sv", "name": "CLI SV", "issuer": issuer}))
    async with running(tenants_toml(), env=ENV) as (client, _):
        url = str(client.base_url)
        create = ["tenants", "create", "--data", f"@{tmp_path / 'tenant.json'}", "--url", url]
        assert await asyncio.to_thread(main, [*create, "--admin-key", "wrong-admin-key-0123456789"]) == 1
        capsys.readouterr()
        assert await asyncio.to_thread(main, [*create, "--admin-key", ADMIN_KEY]) == 0
        key = json.loads(capsys.readouterr().out)["api_key"]["key"]
        assert await asyncio.to_thread(main, ["tenants", "keys", "list", "--url", url, "--api-key", key]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["label"] == "initial" and key not in json.dumps(listed)


async def test_api_changes_survive_a_restart_and_win_over_the_file(example_bytes, tmp_path):
    env = {**ENV, "PASARELA_DATABASE_URL": f"sqlite:///{tmp_path / 'kept.db'}"}
    async with running(tenants_toml(), env=env) as (client, _):
        await client.patch("/v1/admin/accounts/primary", json={"enabled": False}, headers=AUTH)
        await client.post("/v1/admin/numbering/setp/retire", headers=AUTH)
        key = (await client.post("/v1/admin/api-keys", json={}, headers=AUTH)).json()
        (file_key,) = [
            k for k in (await client.get("/v1/admin/api-keys", headers=AUTH)).json() if k["id"] != key["id"]
        ]
        await client.delete(f"/v1/admin/api-keys/{file_key['id']}", headers=AUTH)
    async with running(tenants_toml(), env=env) as (client, _):  # the same file seeds again
        assert (await client.get("/v1/providers", headers=AUTH)).status_code == 401  # still revoked
        auth = bearer(key["key"])
        accounts = {a["name"]: a for a in (await client.get("/v1/admin/accounts", headers=auth)).json()}
        assert (accounts["primary"]["enabled"], accounts["primary"]["source"]) == (False, "api")
        ranges = {
            v["range"]["name"]: v for v in (await client.get("/v1/admin/numbering", headers=auth)).json()
        }
        assert ranges["setp"]["retired"] is True
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=auth)).json()
        assert doc["account"] == "backup"


async def test_a_tenant_gets_the_checks_a_tenants_file_gets():
    async with running(tenants_toml(), env=ENV) as (client, _):
        issuer = {
            "country": "CO",
            "id_type": "NIT",
            "id_number": "900373115",
            "check_digit": "4",
            "name": "X",
        }
        r = await client.post(
            "/v1/tenants", json={"id": "bad-dv", "name": "X", "issuer": issuer}, headers=ADMIN
        )
        assert r.status_code == 422 and r.json()["errors"][0]["path"].startswith("issuer"), r.text
        issuer["check_digit"] = "3"
        body = {"id": "bad-deadline", "name": "X", "issuer": issuer, "dispatch": {"deadline_s": -1}}
        r = await client.post("/v1/tenants", json=body, headers=ADMIN)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "dispatch.deadline_s", r.text
        ids = {t["id"] for t in (await client.get("/v1/tenants", headers=ADMIN)).json()}
        assert ids == {"t1", "t2"}  # nothing half-created
