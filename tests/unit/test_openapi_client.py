"""The served OpenAPI is good enough to generate a working client: openapi-python-client (with
clients/openapi-python-client.yaml, the settings the README gives integrators) reads
/schema/openapi.json without a warning, and the client it writes creates a document, reads it back,
parses a 422 problem and downloads the XML from a gateway on loopback. Generation is offline: the
generator is a dev dependency, its formatter (ruff) too."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_harness import KEY, running, tenants_toml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "clients" / "openapi-python-client.yaml"
BIN = Path(sys.executable).parent


def _generate(schema: Path, where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(schema),
            "--config",
            str(SETTINGS),
            "--output-path",
            str(where / "pasarela_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},  # its ruff hooks
        check=False,
    )


@pytest.mark.timeout(180)
async def test_a_generated_client_creates_reads_parses_a_422_and_downloads_the_xml(
    example_bytes, tmp_path, monkeypatch
):
    async with running(tenants_toml()) as (http, _):
        schema = tmp_path / "openapi.json"
        schema.write_bytes((await http.get("/schema/openapi.json")).content)
        generated = await asyncio.to_thread(_generate, schema, tmp_path)
        output = generated.stdout + generated.stderr
        assert generated.returncode == 0, output
        assert "warning" not in output.lower(), output

        monkeypatch.syspath_prepend(str(tmp_path))
        client_module = importlib.import_module("pasarela_client")
        documents = importlib.import_module("pasarela_client.api.documents")
        models = importlib.import_module("pasarela_client.models")
        for name in ("create_document", "get_document", "get_document_xml"):
            importlib.import_module(f"pasarela_client.api.documents.{name}")
        client = client_module.AuthenticatedClient(base_url=str(http.base_url), token=KEY)

        # create, then read back
        body = models.Document.from_dict(json.loads(example_bytes["co-invoice"]))
        created = await documents.create_document.asyncio_detailed(client=client, body=body)
        assert created.status_code == 201, created.content
        assert isinstance(created.parsed, models.DocumentResource)
        assert created.parsed.status == "accepted" and created.parsed.number
        read = await documents.get_document.asyncio(created.parsed.id, client=client)
        assert isinstance(read, models.DocumentResource)
        assert (read.id, read.number, read.totals.payable) == (
            created.parsed.id,
            created.parsed.number,
            created.parsed.totals.payable,
        )

        # a 422 is a Problem with every error's path and rule
        invalid = json.loads(example_bytes["co-invoice"])
        invalid["lines"][0]["quantity"] = "-1"
        invalid["customer"]["check_digit"] = "0"
        refused = await documents.create_document.asyncio_detailed(
            client=client, body=models.Document.from_dict(invalid)
        )
        assert refused.status_code == 422
        problem = refused.parsed
        assert isinstance(problem, models.Problem), refused.content
        assert problem.status == 422 and problem.type_.endswith("invalid-document")
        assert {"lines[0].quantity", "customer.check_digit"} <= {e.path for e in problem.errors}
        assert all(e.rule for e in problem.errors)

        # the XML, as bytes
        xml = await documents.get_document_xml.asyncio_detailed(created.parsed.id, client=client)
        assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
        assert xml.parsed.payload.read() == b"<Invoice><ID>F1</ID></Invoice>"

        # a missing key is a parsed 401 problem too
        anonymous = client_module.Client(base_url=str(http.base_url))
        unauthorized = await documents.get_document.asyncio_detailed(created.parsed.id, client=anonymous)
        assert unauthorized.status_code == 401 and isinstance(unauthorized.parsed, models.Problem)
