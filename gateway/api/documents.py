"""`/v1/documents`: create (sync or async, idempotent), preview, read, list, refresh, resolve, XML/PDF,
deliver (the buyer's copy by e-mail)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter

from adapters.base import Adapter, ProviderFailure, ProviderRef
from canonical.errors import InvalidDocument
from gateway import printout
from gateway.api.deps import current_tenant, runtime, service
from gateway.api.listing import Country, DocumentKind, checked_query, refused_by_type
from gateway.api.openapi import (
    AUTHENTICATED,
    TENANT_KEY,
    WITH_BODY,
    DocumentOperation,
    PdfOperation,
    PreviewOperation,
    XmlOperation,
    problems,
)
from gateway.api.problems import PROBLEM_JSON, Problem, problem_for
from gateway.delivery import mail as delivery
from gateway.documents import idempotency
from gateway.documents.numbering import NumberingError
from gateway.documents.resources import (
    DocumentPage,
    DocumentResource,
    DocumentStatus,
    document_resource,
    provider_ref,
)
from gateway.documents.service import Preview, Resolution, UnsupportedDocument
from gateway.store import documents as docs
from gateway.store import jobs
from gateway.store.records import authority_of
from gateway.tenants.config import Tenant
from gateway.tenants.routing import RoutingError

_encoder = msgspec.json.Encoder()
REFUSALS = (InvalidDocument, RoutingError, NumberingError, UnsupportedDocument)  # answered, stored, replayed

# file kind → the adapter's fetch (None: the provider has no such file), media type, name in messages
Fetch = Callable[[Adapter, ProviderRef], Awaitable[bytes | None]]
FILES: Final[dict[str, tuple[Fetch, str, str]]] = {
    "xml": (lambda adapter, ref: adapter.fetch_xml(ref), "application/xml", "XML"),
    "attached": (lambda adapter, ref: adapter.fetch_attached(ref), "application/xml", "AttachedDocument"),
    "pdf": (lambda adapter, ref: adapter.fetch_pdf(ref), "application/pdf", "PDF"),
}


class DeliveryRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /v1/documents/{id}/deliver`: other addresses than the buyer's, if given."""

    to: list[str] | None = None


# Where the authority's document is not XML: MH's DTE is JSON (with its signed JWS), served at /xml.
MEDIA_BY_COUNTRY: Final = {("xml", "SV"): "application/json"}

CREATE_REFUSALS: Final = {
    409: "A request with this Idempotency-Key is still in progress",
    422: "Nothing was created: the document is invalid, no account can take or express it, no numbering "
    "range is usable, or the Idempotency-Key was used with another body",
}
FILE_REFUSALS: Final = {
    404: "No such document, or no such file for it (not accepted, or the account does not provide it)"
}

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key", description="Makes the request safe to repeat (IETF draft); kept 24 h"
    ),
]
ProviderParam = Annotated[
    str | None,
    QueryParameter(
        name="provider", description="Force one provider account (an account name; skips routing)"
    ),
]


async def idempotent(
    request: Request[Any, Any, Any],
    tenant: Tenant,
    header: str | None,
    body: bytes,
    run: Callable[[idempotency.Claim | None], Awaitable[Response[bytes]]],
    refusals: tuple[type[Exception], ...],
    *,
    created_status: int = 201,
) -> Response[bytes]:
    """`run(claim)` at most once per Idempotency-Key (which `run` links to the document it creates,
    in the creating transaction): a repeat gets the stored answer, refusals included, or, when the
    first request died after creating its document, that document with `created_status` (what the
    first request would have answered: 202 for `mode=async`). An unexpected error stores nothing:
    the client may try again."""
    if header is None:
        try:
            return await run(None)
        except refusals as exc:
            return problem_for(exc)
    rt = runtime(request)
    claim = idempotency.Claim(idempotency.parse_key(header), jobs.owner(rt.worker_id))
    replay = await idempotency.begin(
        rt.engine,
        tenant.id,
        claim,
        idempotency.fingerprint(request.method, request.url.path, request.url.query or "", body),
        rt.clock(),
        stale_after_s=tenant.dispatch.lease_s,
    )
    if replay is not None and replay.body is not None:
        media = PROBLEM_JSON if (replay.status_code or 0) >= 400 else "application/json"
        return Response(replay.body, status_code=replay.status_code or 200, media_type=media)
    if replay is not None and replay.document_id is not None:
        content = _encoder.encode(await service(request).resource(tenant, replay.document_id))
        await idempotency.finish(rt.engine, tenant.id, claim.key, created_status, content)
        return Response(
            content,
            status_code=created_status,
            media_type="application/json",
            headers={"Location": f"/v1/documents/{replay.document_id}"},
        )
    try:
        answer = await run(claim)
    except refusals as exc:
        answer = problem_for(exc)
    except BaseException:
        await idempotency.abandon(rt.engine, tenant.id, claim)
        raise
    await idempotency.finish(rt.engine, tenant.id, claim.key, answer.status_code, answer.content)
    return answer


class DocumentController(Controller):
    path = "/v1/documents"
    tags: ClassVar[list[str]] = ["documents"]
    security = TENANT_KEY
    dependencies: ClassVar[dict[str, Provide]] = {"tenant": Provide(current_tenant)}

    @post(
        "/",
        operation_id="createDocument",
        operation_class=DocumentOperation,
        status_code=201,
        # generate_examples=False: litestar would fill the shared DocumentResource component with
        # random examples whenever this handler's schema happens to be built first (hash-seed order)
        responses={
            202: ResponseSpec(DocumentResource, description="Queued (`mode=async`)", generate_examples=False),
            **problems(*AUTHENTICATED, *WITH_BODY, 409, 422, when=CREATE_REFUSALS),
        },
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        provider: ProviderParam = None,
        mode: Annotated[
            Literal["sync", "async"], QueryParameter(description="async: answer 202 at once")
        ] = "sync",
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """Emit a fiscal document: validate, number, route, dispatch (or queue with `mode=async`).

        201 with the document whatever its status; 422 when the body is invalid (nothing created)."""
        body = await request.body()

        status = 202 if mode == "async" else 201

        async def create(claim: idempotency.Claim | None) -> Response[bytes]:
            resource = await service(request).create_resource(
                tenant, body, provider=provider, asynchronous=mode == "async", idempotency_key=claim
            )
            return self.created(resource, status)

        return await idempotent(
            request, tenant, idempotency_key, body, create, REFUSALS, created_status=status
        )

    def created(self, resource: DocumentResource, status: int = 201) -> Response[bytes]:
        return Response(
            _encoder.encode(resource),
            status_code=status,
            media_type="application/json",
            headers={"Location": f"{self.path}/{resource.id}"},
        )

    @post(
        "/preview",
        operation_id="previewDocument",
        operation_class=PreviewOperation,
        status_code=200,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 422),
    )
    async def preview(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], provider: ProviderParam = None
    ) -> Preview:
        """Validate, compute totals and show the payload every eligible account (or the one named)
        would receive, with `unsupported` errors. Nothing is stored or sent."""
        return await service(request).preview(tenant, await request.body(), provider)

    @get(
        "/",
        operation_id="listDocuments",
        exception_handlers={ValidationException: refused_by_type},
        responses=problems(
            *AUTHENTICATED,
            422,
            when={422: "A filter the list cannot apply: unknown, repeated or a bad value"},
        ),
    )
    async def list_documents(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        status: FromQuery[DocumentStatus | None] = None,
        country: FromQuery[Country | None] = None,
        kind: FromQuery[DocumentKind | None] = None,
        created_from: Annotated[
            dt.date | None, QueryParameter(name="from", description="created on or after (UTC)")
        ] = None,
        created_to: Annotated[
            dt.date | None, QueryParameter(name="to", description="created before (UTC)")
        ] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> DocumentPage:
        """This tenant's documents, newest first; follow `next_cursor` for the next page. A filter
        it cannot apply (unknown value or name, repeated, bad date or cursor) is a 422 naming it."""
        since, until, position = checked_query(
            request.query_params.multi_items(), created_from, created_to, cursor
        )
        async with runtime(request).reader.connect() as conn:
            rows, next_cursor = await docs.list_page(
                conn,
                tenant.id,
                status=status,
                country=country,
                kind=kind,
                created_from=since,
                created_to=until,
                cursor=position,
                limit=limit,
            )
            attempts = await docs.attempts_of_each(conn, [r.id for r in rows])
        return DocumentPage(
            items=[document_resource(r, attempts[r.id]) for r in rows], next_cursor=next_cursor
        )

    @get("/{doc_id:str}", operation_id="getDocument", responses=problems(*AUTHENTICATED, 404))
    async def get_document(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], doc_id: FromPath[str]
    ) -> DocumentResource:
        """One document, with its attempts. Another tenant's document id is 404."""
        return await service(request).resource(tenant, doc_id)

    @post(
        "/{doc_id:str}/refresh",
        operation_id="refreshDocument",
        status_code=200,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def refresh(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], doc_id: FromPath[str]
    ) -> DocumentResource:
        """Ask the provider now: status of a `pending` document, reconciliation of an `unknown` one."""
        return await service(request).refresh(tenant, doc_id)

    @post(
        "/{doc_id:str}/resolve",
        operation_id="resolveDocument",
        status_code=200,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409, when={409: "The document is not `unknown`"}),
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        data: JSONBody[Resolution],
    ) -> DocumentResource:
        """Settle an `unknown` document: `{"issued": true, "provider_reference": ...}` adopts it;
        `{"issued": false}` lets dispatch resend or fall back."""
        return await service(request).resolve(tenant, doc_id, data)

    @post(
        "/{doc_id:str}/deliver",
        operation_id="deliverDocument",
        status_code=202,
        responses=problems(*AUTHENTICATED, *WITH_BODY, 404, 409, 422),
    )
    async def deliver(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        data: JSONBody[DeliveryRequest | None] = None,
    ) -> DocumentResource:
        """Send the buyer's copy again (a direct-DIAN document of a tenant with `[tenants.email]`),
        to the buyer or to the addresses given; `delivery` on the answer shows it queued."""
        rt = runtime(request)
        to = data.to if data is not None else None
        bad = [
            {"path": f"to[{i}]", "rule": "email-address", "message": f"not an e-mail address: {a!r}"}
            for i, a in enumerate(to or [])
            if not delivery.ADDRESS.match(a)
        ]
        if bad or to == []:
            errors = bad or [{"path": "to", "rule": "email-address", "message": "name at least one address"}]
            raise Problem(422, "validation", "the addresses cannot be used", errors=errors)
        async with rt.engine.begin() as conn:
            row = await docs.get(conn, doc_id, tenant.id)
            if row is None:
                raise Problem(404, "not-found", "no such document")
            if not delivery.enabled(tenant):
                raise Problem(409, "delivery-off", "this tenant has no [tenants.email] delivery enabled")
            if row.provider not in delivery.PROVIDERS or row.status != "accepted":
                raise Problem(
                    409,
                    "not-deliverable",
                    f"the gateway mails accepted documents it signs itself; this one is {row.status}"
                    f" through {row.provider or 'no provider'}",
                )
            if not await delivery.schedule_in(conn, tenant, row, rt.clock(), to):
                raise Problem(
                    422,
                    "validation",
                    "the document names no buyer e-mail",
                    errors=[
                        {"path": "to", "rule": "email-address", "message": "give the addresses to send to"}
                    ],
                )
        return await service(request).resource(tenant, doc_id)

    @get(
        "/{doc_id:str}/xml",
        operation_id="getDocumentXml",
        media_type="application/xml",
        operation_class=XmlOperation,
        responses=problems(*AUTHENTICATED, 400, 404, 502, when=FILE_REFUSALS),
    )
    async def xml(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        container: Annotated[
            Literal["attached"] | None,
            QueryParameter(description="attached: DIAN's AttachedDocument (document + ApplicationResponse)"),
        ] = None,
    ) -> Response[bytes]:
        """The signed UBL (CO, application/xml) or the DTE (SV, application/json: with its JWS where the
        gateway signed it), where the account provides it."""
        return await self._file(request, tenant, doc_id, container or "xml")

    @get(
        "/{doc_id:str}/pdf",
        operation_id="getDocumentPdf",
        media_type="application/pdf",
        operation_class=PdfOperation,
        responses=problems(*AUTHENTICATED, 404, 502, when=FILE_REFUSALS),
    )
    async def pdf(
        self, request: Request[Any, Any, Any], tenant: NamedDependency[Tenant], doc_id: FromPath[str]
    ) -> Response[bytes]:
        """The printable representation: the gateway's own for the documents it signs itself (direct
        DIAN, direct Hacienda), otherwise the provider's, where its account provides one."""
        return await self._file(request, tenant, doc_id, "pdf")

    async def _file(
        self,
        request: Request[Any, Any, Any],
        tenant: NamedDependency[Tenant],
        doc_id: FromPath[str],
        kind: str,
    ) -> Response[bytes]:
        rt = runtime(request)
        async with rt.reader.connect() as conn:
            row = await docs.get(conn, doc_id, tenant.id)
        if row is None:
            raise Problem(404, "not-found", "no such document")
        fetch, media, label = FILES[kind]
        media = MEDIA_BY_COUNTRY.get((kind, row.country), media)
        if kind == "xml" and row.xml:
            return Response(row.xml, media_type=media)
        account = tenant.account(row.account or "")
        if row.status != "accepted" or account is None:
            raise Problem(404, "not-found", f"no {label} for a document in status {row.status}")
        if kind == "pdf" and row.xml and printout.can_print(row.provider):
            # ~12 ms of CPU: off the event loop, so other requests are not held behind it
            seal = authority_of(row).seal
            pdf = await asyncio.to_thread(delivery.tenant_pdf, tenant, row.provider or "", row.xml, seal)
            return Response(pdf, media_type=media)
        try:
            content = await fetch(rt.adapter(tenant.id, account), provider_ref(row))
        except ProviderFailure as exc:
            raise Problem(
                502,
                "provider",
                f"{account.name}: {exc.message}",
                provider_errors=[{"code": exc.code or "", "message": exc.message}],
            ) from None
        if content is None:
            raise Problem(
                404, "not-found", f"{account.name} ({account.provider}) does not provide the {label}"
            )
        if kind == "xml":
            async with rt.engine.begin() as conn:
                await docs.set_fields(conn, doc_id, xml=content)
        return Response(content, media_type=media)
