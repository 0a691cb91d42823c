"""The API's contract: problem details, auth and tenant isolation, idempotency's four cases,
numbering errors, listing, preview, routing at run time, OpenAPI. (Numbering under 200 concurrent
requests, SQLite and PostgreSQL: tests/store/test_store.py.)"""

from __future__ import annotations

import asyncio
import json

from gateway_fakes import book
from gateway_harness import AUTH, OTHER_AUTH, running, tenants_toml

PROBLEM = "application/problem+json"


async def test_invalid_document_is_a_422_problem_with_paths_and_rules(example_bytes):
    body = json.loads(example_bytes["co-invoice"])
    body["lines"][0]["quantity"] = "-1"
    body["customer"]["check_digit"] = "0"
    async with running(tenants_toml()) as (client, _):
        r = await client.post("/v1/documents", content=json.dumps(body), headers=AUTH)
        assert r.status_code == 422
        assert r.headers["content-type"].startswith(PROBLEM)
        problem = r.json()
        assert problem["status"] == 422 and problem["type"].endswith("invalid-document")
        paths = {e["path"] for e in problem["errors"]}
        assert {"lines[0].quantity", "customer.check_digit"} <= paths
        assert all(e["rule"] for e in problem["errors"])
        assert (await client.post("/v1/documents", content=b"{not json", headers=AUTH)).status_code == 422
        assert (await client.get("/v1/documents", headers=AUTH)).json()["items"] == []


async def test_missing_or_wrong_key_is_401_and_other_tenants_documents_are_404(example_bytes):
    async with running(tenants_toml()) as (client, _):
        assert (await client.get("/v1/documents")).status_code == 401
        r = await client.post(
            "/v1/documents", content=example_bytes["co-invoice"], headers={"Authorization": "Bearer nope"}
        )
        assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        for path in ("", "/xml", "/pdf"):
            assert (
                await client.get(f"/v1/documents/{doc['id']}{path}", headers=OTHER_AUTH)
            ).status_code == 404
        assert (
            await client.post(f"/v1/documents/{doc['id']}/refresh", headers=OTHER_AUTH)
        ).status_code == 404
        r = await client.post(
            f"/v1/documents/{doc['id']}/resolve", json={"issued": False}, headers=OTHER_AUTH
        )
        assert r.status_code == 404
        assert (await client.get("/v1/documents", headers=OTHER_AUTH)).json()["items"] == []
        assert (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).status_code == 200


async def test_idempotency_replays_same_body_refuses_other_body_and_is_per_tenant(example_bytes):
    async with running(tenants_toml()) as (client, _):
        headers = {**AUTH, "Idempotency-Key": '"order-1001"'}
        first = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=headers)
        again = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.content == first.content  # the stored response, byte for byte
        assert book("primary").emits == 1

        other_body = example_bytes["co-invoice"].replace(b"A-1001", b"A-1002")
        r = await client.post("/v1/documents", content=other_body, headers=headers)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "idempotency-key-reused"

        # the same key from another tenant is another key
        r = await client.post(
            "/v1/documents",
            content=example_bytes["co-invoice"],
            headers={**OTHER_AUTH, "Idempotency-Key": '"order-1001"'},
        )
        assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_idempotency_replays_errors_too():
    async with running(tenants_toml()) as (client, _):
        headers = {**AUTH, "Idempotency-Key": "bad-doc-1"}
        first = await client.post("/v1/documents", content=b'{"country": "CO"}', headers=headers)
        again = await client.post("/v1/documents", content=b'{"country": "CO"}', headers=headers)
        assert first.status_code == again.status_code == 422
        assert again.content == first.content
        assert again.headers["content-type"].startswith(PROBLEM)


async def test_idempotency_concurrent_duplicate_is_409(example_bytes):
    async with running(tenants_toml(dispatch={"breaker_threshold": 100})) as (client, _):
        book("primary").script = ["hang"]
        book("primary").hang_s = 0.5
        headers = {**AUTH, "Idempotency-Key": "slow-1"}
        first = asyncio.create_task(
            client.post("/v1/documents", content=example_bytes["co-invoice"], headers=headers)
        )
        while book("primary").emits == 0:  # the first request is at the provider now
            await asyncio.sleep(0.005)
        second = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=headers)
        assert second.status_code == 409
        assert second.json()["errors"][0]["rule"] == "idempotency-in-flight"
        assert (await first).status_code == 201
        assert book("primary").emits == 1


async def test_bad_idempotency_key_is_400(example_bytes):
    async with running(tenants_toml()) as (client, _):
        r = await client.post(
            "/v1/documents",
            content=example_bytes["co-invoice"],
            headers={**AUTH, "Idempotency-Key": "has space"},
        )
        assert r.status_code == 400


async def test_numbering_exhausted_and_expired_ranges_are_clear_422s(example_bytes):
    small = '[[tenants.numbering]]\nname = "tiny"\nkinds = ["invoice"]\nprefix = "T"\nfrom = 1\nto = 2'
    async with running(tenants_toml([("dian-like", "fakeours")], numbering=small)) as (client, _):
        for expected in ("T1", "T2"):
            r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
            assert r.json()["number"] == expected
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "numbering-range-exhausted"
        assert len((await client.get("/v1/documents", headers=AUTH)).json()["items"]) == 2

    expired = (
        '[[tenants.numbering]]\nname = "old"\nkinds = ["invoice"]\nprefix = "O"\nfrom = 1\nto = 9\n'
        "valid_from = 2019-01-01\nvalid_to = 2020-01-01"
    )
    async with running(tenants_toml([("dian-like", "fakeours")], numbering=expired)) as (client, _):
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "numbering-range-expired"

    notes_only = '[[tenants.numbering]]\nname = "nc"\nkinds = ["credit_note"]\nprefix = "NC"'
    async with running(tenants_toml([("dian-like", "fakeours")], numbering=notes_only)) as (client, _):
        r = await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "numbering-range-missing"


async def test_self_numbering_provider_number_is_recorded(example_bytes):
    async with running(tenants_toml()) as (client, _):
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["number"] == "F1"  # the provider's, not ours


async def test_list_filters_and_cursor_pagination(example_bytes):
    async with running(tenants_toml()) as (client, _):
        ids = [
            (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()[
                "id"
            ]
            for _ in range(5)
        ]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/documents", params=params, headers=AUTH)).json()
            seen += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))  # newest first, each once
        assert (await client.get("/v1/documents", params={"status": "rejected"}, headers=AUTH)).json()[
            "items"
        ] == []
        assert (
            len(
                (
                    await client.get(
                        "/v1/documents", params={"kind": "invoice", "country": "CO"}, headers=AUTH
                    )
                ).json()["items"]
            )
            == 5
        )
        assert (
            await client.get("/v1/documents", params={"cursor": "garbage"}, headers=AUTH)
        ).status_code == 422


INVALID_FILTERS = [  # query → the (path, rule) of each problem it holds
    ("status=bogus", [("status", "query-status")]),
    ("status=", [("status", "query-status")]),
    ("country=GT", [("country", "query-country")]),
    ("kind=receipt", [("kind", "query-kind")]),
    ("from=2026-13-01", [("from", "query-date")]),
    ("to=yesterday", [("to", "query-date")]),
    ("from=2026-02-01&to=2026-02-01", [("to", "query-date-window")]),
    ("cursor=garbage", [("cursor", "query-cursor")]),
    ("cursor=bmFufGRvY194", [("cursor", "query-cursor")]),  # "nan|doc_x": decodes, yet not ours
    ("limit=0", [("limit", "query-limit")]),
    ("limit=201", [("limit", "query-limit")]),
    ("limit=many", [("limit", "query-limit")]),
    ("stauts=failed", [("stauts", "query-unknown")]),
    ("status=failed&status=accepted", [("status", "query-repeated")]),
    (
        "status=bogus&kind=receipt&limit=0",
        [("status", "query-status"), ("kind", "query-kind"), ("limit", "query-limit")],
    ),
]


async def test_invalid_list_filters_are_a_422_naming_the_parameter(example_bytes):
    """A filter the list cannot apply is refused, never answered with an empty (or unfiltered) page."""
    async with running(tenants_toml()) as (client, _):
        await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        for query, expected in INVALID_FILTERS:
            r = await client.get(f"/v1/documents?{query}", headers=AUTH)
            assert r.status_code == 422, (query, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
            problem = r.json()
            assert problem["status"] == 422 and problem["type"].endswith("invalid-query"), query
            assert sorted((e["path"], e["rule"]) for e in problem["errors"]) == sorted(expected), query
            assert all(e["message"] for e in problem["errors"])
        for query in ("status=accepted&country=CO&kind=invoice&from=2000-01-01&to=2100-01-01&limit=200", ""):
            r = await client.get(f"/v1/documents?{query}", headers=AUTH)
            assert r.status_code == 200 and len(r.json()["items"]) == 1, (query, r.text)


async def test_forced_provider_names_an_account(example_bytes):
    async with running(tenants_toml()) as (client, _):
        doc = (
            await client.post(
                "/v1/documents?provider=backup", content=example_bytes["co-invoice"], headers=AUTH
            )
        ).json()
        assert doc["account"] == "backup" and book("primary").emits == 0
        r = await client.post(
            "/v1/documents?provider=fake", content=example_bytes["co-invoice"], headers=AUTH
        )
        assert (
            r.status_code == 422 and r.json()["errors"][0]["rule"] == "provider-unknown"
        )  # adapter names don't count
        r = await client.post(
            "/v1/documents?provider=t2-account", content=example_bytes["co-invoice"], headers=AUTH
        )
        assert r.status_code == 422  # another tenant's account


async def test_preview_shows_each_payload_and_sends_nothing(example_bytes):
    async with running(
        tenants_toml([("dian-like", "fakeours"), ("backup", "fake")], chain=["dian-like"])
    ) as (client, _):
        r = await client.post("/v1/documents/preview", content=example_bytes["co-invoice"], headers=AUTH)
        assert r.status_code == 200
        preview = r.json()
        assert preview["totals"]["payable"] == "358050.00"
        by_account = {a["account"]: a for a in preview["accounts"]}
        assert by_account["dian-like"]["number"] == "SETP990000000"
        assert by_account["dian-like"]["payload"]["payable"] == "358050.00"
        assert by_account["backup"]["payload"]["number"] is None
        # what the provider would drop is shown before anything is sent (ARCHITECTURE.md, preview)
        assert by_account["backup"]["warnings"] == ["metadata: the fake has no metadata field; not sent"]
        assert book("dian-like").emits == 0
        one = (
            await client.post(
                "/v1/documents/preview?provider=backup", content=example_bytes["co-invoice"], headers=AUTH
            )
        ).json()
        assert [a["account"] for a in one["accounts"]] == ["backup"]
        # preview never takes a number
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["number"] == "SETP990000000"


async def test_routing_can_be_replaced_at_run_time_with_validation(example_bytes):
    toml = tenants_toml([("primary", "fake"), ("backup", "fake"), ("ours", "fakeours")], chain=["primary"])
    async with running(toml) as (client, _):
        r = await client.put("/v1/routing", json={"routes": [{"chain": ["primary", "ours"]}]}, headers=AUTH)
        assert r.status_code == 422
        assert "allow_mixed_numbering" in r.json()["errors"][0]["message"]
        r = await client.put("/v1/routing", json={"routes": [{"chain": ["nope"]}]}, headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "routes[0].chain[0]"
        rules = {
            "routes": [
                {"match": {"metadata": {"order_id": "A-1001"}}, "chain": ["backup"]},
                {"chain": ["primary"]},
            ]
        }
        assert (await client.put("/v1/routing", json=rules, headers=AUTH)).status_code == 200
        assert (await client.get("/v1/routing", headers=AUTH)).json()["routes"][0]["chain"] == ["backup"]
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        assert doc["account"] == "backup"  # matched on the metadata tag
        # the other tenant's rules are untouched
        assert (await client.get("/v1/routing", headers=OTHER_AUTH)).json()["routes"][0]["chain"] == [
            "t2-account"
        ]


async def test_xml_is_fetched_from_the_provider_and_pdf_absent_is_404(example_bytes):
    async with running(tenants_toml()) as (client, _):
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        r = await client.get(f"/v1/documents/{doc['id']}/xml", headers=AUTH)
        assert r.status_code == 200 and r.content == b"<Invoice><ID>F1</ID></Invoice>"
        r = await client.get(f"/v1/documents/{doc['id']}/pdf", headers=AUTH)
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
        r = await client.get(f"/v1/documents/{doc['id']}/xml?container=attached", headers=AUTH)
        assert r.status_code == 404 and "does not provide the AttachedDocument" in r.json()["detail"]


SV_KEY = "sv-tenant-key-0123456789"
SV_TENANT = f"""
[[tenants]]
id = "t-sv"
name = "Tienda"
api_keys = ["{SV_KEY}"]
[tenants.issuer]
country = "SV"
id_type = "NIT"
id_number = "06142803901121"
nrc = "2345678"
name = "Tienda"
[[tenants.accounts]]
name = "sv-account"
provider = "fake"
base_url = "http://127.0.0.1:9"
credentials = {{ token = "t" }}
[[tenants.routes]]
chain = ["sv-account"]
"""


async def test_the_xml_route_names_the_media_type_of_each_country(example_bytes):
    """DIAN's document is XML; MH's DTE is JSON, and must not be labelled application/xml."""
    async with running(tenants_toml(extra=SV_TENANT)) as (client, _):
        sv_auth = {"Authorization": f"Bearer {SV_KEY}"}
        for body, auth, media in [
            (example_bytes["co-invoice"], AUTH, "application/xml"),
            (example_bytes["sv-invoice"], sv_auth, "application/json"),
        ]:
            doc = (await client.post("/v1/documents", content=body, headers=auth)).json()
            assert doc["status"] == "accepted", doc
            for _ in range(2):  # fetched from the provider, then served from the store
                r = await client.get(f"/v1/documents/{doc['id']}/xml", headers=auth)
                assert r.status_code == 200 and r.headers["content-type"].startswith(media)


async def test_attached_document_where_the_adapter_builds_one(example_bytes):
    async with running(tenants_toml([("dian-like", "fakeours")])) as (client, _):
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        r = await client.get(f"/v1/documents/{doc['id']}/xml?container=attached", headers=AUTH)
        assert r.status_code == 200
        assert r.content == b"<AttachedDocument><ID>SETP990000000</ID></AttachedDocument>"
        assert r.headers["content-type"].startswith("application/xml")


async def test_openapi_declares_the_document_body_with_examples_and_health():
    async with running(tenants_toml()) as (client, _):
        schema = (await client.get("/schema/openapi.json")).json()
        assert schema["openapi"].startswith("3.1")
        body = schema["paths"]["/v1/documents"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"] == "#/components/schemas/Document"
        assert "Document" in schema["components"]["schemas"]
        assert {"co-invoice", "sv-invoice"} <= set(body["examples"])
        # handlers answering stored bytes (idempotent replays) still document the resource they answer
        resource = {"$ref": "#/components/schemas/DocumentResource"}
        for path, status in [
            ("/v1/documents", "201"),
            ("/v1/documents", "202"),
            ("/v1/documents/{doc_id}/credit-note", "201"),
            ("/v1/documents/{doc_id}/debit-note", "201"),
        ]:
            answer = schema["paths"][path]["post"]["responses"][status]["content"]["application/json"]
            assert answer["schema"] == resource, (path, status)
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        r = await client.get("/nowhere")
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


async def test_request_id_is_echoed_and_generated(example_bytes):
    async with running(tenants_toml()) as (client, _):
        r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123"
        r = await client.post("/v1/documents", content=b"{}", headers=AUTH)
        assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_oversized_body_is_413(example_bytes):
    async with running(tenants_toml()) as (client, _):
        r = await client.post("/v1/documents", content=b" " * (3 * 1024 * 1024), headers=AUTH)
        assert r.status_code == 413


async def test_list_items_carry_the_attempts_the_single_document_shows(example_bytes):
    async with running(tenants_toml()) as (client, _):
        book("primary").script = ["down", "down", "down"]  # max_attempts 3, then the backup account
        fell_back = (
            await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        ).json()
        direct = (
            await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)
        ).json()
        listed = {d["id"]: d for d in (await client.get("/v1/documents", headers=AUTH)).json()["items"]}
        for doc in (fell_back, direct):
            single = (await client.get(f"/v1/documents/{doc['id']}", headers=AUTH)).json()
            assert listed[doc["id"]]["attempts"] == single["attempts"]
        assert [a["outcome"] for a in listed[fell_back["id"]]["attempts"]] == [
            "unavailable",
            "unavailable",
            "unavailable",
            "accepted",
        ]
        assert [a["account"] for a in listed[direct["id"]]["attempts"]] == ["primary"]


async def test_bodies_that_are_not_utf8_get_a_problem_not_a_500():
    """A JSON string holding bytes that are not UTF-8 (found by the canonical fuzzer: msgspec
    raises UnicodeDecodeError there, not DecodeError) is refused like any other invalid JSON."""
    bad = b'{"country": "CO", "kind": "\x80"}'
    async with running(tenants_toml()) as (client, _):
        for method, path in [
            ("POST", "/v1/documents"),
            ("POST", "/v1/documents/preview"),
            ("PUT", "/v1/routing"),
            ("POST", "/v1/documents/doc_missing/resolve"),
            ("PUT", "/v1/documents/doc_missing"),
        ]:
            r = await client.request(
                method, path, content=bad, headers={**AUTH, "Content-Type": "application/json"}
            )
            assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith(PROBLEM), (method, path)
        r = await client.post("/v1/documents", content=bad, headers=AUTH)
        assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "json-invalid"
