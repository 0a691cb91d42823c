"""RFC 9457 problem details, in one place: every error the API answers goes through `problem()`.

Validation problems carry `errors: [{path, rule, message}]`; upstream rejections carry
`provider_errors: [{code, message}]` with the provider's own text. Nothing else leaks: an
unexpected exception is a 500 with the request id, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from canonical.errors import InvalidDocument
from gateway.documents.idempotency import IdempotencyProblem
from gateway.documents.numbering import NumberingError
from gateway.documents.service import DocumentNotFound, NotResolvable, UnsupportedDocument
from gateway.observability.logs import request_id
from gateway.store import StoreError
from gateway.store.engine import unavailable
from gateway.tenants.routing import RoutingError

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"
TYPE_BASE: Final = "urn:pasarela:problem:"

TITLES: Final = {
    "invalid-document": "The document is not valid",
    "invalid-query": "The query is not valid",
    "unsupported": "No provider account can express this document",
    "routing": "No provider account can take this document",
    "numbering": "No usable numbering range",
    "unauthorized": "Missing or unknown API key",
    "not-found": "Not found",
    "conflict": "Conflict",
    "idempotency": "Idempotency-Key problem",
    "bad-request": "Bad request",
    "too-large": "Request body too large",
    "provider": "The provider failed",
    "store-unavailable": "The gateway's store is busy",
    "internal": "Internal error",
}
STORE_RETRY_AFTER_S: Final = 1  # pool waits are short; a client retrying sooner would only add load
_encoder = msgspec.json.Encoder()


class Problem(Exception):
    def __init__(self, status: int, slug: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail, self.extensions = status, slug, detail, extensions


def problem(status: int, slug: str, detail: str, **extensions: Any) -> Response[bytes]:
    body = {
        "type": TYPE_BASE + slug,
        "title": TITLES.get(slug, slug),
        "status": status,
        "detail": detail,
        **({"request_id": rid} if (rid := request_id()) else {}),
        **extensions,
    }
    return Response(_encoder.encode(body), status_code=status, media_type=PROBLEM_JSON)


def _from_problem(_: Request[Any, Any, Any], exc: Problem) -> Response[bytes]:
    return problem(exc.status, exc.slug, exc.detail, **exc.extensions)


def _invalid(_: Request[Any, Any, Any], exc: InvalidDocument) -> Response[bytes]:
    return problem(
        422, "invalid-document", f"{len(exc.errors)} problem(s) in the document", errors=exc.errors
    )


def _unsupported(_: Request[Any, Any, Any], exc: UnsupportedDocument) -> Response[bytes]:
    return problem(
        422, "unsupported", "the document holds content no eligible account can express", errors=exc.issues
    )


def _routing(_: Request[Any, Any, Any], exc: RoutingError) -> Response[bytes]:
    return problem(
        422, "routing", exc.message, errors=[{"path": exc.path, "rule": exc.rule, "message": exc.message}]
    )


def _numbering(_: Request[Any, Any, Any], exc: NumberingError) -> Response[bytes]:
    return problem(
        422, "numbering", exc.message, errors=[{"path": "kind", "rule": exc.rule, "message": exc.message}]
    )


def _idempotency(_: Request[Any, Any, Any], exc: IdempotencyProblem) -> Response[bytes]:
    return problem(
        exc.status,
        "idempotency",
        exc.message,
        errors=[{"path": "Idempotency-Key", "rule": exc.rule, "message": exc.message}],
    )


def _not_found(_: Request[Any, Any, Any], exc: DocumentNotFound) -> Response[bytes]:
    return problem(404, "not-found", "no such document")


def _not_resolvable(_: Request[Any, Any, Any], exc: NotResolvable) -> Response[bytes]:
    return problem(409, "conflict", str(exc))


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Litestar's own parameter/body validation (query values, resolve bodies)."""
    errors = [
        {"path": e.get("key", ""), "rule": "invalid", "message": e.get("message", "")}
        for e in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(e, dict)
    ]
    return problem(400, "bad-request", exc.detail, errors=errors)


def _not_utf8(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[bytes]:
    """A JSON string holding bytes that are not UTF-8: msgspec raises this, not a decode error,
    while Litestar decodes a body."""
    message = f"the body is not valid JSON: {exc}"
    return problem(
        400, "bad-request", message, errors=[{"path": "", "rule": "json-invalid", "message": message}]
    )


_HTTP_SLUGS: Final = {401: "unauthorized", 404: "not-found", 409: "conflict", 413: "too-large"}


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    response = problem(exc.status_code, _HTTP_SLUGS.get(exc.status_code, "bad-request"), exc.detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _store(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """No free connection, the database out of connections or restarting: temporary, so 503 with
    Retry-After (issue 14: four processes exhausted PostgreSQL's connections and the API answered
    500). Any other store error is a bug: 500."""
    if not unavailable(exc):
        return _internal(request, exc)
    log.warning("store unavailable: %s", exc)
    response = problem(
        503, "store-unavailable", "the gateway cannot reach its store right now; try again shortly"
    )
    response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
    return response


def _internal(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal", "an unexpected error happened; quote the request id when reporting it")


EXCEPTION_HANDLERS: Final = {
    Problem: _from_problem,
    InvalidDocument: _invalid,
    UnsupportedDocument: _unsupported,
    RoutingError: _routing,
    NumberingError: _numbering,
    IdempotencyProblem: _idempotency,
    DocumentNotFound: _not_found,
    NotResolvable: _not_resolvable,
    ValidationException: _validation,
    UnicodeDecodeError: _not_utf8,
    HTTPException: _http,
    StoreError: _store,
    ConnectionError: _store,
    Exception: _internal,
}


def problem_for(exc: Exception) -> Response[bytes]:
    """The answer for a refusal the handler wants to store (idempotent replays) before returning it."""
    for cls, handler in EXCEPTION_HANDLERS.items():
        if isinstance(exc, cls):
            return handler(None, exc)  # type: ignore[operator,arg-type]
    raise TypeError(exc)
