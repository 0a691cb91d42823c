"""OpenAPI details litestar cannot infer.

- The document endpoints read the raw body (the idempotency fingerprint and
  `canonical.validation.prepare` need the exact bytes), so their request body is declared here, as
  the canonical `Document`, with the public examples.
- Every error is an RFC 9457 problem document (gateway.api.problems): `problems(...)` declares, on
  each handler, the statuses it really answers, all with the shared `Problem` schema.
- The file answers (`xml`, `pdf`) are bytes in the media type the gateway sends.
- Who may call: the tenant's API key or the admin key, both bearer tokens.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPI,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.plugins import OpenAPISchemaPlugin
from msgspec import UNSET, UnsetType

from adapters.base import ProviderError
from canonical.errors import FieldError
from gateway.api.problems import PROBLEM_JSON

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

EXAMPLES_DIR: Final = Path(__file__).resolve().parents[2] / "examples"

TENANT_KEY: Final = [{"tenantKey": []}]
ADMIN_KEY: Final = [{"adminKey": []}]
SECURITY_SCHEMES: Final[dict[str, SecurityScheme | Reference]] = {
    "tenantKey": SecurityScheme(
        type="http", scheme="bearer", description="A tenant's API key: `Authorization: Bearer <key>`"
    ),
    "adminKey": SecurityScheme(
        type="http",
        scheme="bearer",
        description="The operator's admin key (PASARELA_ADMIN_KEY): `Authorization: Bearer <key>`",
    ),
}


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details: the body of every error answer (`application/problem+json`).
    `type` is a stable URN (urn:pasarela:problem:<slug>), `status` the answer's HTTP status,
    `request_id` the X-Request-ID to quote when reporting; `errors` names every problem found at
    once (field or parameter path, stable rule, message), `provider_errors` keeps the provider's or
    authority's own codes and text."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | UnsetType = UNSET
    request_id: str | UnsetType = UNSET
    errors: list[FieldError] | UnsetType = UNSET
    provider_errors: list[ProviderError] | UnsetType = UNSET


# status → when the API answers it (a handler may say more for its own case)
WHEN: Final = {
    400: "The request cannot be read: malformed JSON, a parameter or header of the wrong form",
    401: "Missing or unknown key (`Authorization: Bearer <key>`)",
    404: "No such resource for this tenant",
    409: "The resource's state does not allow this now",
    413: "The body is larger than 2 MiB",
    422: "Understood but refused: `errors` names each problem with its path and rule",
    429: "Too many failed authentications from this client: try again after `Retry-After` seconds",
    502: "The provider failed: `provider_errors` carries its own codes and text",
    503: "The gateway's store cannot serve right now: try again after `Retry-After` seconds",
}
AUTHENTICATED: Final = (401, 429, 503)  # any call with a key: unknown key, throttled, store busy
WITH_BODY: Final = (400, 413)  # any call that sends a body


def problems(*statuses: int, when: Mapping[int, str] | None = None) -> dict[int, ResponseSpec]:
    """The error answers of one operation, each an `application/problem+json` `Problem`."""
    said = {**WHEN, **(when or {})}
    return {
        status: ResponseSpec(
            Problem, description=said[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in sorted(set(statuses))
    }


def _examples() -> dict[str, Example | Reference]:
    """The repository's examples (absent from a wheel install: the schema then has none)."""
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {
        path.stem: Example(summary=path.stem, value=msgspec.json.decode(path.read_bytes()))
        for path in sorted(EXAMPLES_DIR.glob("*.json"))
    }


def _document_body() -> RequestBody:
    return RequestBody(
        required=True,
        description="A canonical document (amounts as decimal strings)",
        content={
            "application/json": OpenAPIMediaType(
                schema=Reference(ref="#/components/schemas/Document"), examples=_examples() or None
            )
        },
    )


def _answers_document(operation: Operation, *statuses: str) -> None:
    """Handlers that answer pre-encoded bytes (to store the very bytes for idempotent replays)
    would be documented as answering a string: they answer a DocumentResource."""
    for status in statuses:
        response = (operation.responses or {}).get(status)
        media = (
            response.content.get("application/json") if response is not None and response.content else None
        )
        if media is not None:  # a Response object (not a Reference) that litestar generated
            media.schema = Reference(ref="#/components/schemas/DocumentResource")


def _answers_files(operation: Operation, content: dict[str, Schema]) -> None:
    """A file handler answers `Response[bytes]`, which litestar documents as a string of the
    handler's one media type: it answers these media types."""
    response = (operation.responses or {}).get("200")
    if response is not None and not isinstance(response, Reference):
        response.content = {media: OpenAPIMediaType(schema=schema) for media, schema in content.items()}


BINARY: Final = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


@dataclass
class DocumentOperation(Operation):
    def __post_init__(self, *args: Any) -> None:
        self.request_body = _document_body()
        _answers_document(self, "201", "202")


@dataclass
class NoteOperation(Operation):
    def __post_init__(self, *args: Any) -> None:
        _answers_document(self, "201")


@dataclass
class PreviewOperation(Operation):
    def __post_init__(self, *args: Any) -> None:
        self.request_body = _document_body()


@dataclass
class XmlOperation(Operation):
    """CO: the signed UBL (or AttachedDocument) as XML; SV: MH's DTE, which is JSON (gateway.api.
    documents.MEDIA_BY_COUNTRY), with its JWS where the gateway signed it."""

    def __post_init__(self, *args: Any) -> None:
        _answers_files(
            self,
            {
                "application/xml": BINARY,
                "application/json": Schema(
                    type=OpenAPIType.OBJECT, description="SV: the DTE as Hacienda receives it"
                ),
            },
        )


@dataclass
class PdfOperation(Operation):
    def __post_init__(self, *args: Any) -> None:
        _answers_files(self, {"application/pdf": BINARY})


TIME_OF_DAY: Final = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?$"


class TimeOfDaySchema(OpenAPISchemaPlugin):
    """Litestar documents `datetime.time` as a `duration`; msgspec sends a local time of day
    without offset (`issue_time`: "08:06:22"), which JSON Schema's `time` format (RFC 3339, offset
    required) does not accept either: a pattern says what is sent."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is dt.time

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        return Schema(type=OpenAPIType.STRING, pattern=TIME_OF_DAY)


def _without_litestar_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Litestar documents a 400 in its own `{status_code, detail, extra}` JSON shape for every
    handler with parameters. The API never answers that shape (gateway.api.problems answers every
    error as a problem document), so those go; a handler that can answer 400 declares it."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.get("responses", {})
            for status in [s for s, r in responses.items() if s.startswith("4")]:
                if PROBLEM_JSON not in (responses[status].get("content") or {}):
                    del responses[status]
    return schema


@dataclass
class _ApiSchema(OpenAPI):
    def to_schema(self) -> dict[str, Any]:
        return _without_litestar_errors(super().to_schema())


@dataclass
class ApiDocsConfig(OpenAPIConfig):
    """The gateway's OpenAPI configuration: its document drops Litestar's default error shape."""

    def to_openapi_schema(self) -> OpenAPI:
        base = super().to_openapi_schema()
        return _ApiSchema(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
