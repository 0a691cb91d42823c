"""`/v1/documents/{id}`: void, correct and resend (`PUT`), credit and debit notes from a stored document."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from gateway.api.deps import service
from gateway.api.documents import REFUSALS, DocumentController, IdempotencyKey, ProviderParam, idempotent
from gateway.api.openapi import AUTHENTICATED, WITH_BODY, NoteOperation, problems
from gateway.api.problems import Problem
from gateway.documents.idempotency import Claim
from gateway.documents.lifecycle import LifecycleRefusal, LifecycleService, VoidRequest
from gateway.documents.resources import DocumentResource
from gateway.documents.service import DocumentNotFound
from gateway.tenants.config import Tenant

_SLUGS = {409: "conflict", 422: "unsupported", 502: "provider"}
ANSWERS = problems(*AUTHENTICATED, *WITH_BODY, 404, 409, 422, 502)  # LifecycleRefusal's statuses, 404


def _lifecycle(request: Request[Any, Any, Any]) -> LifecycleService:
    return LifecycleService(service(request))


def _problem(exc: LifecycleRefusal) -> Problem:
    extensions: dict[str, Any] = {"errors": [{"path": "", "rule": exc.rule, "message": exc.message}]}
    if exc.provider_errors:
        extensions["provider_errors"] = exc.provider_errors
    return Problem(exc.status, _SLUGS.get(exc.status, "conflict"), exc.message, **extensions)


class LifecycleController(DocumentController):
    """The documents controller with the lifecycle operations: `PUT /v1/documents/{id}` shares its
    path with `GET`, and litestar wants one controller per path (one OPTIONS handler each), so the
    app registers this class in place of DocumentController."""

    @post("/{doc_id:str}/void", operation_id="voidDocument", status_code=200, responses=ANSWERS)
    async def void(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        data: JSONBody[VoidRequest],
    ) -> DocumentResource:
        """Void an accepted document: in CO the annulling credit note (full amount, same account),
        linked both ways (`voided_by` / `voids`); in SV the provider's invalidation."""
        try:
            return await _lifecycle(request).void(tenant, doc_id, data.reason)
        except LifecycleRefusal as exc:
            raise _problem(exc) from None

    @put("/{doc_id:str}", operation_id="correctDocument", status_code=200, responses=ANSWERS)
    async def correct(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], doc_id: FromPath[str]
    ) -> DocumentResource:
        """Replace a `rejected` or `failed` document with a corrected canonical body and send it
        again under the same number; earlier attempts stay in its history."""
        try:
            return await _lifecycle(request).correct(tenant, doc_id, await request.body())
        except LifecycleRefusal as exc:
            raise _problem(exc) from None

    @post(
        "/{doc_id:str}/credit-note",
        operation_id="createCreditNote",
        operation_class=NoteOperation,
        status_code=201,
        responses=ANSWERS,
    )
    async def credit_note(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        provider: ProviderParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """A credit note referencing this document (number, fiscal id, date filled in); the body
        holds `reason` and, optionally, `lines` (default: the document's lines)."""
        return await self._note(request, tenant, doc_id, "credit_note", provider, idempotency_key)

    @post(
        "/{doc_id:str}/debit-note",
        operation_id="createDebitNote",
        operation_class=NoteOperation,
        status_code=201,
        responses=ANSWERS,
    )
    async def debit_note(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        provider: ProviderParam = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """A debit note referencing this document; the body holds `reason` and `lines`."""
        return await self._note(request, tenant, doc_id, "debit_note", provider, idempotency_key)

    async def _note(
        self,
        request: Request[Any, Any, Any],
        tenant: Tenant,
        doc_id: str,
        kind: str,
        provider: str | None,
        idempotency_key: str | None,
    ) -> Response[bytes]:
        """Idempotent like `POST /v1/documents`: a repeated request never issues a second note."""
        body = await request.body()

        async def create(key: Claim | None) -> Response[bytes]:
            try:
                note_id = await _lifecycle(request).note(
                    tenant, doc_id, kind, body, provider, idempotency_key=key
                )
            except LifecycleRefusal as exc:
                raise _problem(exc) from None
            return self.created(await service(request).resource(tenant, note_id))

        return await idempotent(
            request, tenant, idempotency_key, body, create, (*REFUSALS, Problem, DocumentNotFound)
        )
