"""What /schema/openapi.json promises: every operation's error answers are RFC 9457 problem
documents with one shared `Problem` schema, its security is declared, and its file answers carry
their real media types; the docs UI the README names works offline, its files served by the gateway.
(That a generated client works against it: test_openapi_client.py; that the fuzzer's answers match
it: tests/reliability/test_schemathesis.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gateway_harness import AUTH, running, tenants_toml
from jsonschema import Draft202012Validator

PROBLEM = "application/problem+json"
README = Path(__file__).resolve().parents[2] / "README.md"
OPEN = {"/healthz", "/metrics"}  # no key


def _operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    ]


async def test_every_error_answer_is_a_declared_problem_document():
    async with running(tenants_toml()) as (client, _):
        schema = (await client.get("/schema/openapi.json")).json()
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"instance", "request_id", "errors", "provider_errors"} <= set(problem["properties"])
    assert schema["components"]["schemas"]["FieldError"]["required"] == ["message", "path", "rule"]
    assert {"code", "message"} <= set(schema["components"]["schemas"]["ProviderError"]["required"])
    operations = _operations(schema)
    assert len(operations) >= 35
    for method, path, op in operations:
        errors = {s: r for s, r in op["responses"].items() if s >= "400"}
        for status, response in errors.items():  # none in Litestar's {status_code, detail, extra}
            assert list(response["content"]) == [PROBLEM], (method, path, status)
            assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert response["description"]
        expected = {"503"} if path in OPEN else {"401", "429", "503"}
        assert expected <= set(errors), (method, path, sorted(errors))
        if method in {"POST", "PUT", "PATCH"} and op.get("requestBody"):
            assert {"400", "413"} <= set(errors), (method, path, sorted(errors))
    by_id = {op["operationId"]: op["responses"] for _, _, op in operations}
    assert {"409", "422"} <= set(by_id["createDocument"])  # idempotency in flight; invalid body
    assert "404" in by_id["getDocument"] and "422" in by_id["listDocuments"]
    assert {"404", "502"} <= set(by_id["getDocumentXml"])


async def test_security_is_declared_tenant_key_and_admin_key_bearer():
    async with running(tenants_toml()) as (client, _):
        schema = (await client.get("/schema/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tenantKey"] == schemes["tenantKey"] | {"type": "http", "scheme": "bearer"}
    assert schemes["adminKey"] == schemes["adminKey"] | {"type": "http", "scheme": "bearer"}
    for _, path, op in _operations(schema):
        if path in OPEN:
            assert "security" not in op, path
        elif path.startswith("/v1/tenants"):
            assert op["security"] == [{"adminKey": []}], path
        else:
            assert op["security"] == [{"tenantKey": []}], path


async def test_files_carry_their_real_media_types():
    async with running(tenants_toml()) as (client, _):
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    xml = paths["/v1/documents/{doc_id}/xml"]["get"]["responses"]["200"]["content"]
    assert list(xml) == ["application/xml", "application/json"]  # CO's UBL; SV's DTE is JSON
    assert xml["application/xml"]["schema"] == {"type": "string", "format": "binary"}
    assert xml["application/json"]["schema"]["type"] == "object"
    pdf = paths["/v1/documents/{doc_id}/pdf"]["get"]["responses"]["200"]["content"]
    assert pdf == {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}


async def test_the_docs_ui_the_readme_names_loads_only_files_the_gateway_serves():
    assert "`/schema/swagger` to browse" in README.read_text()
    async with running(tenants_toml()) as (client, _):
        for page in ("/schema/swagger", "/schema"):
            r = await client.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
            links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text)
            assert len(links) == 4, links  # script, preset, style sheet, icon
            assert all(link.startswith("/schema/assets/") for link in links), links  # no CDN
            assert "SwaggerUIBundle(" in r.text and '"openapi":"3.1' in r.text.replace(" ", "")
        media = {}
        for link in links:
            asset = await client.get(link)
            assert asset.status_code == 200 and asset.content, link
            media[link.rsplit("/", 1)[1]] = asset.headers["content-type"].split(";")[0]
        assert media == {
            "favicon-32x32.png": "image/png",
            "swagger-ui.css": "text/css",
            "swagger-ui-bundle.js": "text/javascript",
            "swagger-ui-standalone-preset.js": "text/javascript",
        }
        bundle = (await client.get("/schema/assets/swagger-ui-bundle.js")).text
        version = re.search(r'PACKAGE_VERSION:"(\d+)\.', bundle)
        assert version and int(version.group(1)) >= 5  # Swagger UI 5 renders OpenAPI 3.1; 4 does not
        r = await client.get("/schema/assets/swagger-editor-bundle.js", headers=AUTH)
        assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


class _StoreDown:
    def connect(self) -> Any:
        raise OSError("connection refused")


async def test_the_errors_that_really_occur_are_answered_as_declared(example_bytes, monkeypatch):
    """Each refusal a client meets, provoked for real: its status is declared for the operation and
    its body is valid for the `Problem` schema (the throttle's 429 and the body limit's 413, which
    the fuzzer never reaches, included)."""
    async with running(tenants_toml()) as (client, rt):
        schema = (await client.get("/schema/openapi.json")).json()
        doc = (await client.post("/v1/documents", content=example_bytes["co-invoice"], headers=AUTH)).json()
        invalid = json.loads(example_bytes["co-invoice"])
        invalid["customer"]["check_digit"] = "0"
        doc_path = "/v1/documents/{doc_id}"
        provoked = [
            ("post", "/v1/documents", 422, client.post("/v1/documents", json=invalid, headers=AUTH)),
            (
                "post",
                "/v1/documents",
                400,
                client.post("/v1/documents", content=b"{}", headers=AUTH | {"Idempotency-Key": ""}),
            ),
            (
                "post",
                "/v1/documents",
                413,
                client.post("/v1/documents", content=b" " * (3 << 20), headers=AUTH),
            ),
            ("get", doc_path, 404, client.get("/v1/documents/doc_0000", headers=AUTH)),
            ("get", doc_path, 401, client.get(f"/v1/documents/{doc['id']}")),
            (
                "post",
                f"{doc_path}/resolve",
                409,
                client.post(f"/v1/documents/{doc['id']}/resolve", json={"issued": False}, headers=AUTH),
            ),
            ("get", "/v1/documents", 422, client.get("/v1/documents?status=bogus", headers=AUTH)),
            ("get", f"{doc_path}/pdf", 404, client.get(f"/v1/documents/{doc['id']}/pdf", headers=AUTH)),
        ]
        answers = [(m, p, s, await call) for m, p, s, call in provoked]
        for _ in range(20):  # gateway.tenants.throttle.MAX_FAILURES unknown keys: then 429
            await client.get("/v1/providers", headers={"Authorization": "Bearer nope"})
        answers.append(("get", "/v1/providers", 429, await client.get("/v1/providers", headers=AUTH)))
        monkeypatch.setattr(rt, "reader", _StoreDown())
        answers.append(("get", "/healthz", 503, await client.get("/healthz")))
    problem = Draft202012Validator({"$ref": "#/components/schemas/Problem", **schema})
    for method, path, status, r in answers:
        assert r.status_code == status, (method, path, r.status_code, r.text)
        assert str(status) in schema["paths"][path][method]["responses"], (method, path, status)
        assert r.headers["content-type"].startswith(PROBLEM), (method, path, status)
        body = r.json()
        assert not list(problem.iter_errors(body)) and body["status"] == status, (method, path, body)
