"""Document use cases behind the API: create (persist first, then dispatch), preview, refresh, resolve.

Creation is one transaction: its job (outbox), the link to its Idempotency-Key, then number
allocation and the document row last (gateway.documents.numbering says why). Only then is anything sent; in sync mode the request itself runs the job it
holds the lease of, so a crash mid-request leaves a job the loop resumes.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Final

from msgspec import Struct, field

from adapters.base import Account, UnsupportedIssue, adapter_class
from canonical.document import Document
from canonical.totals import Totals
from canonical.validation import prepare
from gateway.delivery import webhooks
from gateway.dispatch.chain import Dispatcher
from gateway.dispatch.loop import run_document
from gateway.documents import idempotency, numbering
from gateway.documents.preview import AccountPreview, account_preview, eligible
from gateway.documents.references import check_reference
from gateway.documents.resources import DocumentResource, document_resource
from gateway.store import documents as docs
from gateway.store import jobs
from gateway.store.jobs import Lease
from gateway.store.records import AttemptRecord, DocumentRecord
from gateway.tenants.config import Tenant
from gateway.tenants.routing import RoutingError, choose_chain
from gateway.tenants.runtime import Runtime


class UnsupportedDocument(Exception):
    """No account of the chain can express the document faithfully: 422 with every issue."""

    def __init__(self, issues: list[dict[str, str]]) -> None:
        super().__init__("unsupported by every account of the chain")
        self.issues = issues


class DocumentNotFound(Exception):
    pass


class NotResolvable(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"only an `unknown` document can be resolved; this one is {status}")


class Resolution(Struct, kw_only=True, forbid_unknown_fields=True):
    """An operator's answer for an `unknown` document, after checking the provider's portal."""

    issued: bool
    provider_reference: str | None = None
    fiscal_id: str | None = None
    number: str | None = None


class Preview(Struct, kw_only=True):
    document: Document
    totals: Totals
    accounts: list[AccountPreview] = field(default_factory=list)


RESOLVE_TRIES: Final = 5


def new_document_id() -> str:
    return "doc_" + secrets.token_hex(12)


class DocumentService:
    def __init__(self, rt: Runtime, dispatcher: Dispatcher) -> None:
        self.rt = rt
        self.dispatcher = dispatcher

    def _adapter_for(self, tenant: Tenant) -> Any:
        return lambda account: self.rt.adapter(tenant.id, account)

    async def create(
        self,
        tenant: Tenant,
        body: bytes,
        *,
        provider: str | None = None,
        asynchronous: bool = False,
        idempotency_key: idempotency.Claim | None = None,
    ) -> str:
        """Validate, route, persist, dispatch (sync) or queue (async); returns the document id.
        Raises InvalidDocument,
        RoutingError, NumberingError, UnsupportedDocument: nothing is created then."""
        return (await self._create(tenant, body, provider, asynchronous, idempotency_key))[0]

    async def create_resource(
        self,
        tenant: Tenant,
        body: bytes,
        *,
        provider: str | None = None,
        asynchronous: bool = False,
        idempotency_key: idempotency.Claim | None = None,
    ) -> DocumentResource:
        """`create`, answered with the document as committed by the change that finished the run
        (async: as inserted, no attempt yet); read back only when the run ended otherwise."""
        doc_id, final = await self._create(tenant, body, provider, asynchronous, idempotency_key)
        if final is None:
            return await self.resource(tenant, doc_id)
        return document_resource(*final)

    async def _create(
        self,
        tenant: Tenant,
        body: bytes,
        provider: str | None,
        asynchronous: bool,
        idempotency_key: idempotency.Claim | None,
    ) -> tuple[str, tuple[DocumentRecord, Sequence[AttemptRecord]] | None]:
        document, totals = prepare(body)
        await check_reference(self.rt.reader, tenant.id, document)
        chain = choose_chain(
            await self.rt.routes(tenant.id), tenant.accounts, document, totals, forced=provider
        )
        chain, warnings = self.preflight(tenant, chain, document, totals)
        now = self.rt.clock()
        doc_id = new_document_id()
        # this request runs the job it creates (sync), under its Idempotency-Key's owner if it has
        # one: a repeat then sees whether this request still runs (gateway.documents.idempotency)
        owner = idempotency_key.owner if idempotency_key else jobs.owner(self.rt.worker_id)
        d = tenant.dispatch
        created, job_id, first_attempt = await self._persist(
            tenant, document, totals, chain, warnings, doc_id, owner, now, asynchronous, idempotency_key
        )
        if asynchronous:
            self.rt.wake_jobs()
            return doc_id, (created, ())
        lease = Lease(self.rt.engine, job_id, owner, d.lease_s, 1, self.rt.clock, answers=True)
        await run_document(
            self.rt, self.dispatcher, doc_id, lease, created=created, first_attempt=first_attempt
        )
        self.rt.wake_jobs()  # its webhooks
        return doc_id, lease.document

    async def _persist(
        self,
        tenant: Tenant,
        document: Document,
        totals: Totals,
        chain: list[Account],
        warnings: list[str],
        doc_id: str,
        owner: str,
        now: float,
        asynchronous: bool,
        idempotency_key: idempotency.Claim | None,
    ) -> tuple[DocumentRecord, int, int | None]:
        """The creation transaction: the document's job (claimed by `owner` unless asynchronous),
        its first attempt, the Idempotency-Key link, its number and the document row."""
        d = tenant.dispatch
        first_attempt = None
        async with self.rt.engine.begin() as conn:
            job_id = await jobs.insert(
                conn,
                "document",
                doc_id,
                tenant.id,
                now,
                locked_by=None if asynchronous else owner,
                locked_until=None if asynchronous else now + d.lease_s,
            )
            if not asynchronous:
                first_attempt = await self.dispatcher.open_first_attempt(
                    conn, tenant, [a.name for a in chain], doc_id, now
                )
            if idempotency_key is not None:
                await idempotency.attach(conn, tenant.id, idempotency_key, doc_id)
            # the number last: a creation that draws a block holds the counter until it commits
            allocated = None
            if any(adapter_class(a.provider).numbering == "ours" for a in chain):
                allocated = await numbering.allocate(
                    conn,
                    tenant.id,
                    tenant.numbering,
                    document.kind,
                    document.issue_date,  # type: ignore[arg-type]
                )
            created = await docs.insert(
                conn,
                {
                    "id": doc_id,
                    "tenant_id": tenant.id,
                    "status": "queued",
                    "version": 1,
                    "country": document.country,
                    "kind": document.kind,
                    "issue_date": document.issue_date.isoformat() if document.issue_date else None,
                    "number": allocated.number if allocated else None,
                    "consecutive": allocated.consecutive if allocated else None,
                    "numbering_range": allocated.range.name if allocated else None,
                    "chain": [a.name for a in chain],
                    "chain_index": 0,
                    "document": document,
                    "totals": totals,
                    "warnings": warnings,
                    "links": {},
                    "needs_attention": False,
                    "deadline": now + d.deadline_for(document.country),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if allocated is not None and allocated.remaining == numbering.low_watermark(allocated.range):
                await webhooks.publish(
                    conn,
                    tenant,
                    "numbering.low",
                    f"numbering.low:{tenant.id}:{allocated.range.name}:{allocated.consecutive}",
                    {
                        "range": allocated.range.name,
                        "remaining": allocated.remaining,
                        "to": allocated.range.to,
                    },
                    now,
                )
        return created, job_id, first_attempt

    def preflight(
        self, tenant: Tenant, chain: list[Account], document: Document, totals: Totals
    ) -> tuple[list[Account], list[str]]:
        """Drop accounts that cannot express the document (each drop is a warning); none left → 422."""
        kept: list[Account] = []
        warnings: list[str] = []
        issues: list[dict[str, str]] = []
        for account in chain:
            preview = account_preview(self._adapter_for(tenant), tenant, account, document, totals)
            if preview.unsupported:
                issues.extend(_issue(account.name, i) for i in preview.unsupported)
                warnings.append(
                    f"account {account.name} skipped: cannot express "
                    + ", ".join(i.path for i in preview.unsupported)
                )
            else:
                kept.append(account)
        if not kept:
            raise UnsupportedDocument(issues)
        return kept, warnings

    async def preview(self, tenant: Tenant, body: bytes, provider: str | None) -> Preview:
        document, totals = prepare(body)
        await check_reference(self.rt.reader, tenant.id, document)
        accounts = eligible(tenant, document, provider)
        if provider is not None and not accounts:
            raise RoutingError(
                "provider-unknown", f"no account named {provider!r} for this tenant", "provider"
            )
        async with self.rt.reader.connect() as conn:
            counters = {r.name: await numbering.peek(conn, tenant.id, r) for r in tenant.numbering}
        previews = [
            account_preview(
                self._adapter_for(tenant),
                tenant,
                a,
                document,
                totals,
                next_consecutive=lambda r: counters.get(r.name, r.from_),
            )
            for a in accounts
        ]
        if previews and all(p.unsupported for p in previews):
            raise UnsupportedDocument([_issue(p.account, i) for p in previews for i in p.unsupported])
        return Preview(document=document, totals=totals, accounts=previews)

    async def row(self, tenant: Tenant, doc_id: str) -> DocumentRecord:
        """The tenant's stored document; DocumentNotFound for another tenant's or none."""
        async with self.rt.reader.connect() as conn:
            row = await docs.get(conn, doc_id, tenant.id)
        if row is None:
            raise DocumentNotFound(doc_id)
        return row

    async def resource(self, tenant: Tenant, doc_id: str) -> DocumentResource:
        async with self.rt.reader.connect() as conn:
            row = await docs.get(conn, doc_id, tenant.id)
            if row is None:
                raise DocumentNotFound(doc_id)
            return document_resource(row, await docs.attempts_of(conn, doc_id))

    async def refresh(self, tenant: Tenant, doc_id: str) -> DocumentResource:
        """Ask the provider now (pending: status; unknown: reconcile, also one waiting for an
        operator; queued: a dispatch round). A worker already on it is left alone."""
        row = await self.row(tenant, doc_id)
        if row.status not in docs.TERMINAL:
            d = tenant.dispatch
            async with self.rt.engine.begin() as conn:  # wakes a finished job, due after a lease: ours first
                job_id = await jobs.enqueue(conn, "document", doc_id, tenant.id, self.rt.clock() + d.lease_s)
            owner = jobs.owner(self.rt.worker_id)
            if await jobs.claim(self.rt.engine, job_id, owner, self.rt.clock(), d.lease_s):
                lease = Lease(self.rt.engine, job_id, owner, d.lease_s, 1, self.rt.clock)
                await run_document(self.rt, self.dispatcher, doc_id, lease)
        return await self.resource(tenant, doc_id)

    async def resolve(self, tenant: Tenant, doc_id: str, resolution: Resolution) -> DocumentResource:
        # the job loop may be reconciling the same document: on a lost race, read it again
        for _ in range(RESOLVE_TRIES):
            row = await self.row(tenant, doc_id)
            if row.status != "unknown":
                raise NotResolvable(row.status)
            try:
                await self._settle(tenant, row, resolution)
            except docs.StaleDocument:
                continue
            return await self.resource(tenant, doc_id)
        raise NotResolvable("changing; try again")

    async def _settle(self, tenant: Tenant, row: DocumentRecord, resolution: Resolution) -> None:
        now = self.rt.clock()
        attempt = {
            "account": row.account or "",
            "provider": row.provider or "",
            "outcome": "resolved_issued" if resolution.issued else "resolved_not_issued",
            "error": "settled by an operator",
        }
        if resolution.issued:
            await self.dispatcher.change(
                tenant,
                row,
                "accepted",
                attempt=attempt,
                needs_attention=False,
                provider_reference=resolution.provider_reference or row.provider_reference,
                fiscal_id=resolution.fiscal_id or row.fiscal_id,
                number=resolution.number or row.number,
            )
            return
        # "not issued" is now known: dispatch may resend or fall back (ARCHITECTURE.md); the job is
        # woken in the same transaction, so a crash cannot leave a `queued` document nobody runs
        await self.dispatcher.change(
            tenant,
            row,
            "queued",
            attempt=attempt,
            needs_attention=False,
            also=[lambda conn: jobs.enqueue(conn, "document", row.id, tenant.id, now)],
        )


def _issue(account: str, issue: UnsupportedIssue) -> dict[str, str]:
    return {"account": account, "path": issue.path, "rule": issue.rule, "message": issue.message}
