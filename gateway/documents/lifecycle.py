"""After the first emission: void, correct and resend, notes built from a stored document.

- **Void** (CO): DIAN has no cancellation; an invoice is annulled by a credit note with reason
  `annulment` for its full amount, referencing its number and CUFE, issued through the same account.
  The two documents are linked both ways (`voided_by` / `voids`). (SV): Hacienda's invalidation
  event, through the provider's own route (SmartBill `/dte/invalidate`); an account whose adapter
  has no such route is a clear `unsupported`, never a silent no-op.
- **Correct and resend**: only a `rejected` or `failed` document may be replaced by a corrected
  body. A number the authority rejected was never valid, so it is kept; the attempts stay in the
  history, and the document is dispatched again like a new one.
- **Notes**: the reference (number, fiscal id, issue date, kind) comes from the stored document, so
  integrators never copy a CUFE by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import msgspec
from msgspec.structs import replace

from adapters.base import ProviderFailure
from canonical.document import Reason, Reference
from canonical.errors import FieldError, InvalidDocument
from canonical.validation import prepare
from gateway.dispatch.loop import run_document
from gateway.documents.idempotency import Claim
from gateway.documents.references import check_reference
from gateway.documents.resources import DocumentResource, provider_ref
from gateway.documents.service import DocumentService
from gateway.store import documents as docs
from gateway.store import jobs
from gateway.store.jobs import Lease
from gateway.store.records import DocumentRecord, document_of
from gateway.tenants.config import Tenant

_encoder = msgspec.json.Encoder()

CORRECTABLE: Final = frozenset({"rejected", "failed"})
VOID_CLAIM: Final = "pending"  # `voided_by` while the annulment is being issued: a second void waits
# What a note copies from the document it references when the request leaves it out.
NOTE_DEFAULTS: Final = ("customer", "currency", "lines", "payment", "prices_include_tax")
NOTE_KINDS: Final = frozenset({"credit_note", "debit_note"})


class LifecycleRefusal(Exception):
    """The document is not in a state (or at an account) that allows this; `status` is the HTTP
    answer (409 state, 422 unsupported, 502 provider), `rule` a stable code."""

    def __init__(
        self, status: int, rule: str, message: str, provider_errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.rule, self.message = status, rule, message
        self.provider_errors = provider_errors or []


class VoidRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why the document is voided (sent as the credit note's reason description in CO)."""

    reason: str


class LifecycleService:
    def __init__(self, documents_service: DocumentService) -> None:
        self.documents = documents_service
        self.rt = documents_service.rt

    # -- void ---------------------------------------------------------------------------------------

    async def void(self, tenant: Tenant, doc_id: str, reason: str) -> DocumentResource:
        row = await self.documents.row(tenant, doc_id)
        if row.status != "accepted":
            raise LifecycleRefusal(
                409, "void-not-accepted", f"only an accepted document can be voided; this one is {row.status}"
            )
        if row.voids is not None or (row.kind in NOTE_KINDS and row.country == "CO"):
            raise LifecycleRefusal(
                409, "void-kind", f"a CO {row.kind} is not voided; issue a note against its invoice"
            )
        if row.country == "CO" and (credited := await self._credit_notes_of(row)):
            raise LifecycleRefusal(
                409,
                "void-already-credited",
                f"credit notes {', '.join(credited)} already reference this invoice: an annulment for "
                "the full amount would credit more than was invoiced; issue a credit note for the rest",
            )
        await self._claim_void(row, tenant.dispatch.deadline_for(row.country) + tenant.dispatch.lease_s)
        try:
            if row.country == "CO":
                await self._annul_with_credit_note(tenant, row, reason)
            else:
                await self._invalidate(tenant, row, reason)
        except BaseException:
            await self._set(row.id, voided_by=None, voided_at=None, only_if_claimed=True)
            raise
        return await self.documents.resource(tenant, doc_id)

    async def _credit_notes_of(self, row: DocumentRecord) -> list[str]:
        """Live credit notes (not rejected or failed, not its annulment) referencing this invoice by
        CUFE or number.
        The reference lives in each note's canonical JSON: voids are rare, so reading the tenant's
        credit notes issued since the invoice is cheaper than a column every emission would pay."""
        async with self.rt.engine.connect() as conn:
            # the tenant's credit notes since the invoice, not its own annulment
            notes = await docs.credit_notes_since(conn, row.tenant_id, row.created_at, CORRECTABLE, row.id)
        found = []
        for note_id, note in notes:
            reference = note.reference
            if reference is not None and (
                (row.fiscal_id and reference.fiscal_id == row.fiscal_id)
                or (row.number and reference.number == row.number)
            ):
                found.append(note_id)
        return found

    async def _claim_void(self, row: DocumentRecord, stale_after_s: float) -> None:
        """Only one void at a time. A claim older than a document's whole dispatch budget was left
        by a process that died mid-void, and may be taken over."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            claimed = await docs.claim_void(conn, row.id, VOID_CLAIM, now, now - stale_after_s)
        if not claimed:
            raise LifecycleRefusal(409, "void-already", "this document is already voided (or being voided)")

    async def _annul_with_credit_note(self, tenant: Tenant, row: DocumentRecord, reason: str) -> None:
        """The annulling credit note: the invoice's own lines, parties and adjustments, so its totals
        are the invoice's full amount, through the account that issued the invoice."""
        original = document_of(row)
        note = replace(
            original,
            kind="credit_note",
            number=None,
            issue_date=None,
            issue_time=None,
            reference=_reference_to(row),
            reason=Reason(code="annulment", description=reason),
        )
        created = await self.documents.row(
            tenant, await self.documents.create(tenant, _encoder.encode(note), provider=row.account)
        )
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            await docs.set_fields(conn, created.id, voids=row.id)
            annulled = created.status not in ("rejected", "failed")
            await docs.set_fields(
                conn, row.id, voided_by=created.id if annulled else None, voided_at=now if annulled else None
            )
        if not annulled:
            raise LifecycleRefusal(
                409,
                "void-note-refused",
                f"the annulling credit note {created.id} was {created.status}; the document is not voided",
            )

    async def _invalidate(self, tenant: Tenant, row: DocumentRecord, reason: str) -> None:
        account = tenant.account(row.account or "")
        if account is None:
            raise LifecycleRefusal(
                409, "void-account-gone", f"account {row.account!r} is no longer configured"
            )
        adapter = self.rt.adapter(tenant.id, account)
        if "invalidate" not in adapter.capabilities:
            raise LifecycleRefusal(
                422,
                "void-unsupported",
                f"{account.provider} (account {account.name}) offers no invalidation route",
            )
        now = self.rt.clock()
        try:
            outcome = await adapter.invalidate(provider_ref(row), reason)
        except ProviderFailure as exc:
            await self._attempt(row, account.name, account.provider, "invalidation_refused", exc.message, now)
            raise LifecycleRefusal(
                502 if exc.kind in ("unavailable", "ambiguous") else 409,
                f"void-{exc.kind}",
                f"{account.name}: {exc.message}",
                [{"code": e.code, "message": e.message} for e in exc.errors]
                or [{"code": exc.code or "", "message": exc.message}],
            ) from None
        await self._attempt(row, account.name, account.provider, "invalidated", f"reason: {reason}", now)
        links = {**row.links, **outcome.links}
        if outcome.authority.seal:
            links["invalidation_seal"] = outcome.authority.seal
        await self._set(row.id, voided_by="invalidation", voided_at=now, links=links)

    async def _attempt(
        self, row: DocumentRecord, account: str, provider: str, outcome: str, error: str, now: float
    ) -> None:
        async with self.rt.engine.begin() as conn:
            await docs.record_attempt(conn, row.id, account, provider, outcome, now, error=error)

    async def _set(self, doc_id: str, *, only_if_claimed: bool = False, **values: Any) -> None:
        async with self.rt.engine.begin() as conn:
            if only_if_claimed:
                await docs.set_fields_if_voided_by(conn, doc_id, VOID_CLAIM, **values)
            else:
                await docs.set_fields(conn, doc_id, **values)

    # -- correct and resend -------------------------------------------------------------------------

    async def correct(self, tenant: Tenant, doc_id: str, body: bytes) -> DocumentResource:
        row = await self.documents.row(tenant, doc_id)
        if row.status not in CORRECTABLE:
            raise LifecycleRefusal(
                409,
                "correction-not-allowed",
                f"only a rejected or failed document can be corrected; this one is {row.status}",
            )
        document, totals = prepare(body)
        await check_reference(self.rt.reader, tenant.id, document)
        changed = [f for f in ("country", "kind") if getattr(document, f) != getattr(row, f)]
        if changed:
            raise InvalidDocument(
                [
                    FieldError(
                        path=f,
                        rule="correction-same-document",
                        message=f"a correction keeps the {f} ({getattr(row, f)})",
                    )
                    for f in changed
                ]
            )
        names = row.chain
        chain = [a for a in tenant.accounts if a.name in names]
        chain.sort(key=lambda a: names.index(a.name))
        chain, warnings = self.documents.preflight(tenant, chain, document, totals)  # same checks as create
        now = self.rt.clock()
        d = tenant.dispatch
        async with self.rt.engine.begin() as conn:
            updated = await docs.update_if_version(
                conn,
                row.id,
                row.version,
                status="queued",
                version=row.version + 1,
                document=document,
                totals=totals,
                issue_date=document.issue_date.isoformat() if document.issue_date else None,
                chain=[a.name for a in chain],
                chain_index=0,
                # the number stays; what the authority computed from the old content does not
                fiscal_id=None,
                provider_reference=None,
                authority=None,
                xml=None,
                warnings=warnings,
                needs_attention=False,
                unknown_since=None,
                deadline=now + d.deadline_for(row.country),
                updated_at=now,
            )
            if not updated:
                raise LifecycleRefusal(
                    409, "correction-conflict", "the document changed meanwhile; read it and retry"
                )
            await docs.record_attempt(
                conn,
                row.id,
                row.account or "",
                row.provider or "",
                "corrected",
                now,
                error=f"corrected after {row.status}; resent under {row.number or 'a new number'}",
            )
            # due only after a lease: this request claims it first and dispatches in sync, as create
            # does; should it die, the job loop takes the document over then
            job_id = await jobs.enqueue(conn, "document", row.id, tenant.id, now + d.lease_s)
        owner = jobs.owner(self.rt.worker_id)
        claimed = await jobs.claim(self.rt.engine, job_id, owner, self.rt.clock(), d.lease_s)
        if claimed is not None:
            lease = Lease(self.rt.engine, job_id, owner, d.lease_s, 1, self.rt.clock)
            await run_document(self.rt, self.documents.dispatcher, row.id, lease)
        return await self.documents.resource(tenant, doc_id)

    # -- notes from a stored document ---------------------------------------------------------------

    async def note(
        self,
        tenant: Tenant,
        doc_id: str,
        kind: str,
        body: bytes,
        provider: str | None,
        *,
        idempotency_key: Claim | None = None,
    ) -> str:
        """Create a credit or debit note whose reference is the stored document; its id. The key
        (already begun by the API) is linked to the note in the transaction that creates it."""
        row = await self.documents.row(tenant, doc_id)
        if row.status != "accepted":
            raise LifecycleRefusal(
                409,
                "note-reference-not-accepted",
                f"notes reference accepted documents; this one is {row.status}",
            )
        try:
            given = msgspec.json.decode(body or b"{}")
        except msgspec.DecodeError as exc:
            raise InvalidDocument([FieldError(path="", rule="json", message=str(exc))]) from None
        if not isinstance(given, dict):
            raise InvalidDocument(
                [FieldError(path="", rule="type", message="the note must be a JSON object")]
            )
        original = msgspec.json.decode(row.document)
        note = {k: original[k] for k in NOTE_DEFAULTS if k in original}
        note.update(given)
        note.update(country=row.country, kind=kind, reference=msgspec.to_builtins(_reference_to(row)))
        return await self.documents.create(
            tenant, _encoder.encode(note), provider=provider, idempotency_key=idempotency_key
        )


def _reference_to(row: DocumentRecord) -> Reference:
    return Reference(
        number=row.number or "",
        fiscal_id=row.fiscal_id,
        issue_date=dt.date.fromisoformat(row.issue_date) if row.issue_date else None,
        kind=row.kind,
    )
