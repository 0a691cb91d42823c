"""Security: tenant isolation over every endpoint, API keys at rest and in comparison, failed-auth
rate limiting, the request body limit, hostile XML and oversized or compressed provider answers.
(Secrets in logs and responses, and webhook signatures: test_secrets.py.)"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import secrets
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # the gateway test harness
from gateway_harness import AUTH, KEY, OTHER_AUTH, running, tenants_toml

from adapters.base import ProviderFailure
from adapters.http import MAX_BODY, ProviderHttp
from gateway.store.engine import dispose, make_engine
from gateway.store.migrations import upgrade
from gateway.tenants.auth import key_hash
from gateway.tenants.throttle import FailedAuthLimiter

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"\{(\w+)\}")
# Bodies that pass validation, so the only thing left to refuse is the id (schema name → body)
BODIES: dict[str, Any] = {
    "Resolution": {"issued": False},
    "VoidRequest": {"reason": "isolation test"},
    "AccountPatch": {"enabled": False},
    "RotateRequest": {},
    "NextRequest": {"next": 990000500},
}


async def _owned_ids(client: httpx.AsyncClient, example: bytes) -> dict[str, str]:
    """One id of each kind that belongs to tenant t1: a document, a webhook and its delivery, an
    API key, an account and a numbering range."""
    hook = await client.post("/v1/admin/webhooks", json={"url": "http://127.0.0.1:9/hooks"}, headers=AUTH)
    assert hook.status_code in (200, 201), hook.text
    doc = (await client.post("/v1/documents", content=example, headers=AUTH)).json()  # an event
    ids = {"doc_id": doc["id"], "hook_id": hook.json()["id"], "name": "primary"}
    keys = (await client.get("/v1/admin/api-keys", headers=AUTH)).json()
    ids["key_id"] = keys[0]["id"]
    for _ in range(100):
        deliveries = (await client.get("/v1/admin/webhooks/deliveries", headers=AUTH)).json()
        items = deliveries.get("items", deliveries) if isinstance(deliveries, dict) else deliveries
        if items:
            ids["delivery_id"] = str(items[0]["id"])
            break
        await asyncio.sleep(0.02)
    return ids


def _answer(response: httpx.Response) -> tuple[int, Any]:
    """Status and problem detail: what tells one refusal from another (the request id aside)."""
    problem = response.headers.get("content-type", "").startswith(PROBLEM)
    return response.status_code, response.json().get("detail") if problem else None


def _body_for(operation: dict[str, Any], examples: dict[str, bytes]) -> Any:
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if not schema:
        return None
    ref = schema.get("$ref") or next((s.get("$ref") for s in schema.get("oneOf", []) if "$ref" in s), "")
    name = ref.rsplit("/", 1)[-1]
    if name == "Document":
        return json.loads(examples["co-invoice"])
    return BODIES.get(name, {})


async def test_every_endpoint_answers_another_tenants_ids_with_404_never_403(example_bytes):
    """The matrix: each operation of the OpenAPI schema that takes an id, called by tenant t2 with
    t1's id, answers exactly what it answers for an id that does not exist (404), and t1's
    resources are untouched afterwards."""
    async with running(
        tenants_toml(), env={"PASARELA_SECRET_KEY": "isolation-test-secret-key-0123456789"}
    ) as (
        client,
        _,
    ):
        spec = (await client.get("/schema/openapi.json")).json()
        ids = await _owned_ids(client, example_bytes["co-invoice"])
        before = (await client.get(f"/v1/documents/{ids['doc_id']}", headers=AUTH)).json()
        checked, leaks = [], []
        for path, operations in spec["paths"].items():
            params = PARAM.findall(path)
            if not params:
                continue
            for method in METHODS:
                if method not in operations:
                    continue
                # `{name}` is an account's name, or under /numbering/ a numbering range's
                owned = {**ids, "name": "setp"} if "/numbering/" in path else ids
                assert all(p in owned for p in params), (
                    f"no id of t1 for {params} in {path}: extend _owned_ids"
                )
                body = _body_for(operations[method], example_bytes)
                kwargs = {"json": body} if body is not None else {}
                theirs = path.format(**owned)
                missing = path.format(**{p: f"{owned[p]}x{secrets.token_hex(3)}" for p in params})
                cross = await client.request(method.upper(), theirs, headers=OTHER_AUTH, **kwargs)
                absent = await client.request(method.upper(), missing, headers=OTHER_AUTH, **kwargs)
                if method == "get":  # the id is real: its owner is answered otherwise than for no id
                    mine = await client.get(theirs, headers=AUTH)
                    assert _answer(mine) != _answer(absent), theirs
                checked.append(f"{method.upper()} {path}")
                if cross.status_code != 404 or absent.status_code != 404:
                    leaks.append(
                        (method.upper(), path, cross.status_code, absent.status_code, cross.text[:200])
                    )
                    continue
                assert cross.headers["content-type"].startswith(PROBLEM)
                assert (cross.json()["type"], cross.json()["title"]) == (
                    absent.json()["type"],
                    absent.json()["title"],
                )
        assert not leaks, leaks
        assert len(checked) >= 10, checked  # documents, lifecycle and admin operations
        listed = (await client.get("/v1/documents", headers=OTHER_AUTH)).json()["items"]
        assert ids["doc_id"] not in {d["id"] for d in listed}
        after = (await client.get(f"/v1/documents/{ids['doc_id']}", headers=AUTH)).json()
        assert (after["status"], after["attempts"]) == (before["status"], before["attempts"])
        assert (await client.get("/v1/documents", headers=AUTH)).status_code == 200  # t1's key still works
        hooks = (await client.get("/v1/admin/webhooks", headers=AUTH)).json()
        assert ids["hook_id"] in json.dumps(hooks)


async def test_an_idempotency_key_is_scoped_to_its_tenant(example_bytes):
    async with running(tenants_toml()) as (client, _):
        key = {"Idempotency-Key": "same-key-for-both"}
        mine = await client.post(
            "/v1/documents", content=example_bytes["co-invoice"], headers={**AUTH, **key}
        )
        theirs = await client.post(
            "/v1/documents", content=example_bytes["co-invoice"], headers={**OTHER_AUTH, **key}
        )
        assert mine.status_code == theirs.status_code == 201
        assert mine.json()["id"] != theirs.json()["id"]  # not t1's stored answer


async def test_api_keys_are_stored_as_digests_only(tmp_path, example_bytes):
    database = tmp_path / "gw.db"
    async with running(tenants_toml(), env={"PASARELA_DATABASE_URL": f"sqlite:///{database}"}) as (client, _):
        assert (await client.get("/v1/documents", headers=AUTH)).status_code == 200
        # the digest itself is no credential
        digest_as_key = {"Authorization": f"Bearer {key_hash(KEY)}"}
        assert (await client.get("/v1/documents", headers=digest_as_key)).status_code == 401
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("gw.db"))
    assert KEY.encode() not in stored
    assert key_hash(KEY).encode() in stored


async def test_repeated_failed_authentication_is_throttled(example_bytes):
    async with running(tenants_toml()) as (client, _):
        for i in range(20):
            r = await client.get("/v1/documents", headers={"Authorization": f"Bearer guess-{i}"})
            assert r.status_code == 401, (i, r.status_code)
        blocked = await client.get("/v1/documents", headers={"Authorization": "Bearer guess-21"})
        assert blocked.status_code == 429
        assert blocked.headers["content-type"].startswith(PROBLEM)
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert blocked.json()["status"] == 429
        # while blocked, even a valid key is not checked: the answer tells a guesser nothing
        assert (await client.get("/v1/documents", headers=AUTH)).status_code == 429
        assert (await client.get("/healthz")).status_code == 200


async def test_failed_auth_limiter_window_slides_and_is_per_client(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'throttle.db'}")
    await upgrade(engine)
    limiter = FailedAuthLimiter(max_failures=3, window_s=10)
    now = 1000.0
    try:
        for _ in range(3):
            assert await limiter.retry_after(engine, "10.0.0.1", now) is None
            await limiter.failed(engine, "10.0.0.1", now)
            now += 1
        assert await limiter.retry_after(engine, "10.0.0.1", now) == 7  # the first failure leaves at 1010
        assert await limiter.retry_after(engine, "10.0.0.2", now) is None  # another client is not affected
        assert await limiter.retry_after(engine, "10.0.0.1", 1010.5) is None
    finally:
        await dispose(engine)


async def test_request_body_over_the_limit_is_413_problem(example_bytes):
    huge = b'{"padding": "' + b"x" * (3 * 1024 * 1024) + b'"}'

    async def chunked() -> Any:  # no Content-Length: the limit holds while streaming too
        for i in range(0, len(huge), 65536):
            yield huge[i : i + 65536]

    async with running(tenants_toml()) as (client, _):
        for content in (huge, chunked()):
            r = await client.post("/v1/documents", content=content, headers=AUTH)
            assert r.status_code == 413, r.text[:200]
            assert r.headers["content-type"].startswith(PROBLEM)
        assert (await client.get("/v1/documents", headers=AUTH)).json()["items"] == []


# -- hostile provider answers ----------------------------------------------------------------------

SECRET_FILE_TEXT = "TOP-SECRET-XXE-PROBE"
XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{path}">]>'
    '<ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2">'
    "<n>&x;</n></ApplicationResponse>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + ']><ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2">'
    "<n>&lol9;</n></ApplicationResponse>"
)


@pytest.fixture(scope="module")
def dian_signed(tmp_path_factory):
    import dian_support as ds

    from adapters.dian.certificates import load_identity
    from adapters.dian.ubl import build_document
    from adapters.dian.xades import sign
    from simulators.pki import generate

    pki = generate(tmp_path_factory.mktemp("sec-pki"), nit=ds.ISSUER.id_number)
    identity = load_identity(str(pki.p12), pki.password)
    built = build_document(ds.emission(ds.document("co-invoice")), ds.software(), "test")
    return sign(built.root, identity, built.issued_at, built.fiscal_id), identity


@pytest.mark.parametrize("payload", ["xxe", "billion-laughs"])
def test_dian_application_response_with_a_doctype_is_refused(payload, dian_signed, tmp_path):
    from adapters.dian.attached import build_attached

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET_FILE_TEXT)
    hostile = (XXE.format(path=secret_file) if payload == "xxe" else LAUGHS).encode()
    signed, identity = dian_signed
    with pytest.raises(ValueError, match=r"DOCTYPE|well-formed"):
        build_attached(signed, hostile, identity)


@pytest.mark.parametrize("payload", ["xxe", "billion-laughs"])
def test_dian_soap_answer_with_entities_is_never_expanded(payload, tmp_path):
    from adapters.dian.responses import dian_response, parse_envelope

    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET_FILE_TEXT)
    entity = "&x;" if payload == "xxe" else "&lol9;"
    doctype = (
        f'<!DOCTYPE e [<!ENTITY x SYSTEM "file://{secret_file}">]>'
        if payload == "xxe"
        else LAUGHS.split("<ApplicationResponse")[0].removeprefix('<?xml version="1.0"?>')
    )
    soap = (
        f'<?xml version="1.0"?>{doctype}'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><SendBillSyncResponse>'
        f"<SendBillSyncResult><StatusCode>00</StatusCode><StatusDescription>{entity}</StatusDescription>"
        "</SendBillSyncResult></SendBillSyncResponse></s:Body></s:Envelope>"
    ).encode()
    try:
        result = parse_envelope(soap)
    except ValueError:
        return  # refused: fine
    text = json.dumps(str(dian_response(result)))  # type: ignore[arg-type]
    assert SECRET_FILE_TEXT not in text
    assert "lollollol" not in text


@pytest.mark.parametrize("answer", ["gzip-bomb", "huge"])
async def test_oversized_or_compressed_provider_answers_stop_at_the_limit(answer):
    """A provider answer is read at most MAX_BODY bytes after decompression: a gzip bomb (or any
    huge body) is a classified failure, not a process out of memory."""
    size = MAX_BODY * 5
    if answer == "gzip-bomb":
        body = gzip.compress(b"\0" * size, compresslevel=9)  # ~60 KB on the wire
        assert len(body) < MAX_BODY // 100
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    else:
        body, headers = None, {"Content-Type": "application/json"}

    async def streamed() -> AsyncIterator[bytes]:  # as a provider sends it, raw, 64 KiB at a time
        if body is not None:
            for i in range(0, len(body), 65536):
                yield body[i : i + 65536]
            return
        chunk = b"1," * 2**15
        for _ in range(size // len(chunk)):
            yield chunk

    def provider(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=streamed(), headers=headers)

    http = ProviderHttp("http://provider.test", timeout_s=5, transport=httpx.MockTransport(provider))
    tracemalloc.start()
    try:
        with pytest.raises(ProviderFailure) as caught:
            await http.send("POST", "/emit", json={}, emits=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.kind == "ambiguous" and caught.value.code == "too-large"
    assert peak < 3 * MAX_BODY, f"{peak / 2**20:.0f} MiB held for a {size / 2**20:.0f} MiB answer"
    await http.aclose()


async def test_a_compressed_answer_within_the_limit_is_decoded():
    http = ProviderHttp("http://provider.test", timeout_s=5)
    with respx.mock(using="httpx") as mock:
        mock.get("http://provider.test/ok").mock(
            return_value=httpx.Response(
                200, content=gzip.compress(b'{"ok": true}'), headers={"Content-Encoding": "gzip"}
            )
        )
        response = await http.send("GET", "/ok")
    assert response.json() == {"ok": True}
    await http.aclose()


def test_no_adapter_inflates_zip_archives_from_providers():
    """Zip bombs: the adapters build zips (DIAN packages) but never open one a provider sent; the
    documents they fetch are handed back as bytes, bounded by MAX_BODY (above). Should an adapter
    start reading zips, this fails and asks for the size and entry-count checks they need."""
    root = Path(__file__).resolve().parents[2] / "adapters"
    opened = [
        f"{p.relative_to(root)}: {call}"
        for p in root.rglob("*.py")
        for call in re.findall(r"ZipFile\([^)]*\)", p.read_text())
        if not re.search(r",\s*[\"']w[\"']", call)
    ]
    assert opened == [], f"zips read from providers need size and entry-count checks: {opened}"
