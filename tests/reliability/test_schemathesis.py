"""The API against its own OpenAPI document (`/schema/openapi.json`), fuzzed by schemathesis: valid
and invalid requests for every operation, with and without the API key. No answer is a 5xx, every
4xx is an RFC 9457 problem document (`type`, `title`, `status` equal to the real status), and every
answer is one the document declares: its status, its media type and its body's schema.

The gateway runs on loopback in a thread, in front of the in-process fake provider (nothing leaves
the process). Operations that would make the gateway call a URL from the request body (new accounts,
webhook endpoints, account tests, new tenants) are left out: a fuzzer must not aim it at the network.
`PASARELA_SCHEMATHESIS_EXAMPLES` sets the examples per operation (more with `PASARELA_SOAK=full`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
import gateway_fakes
from gateway_harness import KEY, tenants_toml

from gateway.app import create_app
from gateway.tenants.config import load_config
from simulators.runner import free_port

FULL = os.environ.get("PASARELA_SOAK") == "full"
EXAMPLES = int(os.environ.get("PASARELA_SCHEMATHESIS_EXAMPLES", "300" if FULL else "15"))
OUTBOUND = {  # (method, path) whose body names a URL the gateway would call
    ("POST", "/v1/admin/accounts"),
    ("PATCH", "/v1/admin/accounts/{name}"),
    ("POST", "/v1/admin/accounts/{name}/test"),
    ("POST", "/v1/admin/webhooks"),
    ("POST", "/v1/tenants"),
}
PROBLEM = "application/problem+json"
ADMIN_KEY = "schemathesis-admin-key-0123456789"
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
UNAUTHENTICATED = 12  # below gateway.tenants.throttle.MAX_FAILURES

pytestmark = pytest.mark.timeout(1800 if FULL else 300)


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    assert gateway_fakes.FakeSelfNumbering.name == "fake"
    with tempfile.TemporaryDirectory(prefix="pasarela-schemathesis-") as tmp:
        env = {
            "PASARELA_DATABASE_URL": f"sqlite:///{Path(tmp) / 'gw.db'}",
            "PASARELA_SECRET_KEY": "schemathesis-secret-key-0123456789",
            "PASARELA_ADMIN_KEY": ADMIN_KEY,
        }
        config = load_config(tenants_toml(), env={**os.environ, **env})
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(config), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
            )
        )
        thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the gateway did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(timeout=10)


def test_no_5xx_and_every_4xx_is_a_problem_document(gateway_url):
    schema = schemathesis.openapi.from_url(f"{gateway_url}/schema/openapi.json")
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if (result.ok().method.upper(), result.ok().path) not in OUTBOUND
    ]
    assert len(operations) >= 15, [f"{o.method} {o.path}" for o in operations]
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=not FULL,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            # a few calls without the key (more would trip the failed-auth throttle: 429 for all)
            authenticated = statuses[401] >= UNAUTHENTICATED or sum(statuses.values()) % 7
            key = ADMIN_KEY if case.path.startswith("/v1/tenants") else KEY
            headers = {"Authorization": f"Bearer {key}"} if authenticated else {}
            response = case.call(base_url=gateway_url, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{label} (body {case.body!r:.200}): {response.text[:300]}")
            elif response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]  # schemathesis: lists
                problem = response.json() if content_type[0].startswith(PROBLEM) else None
                if not (
                    isinstance(problem, dict)
                    and problem.get("status") == response.status_code
                    and isinstance(problem.get("type"), str)
                    and isinstance(problem.get("title"), str)
                ):
                    failures.append(f"{label}: not a problem document: {response.text[:300]}")
            try:
                case.validate_response(response, checks=CONFORMANCE, headers=headers)
            except FailureGroup as exc:  # the answer is not the declared one
                failures.append(f"{label}: not as declared: {exc!s:.1500}")

        check()
    print(f"\nschemathesis: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:20])
    assert statuses[401] and any(s < 300 for s in statuses), statuses  # both sides were reached
    assert not statuses[429], statuses  # the throttle never hid the API from the fuzzer
