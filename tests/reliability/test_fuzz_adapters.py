"""Hostile provider answers to every adapter: each documented response (contracts/<provider>/
examples), mutated by hypothesis (fields of the wrong type, fields missing, values replaced) or
replaced whole (an HTML error page, an empty body, bytes that are not UTF-8, truncated JSON or XML,
any status), answered to every operation. Each call returns, or raises one of the four failure
classes (or NotSearchable from `find`, the documented "cannot search"): never another
exception, which dispatch would have to treat as ambiguous and the API might show as a 500.

`PASARELA_FUZZ_EXAMPLES` sets the examples per adapter (more with `PASARELA_SOAK=full`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import (
    Account,
    Emission,
    Issuer,
    NotSearchable,
    NumberingRange,
    Outcome,
    ProviderFailure,
    ProviderRef,
    adapter_class,
)
from canonical.validation import prepare
from contracts import example, example_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dian_support as ds

FULL = os.environ.get("PASARELA_SOAK") == "full"
EXAMPLES = int(os.environ.get("PASARELA_FUZZ_EXAMPLES", "1000" if FULL else "120"))
ROOT = Path(__file__).resolve().parents[2]
BASE = "http://provider.invalid"

pytestmark = pytest.mark.timeout(3600 if FULL else 300)

_tenants = tomllib.loads((ROOT / "examples" / "tenants.toml").read_text())
SV_ISSUER = msgspec.convert(next(t for t in _tenants["tenants"] if t["id"] == "tienda-sv")["issuer"], Issuer)
CREDENTIALS: dict[str, dict[str, str]] = {
    "apidian": {"token": "fuzz-token", "software_pin": "75315"},
    "facepro": {"token": "7|fuzz-token"},
    "smartapp": {"api_key": "sk_fuzz"},
    "koywe": {
        "client_id": "c",
        "client_secret": "s",
        "username": "u",
        "password": "p",
        "account_id": "39",
        "county_ids": {"11001": "496"},
    },
    "smartbill": {"public_key": "pk", "private_key": "sk"},
}
OPERATIONS = ["emit", "status", "find", "fetch_xml", "fetch_pdf"]
REFS = [  # what the gateway holds for an issued document (CO, SV)
    ProviderRef(provider_reference="4839211", fiscal_id="ab" * 48, number="SETP990000001"),
    ProviderRef(
        provider_reference="7C1F0B52-3D1E-4B8A-9F3C-2A6D5E8B1C40",
        fiscal_id="7C1F0B52-3D1E-4B8A-9F3C-2A6D5E8B1C40",
        number="DTE-01-M001P001-000000000000007",
    ),
]
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"


def documented(provider: str) -> list[dict[str, Any]]:
    """The provider's documented responses ({status, headers, body}); DIAN's are SOAP files."""
    if provider == "dian":
        folder = ROOT / "contracts" / "dian" / "examples"
        return [
            {"status": 200, "headers": {"Content-Type": "application/soap+xml"}, "xml": p.read_bytes()}
            for p in sorted(folder.glob("*.xml"))
        ]
    return [
        sample
        for name in example_names(provider)
        if not name.startswith("request.")
        and isinstance(sample := example(provider, name), dict)
        and "status" in sample
    ]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "-1", "NaN", "1e309", "00", "true", "null", "<b>", "🧾"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_json(draw: st.DrawFn, body: Any) -> Any:
    """The documented body with some of its values replaced by others of any type, or removed."""
    if not isinstance(body, (dict, list)) or not body or draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    body = json.loads(json.dumps(body, default=str))
    for _ in range(draw(st.integers(1, 4))):
        node, key = body, None
        for _depth in range(draw(st.integers(0, 4))):
            keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], (dict, list)) or not node[key]:
                break
            node = node[key]
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
    return body


@st.composite
def mutated_xml(draw: st.DrawFn, xml: bytes) -> bytes:
    """The documented SOAP answer with elements' text replaced, elements removed, or cut short."""
    from lxml import etree

    root = etree.fromstring(xml)
    elements = [el for el in root.iter() if isinstance(el.tag, str)]
    for _ in range(draw(st.integers(1, 4))):
        el = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["text", "remove", "empty"]))
        if action == "text":
            el.text = draw(st.text(max_size=20).map(lambda t: "".join(c for c in t if c.isprintable())))
        elif action == "remove" and el.getparent() is not None:
            el.getparent().remove(el)
            elements = [e for e in root.iter() if isinstance(e.tag, str)]
        else:
            el.text, el[:] = None, []
    data = etree.tostring(root)
    if draw(st.integers(0, 5)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def answers(draw: st.DrawFn, provider: str) -> httpx.Response:
    samples = documented(provider)
    sample = draw(st.sampled_from(samples))
    shape = draw(st.sampled_from(["mutated", "mutated", "mutated", "html", "empty", "binary", "truncated"]))
    status = draw(
        st.sampled_from(
            [sample["status"], sample["status"], 200, 201, 400, 401, 404, 422, 429, 500, 502, 503]
        )
    )
    headers = {"Content-Type": "application/json"}
    if shape == "html":
        content, headers = HTML, {"Content-Type": "text/html"}
    elif shape == "empty":
        content = b""
    elif shape == "binary":
        content = draw(st.binary(max_size=64)) + b"\xff\xfe\xc3"
    elif "xml" in sample:
        headers = sample["headers"]
        content = draw(mutated_xml(sample["xml"]))
    else:
        body = sample.get("body")
        content = json.dumps(draw(mutated_json(body)), default=str).encode()
        if shape == "truncated" and content:
            content = content[: draw(st.integers(0, len(content) - 1))]
    if draw(st.booleans()):
        headers = {
            **headers,
            "Retry-After": draw(st.sampled_from(["0", "1", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"])),
        }
    return httpx.Response(status, content=content, headers=headers)


def emission_for(provider: str) -> Emission:
    if provider in ("smartbill", "hacienda"):
        document, totals = prepare((ROOT / "examples" / "sv-invoice.json").read_bytes())
        numbering = (
            NumberingRange(name="sv-fe", kinds=["invoice"], prefix="M001P001")
            if provider == "hacienda"
            else None
        )
        return Emission(
            document=document,
            totals=totals,
            issuer=SV_ISSUER,
            reference="ref-fuzz",
            consecutive=1 if numbering else None,
            numbering=numbering,
        )
    document = ds.document("co-invoice")
    if provider in ("facepro", "smartapp"):  # no field for credit terms: refused, never dropped
        document = msgspec.structs.replace(
            document, payment=msgspec.structs.replace(document.payment, form="cash", due_date=None)
        )
    if provider == "smartapp":  # nor for the customer's address codes
        document = msgspec.structs.replace(
            document, customer=msgspec.structs.replace(document.customer, address=None)
        )
    return ds.emission(document)


@pytest.fixture(scope="module")
def hacienda_credentials(tmp_path_factory) -> dict[str, str]:
    from adapters.hacienda.certificate import write_test_certificate

    crt = write_test_certificate(SV_ISSUER.id_number or "", "fuzz-key", tmp_path_factory.mktemp("fuzz-mh"))
    return {
        "user": SV_ISSUER.id_number or "",
        "password": "p",
        "certificate": str(crt),
        "certificate_password": "fuzz-key",
    }


@pytest.fixture(scope="module")
def dian_credentials(tmp_path_factory) -> dict[str, str]:
    from simulators.pki import generate

    pki = generate(tmp_path_factory.mktemp("fuzz-pki"), nit=ds.ISSUER.id_number)
    return {
        "software_id": ds.SOFTWARE_ID,
        "software_pin": ds.SOFTWARE_PIN,
        "certificate": str(pki.p12),
        "certificate_password": pki.password,
    }


async def call(
    provider: str, credentials: dict[str, str], operation: str, ref: ProviderRef, answer: Any
) -> Any:
    account = Account(
        name=provider, provider=provider, base_url=f"{BASE}/api", credentials=credentials, timeout_s=1
    )
    adapter = adapter_class(provider)(account)
    emission = emission_for(provider)
    logins = {"koywe": r".*/auth$", "hacienda": r".*/seguridad/auth$"}
    koywe_auth = (
        httpx.Response(200, json=example(provider, "auth.200")["body"]) if provider in logins else None
    )
    try:
        with respx.mock(using="httpx", assert_all_called=False) as mock:
            if (
                koywe_auth is not None and answer[1]
            ):  # most of the time the login works, then the call is fuzzed
                mock.post(url__regex=logins[provider]).mock(return_value=koywe_auth)
            mock.route().mock(return_value=answer[0])
            if operation == "emit":
                return await adapter.emit(emission)
            if operation == "find":
                return await adapter.find(emission)
            return await getattr(adapter, operation)(ref)
    finally:
        closer = getattr(adapter, "aclose", None)
        if closer is not None:
            await closer()


def well_typed(result: Any) -> None:
    """What an adapter returns is stored as is: its ids and texts must be strings (a list where a
    CUFE belongs would fail later, in the store, after the document was issued)."""
    if isinstance(result, Outcome):
        a = result.authority
        texts = {
            "provider_reference": result.provider_reference,
            "number": result.number,
            "fiscal_id": result.fiscal_id,
            "authority.code": a.code,
            "authority.message": a.message,
            "authority.seal": a.seal,
            **{f"authority.errors[{i}]": e.message for i, e in enumerate(a.errors)},
            **{f"warnings[{i}]": w for i, w in enumerate(result.warnings)},
        }
        wrong = {k: v for k, v in texts.items() if v is not None and not isinstance(v, str)}
        assert not wrong, wrong
    elif isinstance(result, ProviderRef):
        assert all(t is None or isinstance(t, str) for t in (result.provider_reference, result.fiscal_id)), (
            result
        )
    else:
        assert result is None or isinstance(result, bytes), type(result)


@pytest.mark.parametrize(
    "provider", ["apidian", "facepro", "smartapp", "koywe", "smartbill", "dian", "hacienda"]
)
def test_malformed_provider_answers_are_classified_failures(provider, request):
    fixtures = {"dian": "dian_credentials", "hacienda": "hacienda_credentials"}
    credentials = (
        request.getfixturevalue(fixtures[provider]) if provider in fixtures else CREDENTIALS[provider]
    )
    seen: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not FULL,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        operation=st.sampled_from(OPERATIONS),
        ref=st.sampled_from(REFS),
        answer=st.tuples(answers(provider), st.integers(0, 4).map(bool)),
    )
    def run(operation: str, ref: ProviderRef, answer: Any) -> None:
        try:
            result = asyncio.run(call(provider, credentials, operation, ref, answer))
            well_typed(result)
            outcome = "returned"
        except ProviderFailure as exc:
            outcome = exc.kind
        except NotSearchable:
            assert operation == "find", "only find() may say it cannot search"
            outcome = "cannot-search"
        seen[outcome] = seen.get(outcome, 0) + 1

    run()
    assert sum(seen.values()) >= min(EXAMPLES, 20)
    assert set(seen) - {"returned", "cannot-search"}, seen  # the fuzzing reached the failure paths


@pytest.mark.parametrize("provider", ["apidian", "facepro", "smartapp", "koywe", "smartbill"])
async def test_a_huge_answer_is_a_classified_failure(provider):
    """25 MB of JSON from a provider: refused at the body limit, never parsed."""
    huge = httpx.Response(200, content=b'{"data": "' + b"x" * (25 * 2**20) + b'"}')
    with pytest.raises(ProviderFailure) as caught:
        await call(provider, CREDENTIALS[provider], "emit", REFS[0], (huge, True))
    assert (caught.value.kind, caught.value.code) == ("ambiguous", "too-large")
