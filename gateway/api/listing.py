"""The filters of `GET /v1/documents`: a value the list cannot mean is a 422 problem naming the
query parameter and a stable rule, never a page filtered by it (`?status=bogus` matched nothing and
answered an empty list, `?stauts=failed` was ignored and answered every document).

Litestar checks each parameter against its declared type (enums, dates, limit bounds); its refusal
is re-answered here with the parameter's query name and rule. What a type cannot say (a parameter
that is not a filter, one given twice, a cursor the API never issued, an empty date window) is
checked by `checked_query`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any, Final, Literal, get_args

from litestar import Request, Response
from litestar.exceptions import ValidationException

from canonical import catalogs
from gateway.api.problems import Problem, problem
from gateway.documents.resources import DocumentStatus
from gateway.store import documents as docs

DocumentKind = Literal[tuple(sorted({k for kinds in catalogs.KINDS.values() for k in kinds}))]  # type: ignore[valid-type]
Country = Literal[tuple(sorted(catalogs.COUNTRIES))]  # type: ignore[valid-type]

# query parameter → the rule a value it cannot take breaks
RULES: Final = {
    "status": "query-status",
    "country": "query-country",
    "kind": "query-kind",
    "from": "query-date",
    "to": "query-date",
    "cursor": "query-cursor",
    "limit": "query-limit",
}
ALLOWED: Final = {"status": DocumentStatus, "country": Country, "kind": DocumentKind}  # named in refusals
QUERY_NAMES: Final = {"created_from": "from", "created_to": "to"}  # the handler's names → the query's
UNKNOWN: Final = "query-unknown"
REPEATED: Final = "query-repeated"
EMPTY_WINDOW: Final = "query-date-window"


def _problem(errors: list[dict[str, str]]) -> Problem:
    return Problem(422, "invalid-query", f"{len(errors)} problem(s) in the query", errors=errors)


def refused_by_type(_: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """Litestar's refusal of a filter's value, as the API's own 422."""
    errors = []
    for e in exc.extra if isinstance(exc.extra, list) else []:
        name = QUERY_NAMES.get(e.get("key", ""), e.get("key", ""))
        message = e.get("message", "")
        if name in ALLOWED:
            message += f" (one of: {', '.join(get_args(ALLOWED[name]))})"
        errors.append({"path": name, "rule": RULES.get(name, UNKNOWN), "message": message})
    failure = _problem(errors)
    return problem(failure.status, failure.slug, failure.detail, **failure.extensions)


def checked_query(
    query: Iterable[tuple[str, str]],
    created_from: dt.date | None,
    created_to: dt.date | None,
    cursor: str | None,
) -> tuple[float | None, float | None, tuple[float, str] | None]:
    """The window (UTC epoch seconds) and the cursor position; raises a 422 Problem with every
    problem of the query at once."""
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for name, _ in query:
        if name not in RULES:
            errors.append(
                {"path": name, "rule": UNKNOWN, "message": f"not a filter (filters: {', '.join(RULES)})"}
            )
        elif name in seen:
            errors.append({"path": name, "rule": REPEATED, "message": "given more than once"})
        seen.add(name)
    if created_from and created_to and created_to <= created_from:
        errors.append(
            {"path": "to", "rule": EMPTY_WINDOW, "message": "`to` (exclusive) must be after `from`"}
        )
    position = None
    if cursor is not None:
        try:
            position = docs.decode_cursor(cursor)
            if not math.isfinite(position[0]):
                raise ValueError(cursor)
        except ValueError:
            errors.append(
                {"path": "cursor", "rule": RULES["cursor"], "message": "not a cursor this API returned"}
            )
    if errors:
        raise _problem(errors)
    return _epoch(created_from), _epoch(created_to), position


def _epoch(value: dt.date | None) -> float | None:
    return None if value is None else dt.datetime.combine(value, dt.time(), dt.UTC).timestamp()
