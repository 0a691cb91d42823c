"""OpenAPI details litestar cannot infer: the document endpoints read the raw body (the idempotency
fingerprint and `canonical.validation.prepare` need the exact bytes), so their request body is
declared here, as the canonical `Document`, with the public examples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, Reference, RequestBody

EXAMPLES_DIR: Final = Path(__file__).resolve().parents[2] / "examples"


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
