"""What /schema/openapi.json promises: every operation's error answers are RFC 9457 problem
documents with one shared `Problem` schema, its security is declared, and its file answers carry
their real media types; the docs UI the README names works offline, its files served by the gateway.
(That a generated client works against it: test_openapi_client.py; that the answers match it:
tests/reliability/test_schemathesis.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from gateway_harness import AUTH, running, tenants_toml

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
