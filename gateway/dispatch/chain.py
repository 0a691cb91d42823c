"""Dispatch: move one document forward along its chain of accounts (ARCHITECTURE.md, failure table).

The only layer that retries (research/anchors.md (c) 2): tenacity retries `Unavailable` on one
account with exponential backoff and jitter, honouring Retry-After, bounded by the document's
deadline and `max_attempts`. What every answer means (next account, `rejected`, `unknown` and
reconciled on the same account, ...) is `gateway.dispatch.evidence.POLICY`, read with what the store proves
about the account: an account that may hold the document is never left for the next one, and a
document is `failed` only when no account may hold it.

Every provider call is preceded by a committed `in_flight` attempt row: if the process dies before
the answer is recorded, the next worker reads that row as "may have been sent" and reconciles.
The caller holds the document's job lease (gateway.store.jobs); `advance` returns when the job
should run again, or None when the document needs nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

from msgspec import Struct
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Misconfigured,
    Outcome,
    ProviderFailure,
    Rejected,
    Unavailable,
    Unsupported,
)
from gateway.delivery import alerts, webhooks
from gateway.delivery import mail as delivery
from gateway.dispatch import breaker
from gateway.dispatch.evidence import Action, Evidence, action, answer_of, evidence_by_account, may_be_issued
from gateway.dispatch.heartbeat import with_heartbeat
from gateway.dispatch.reconcile import reconcile
from gateway.documents.resources import document_resource, provider_ref, timestamp
from gateway.observability import events
from gateway.store import Conn
from gateway.store import documents as docs
from gateway.store.jobs import Lease, LeaseLost
from gateway.store.records import AttemptRecord, DocumentRecord, document_of, totals_of
from gateway.tenants.config import Dispatch, Tenant
from gateway.tenants.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")


STATUS_EVENTS: Final = {
    "accepted": "document.accepted",
    "rejected": "document.rejected",
    "failed": "document.failed",
}
OUTCOME_STATUS: Final = {"accepted": "accepted", "pending": "pending", "rejected": "rejected"}
NEXT_ACCOUNT: Final[frozenset[Action]] = frozenset({"retry", "fall_back"})  # after this account's retries


class Answer(Struct, kw_only=True):
    """A provider's answer to an emission, not yet recorded."""

    outcome: Outcome
    attempt_id: int
    latency_s: float


class CircuitOpen(Unavailable):
    """The account's circuit is open: skip it without calling (and without retrying)."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, Unavailable) and not isinstance(exc, CircuitOpen)


def emission_for(row: DocumentRecord, tenant: Tenant, account: Account) -> Emission:
    numbering = next((r for r in tenant.numbering if r.name == row.numbering_range), None)
    return Emission(
        document=document_of(row),
        totals=totals_of(row),
        issuer=tenant.issuer,
        reference=row.id,
        number=row.number if numbering else None,
        consecutive=row.consecutive if numbering else None,
        numbering=numbering,
        environment=account.environment,
        deadline=timestamp(row.deadline),
        fiscal_id=row.fiscal_id,
    )


class Dispatcher:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def advance(
        self,
        doc_id: str,
        lease: Lease,
        *,
        created: DocumentRecord | None = None,
        first_attempt: int | None = None,
    ) -> float | None:
        """`created`: the row of a document this request has just created with its job claimed,
        which therefore has no attempt yet (no need to read either back); `first_attempt`: the
        in-flight attempt `open_first_attempt` committed with it."""
        if created is not None:
            row, known = created, {}
        else:
            row, attempts = await self._load_with_attempts(doc_id)
            known = evidence_by_account(attempts)
            crashed = [a for a in attempts if a.outcome == "in_flight"]
            if row is not None and row.status not in docs.TERMINAL and crashed:
                row = await self._settle_crashed_attempts(row, crashed)
        if row is None or row.status in docs.TERMINAL:
            return None
        tenant = self.rt.tenants.get(row.tenant_id)
        if tenant is None:
            log.warning("document %s belongs to tenant %s, no longer configured", doc_id, row.tenant_id)
            return None
        if row.status == "unknown":
            next_run = await self._reconcile(tenant, row, lease, known)
            row, attempts = await self._load_with_attempts(doc_id)
            if row is None or row.status != "queued":
                return next_run
            known = evidence_by_account(attempts)
        if row.status == "pending":
            return await self._poll(tenant, row, lease)
        if row.status == "queued":
            return await self._dispatch(tenant, row, lease, known, first_attempt)
        return None

    async def _load_with_attempts(self, doc_id: str) -> tuple[DocumentRecord | None, Sequence[AttemptRecord]]:
        async with self.rt.reader.connect() as conn:
            row = await docs.get(conn, doc_id)
            return row, (await docs.attempts_of(conn, doc_id) if row is not None else [])

    async def open_first_attempt(
        self, conn: Conn, tenant: Tenant, chain: Sequence[str], doc_id: str, now: float
    ) -> int | None:
        """The in-flight attempt on the chain's first account, written in the transaction that
        creates the document (with its job claimed by this request): committed before the call like
        every attempt, one transaction and one lease renewal less per document. None when that
        account is disabled or its circuit open: `_call` then decides as for any attempt."""
        account = tenant.account(chain[0])
        if account is None or not account.enabled:
            return None
        if not await breaker.allows_in(conn, tenant.id, account.name, now):
            return None
        return await docs.begin_attempt(conn, doc_id, account.name, account.provider, now)

    # -- state changes (each one transaction: document + attempt + outbox events) -----------------

    async def change(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        status: str,
        *,
        attempt: dict[str, Any] | None = None,
        event: str | None = None,
        also: Sequence[Callable[[Conn], Awaitable[Any]]] = (),
        release: tuple[Lease, float | None] | None = None,
        **values: Any,
    ) -> DocumentRecord:
        """One transaction: the status change, its attempt row, `also` (attempt result, breaker),
        the outbox events, and (`release`) giving the job back with its next run time."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            # the new row comes back from the UPDATE (RETURNING): `also` never changes the document
            new = await docs.transition(conn, row, status, now, **values)
            if attempt is not None:
                await docs.record_attempt(conn, row.id, now=now, **attempt)
            for statement in also:
                await statement(conn)
            event = event or (STATUS_EVENTS.get(status) if status != row.status else None)
            if event and webhooks.subscribed(tenant, event):
                data = document_resource(new, await docs.attempts_of(conn, row.id))
                # terminal events happen once; an attention event once per time it is raised
                event_id = f"{row.id}:{event}" + (f":{new.version}" if status == "unknown" else "")
                await webhooks.publish(conn, tenant, event, event_id, data, now)
            if status == "accepted" and row.status != "accepted":  # the buyer's copy, where we send it
                await delivery.schedule_in(conn, tenant, new, now)
            if release is not None:
                await release[0].release_in(conn, release[1])
                if release[0].answers:
                    release[0].document = (new, await docs.attempts_of(conn, row.id))
        if release is not None:
            release[0].released = True
        return new

    async def _settle_crashed_attempts(
        self, row: DocumentRecord, crashed: Sequence[AttemptRecord]
    ) -> DocumentRecord:
        """An `in_flight` attempt while we hold the job = a worker died mid-call: ambiguous."""
        attempt = crashed[-1]
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            for a in crashed:
                await docs.record_attempt(
                    conn,
                    row.id,
                    a.account,
                    a.provider,
                    "ambiguous",
                    now,
                    error="the worker stopped before the provider's answer was recorded",
                    attempt_id=a.id,
                )
            if row.status == "queued":
                await docs.transition(
                    conn,
                    row,
                    "unknown",
                    now,
                    account=attempt.account,
                    provider=attempt.provider,
                    unknown_since=attempt.at,
                )
            return await docs.get(conn, row.id)  # type: ignore[return-value]

    # -- queued: try the chain ----------------------------------------------------------------------

    async def _dispatch(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        lease: Lease,
        known: dict[str, Evidence],
        first_attempt: int | None = None,
    ) -> float | None:
        """`first_attempt`: already begun on the chain's first account (checked against the
        deadline when the document was created), so it is used, never left in flight."""
        d = tenant.dispatch
        chain = row.chain
        for index in range(row.chain_index, len(chain)):
            begun, first_attempt = first_attempt, None
            if begun is None and self.rt.clock() >= row.deadline:
                break
            here = known.get(chain[index], "none")
            account = tenant.account(chain[index])
            if account is None or not account.enabled:
                if here == "none":
                    continue
                return await self._stay(tenant, row, chain[index], "the account that may hold it is disabled")
            if index != row.chain_index:
                row = await self.change(tenant, row, "queued", chain_index=index)
            result = await self._try_account(tenant, row, account, lease, here, begun)
            answered = result.outcome if isinstance(result, Answer) else result
            if isinstance(result, Misconfigured):
                await self._alert_misconfigured(tenant, account, result)
            act = action("emit", answer_of(answered), here)
            if act not in NEXT_ACCOUNT:
                return await self._settle_emission(act, tenant, row, account, result, lease)
            events.emit(
                "dispatch.fallback",
                tenant=tenant.id,
                document_id=row.id,
                account=account.name,
                next_account=(chain[index + 1 :] or [None])[0],
                answer=answer_of(answered),
                code=getattr(answered, "code", None),
                evidence=here,
                action=act,
            )
        now = self.rt.clock()
        if now < row.deadline:
            # every account unavailable: `queued`, background rounds continue until the deadline
            await self.change(tenant, row, "queued", chain_index=0)
            return min(row.deadline, now + d.backoff_max_s)
        if may_be_issued(known):  # never `failed` while an account may hold it
            return await self._stay(tenant, row, row.account or chain[row.chain_index], "deadline passed")
        events.emit("document.failed", tenant=tenant.id, document_id=row.id, account=row.account, chain=chain)
        await self.change(tenant, row, "failed")
        return None

    async def _settle_emission(
        self,
        act: Action,
        tenant: Tenant,
        row: DocumentRecord,
        account: Account,
        result: Answer | ProviderFailure | Unsupported,
        lease: Lease,
    ) -> float | None:
        """Carry out the table's action on an emission's answer (other than "try the next account")."""
        if act in ("adopt", "reject") and isinstance(result, Answer):
            return await self._apply(tenant, row, account, result.outcome, answer=result, lease=lease)
        if act == "reject" and isinstance(result, Rejected):
            return None  # `rejected` was committed with the refusal's attempt (_call)
        if act == "reconcile" and isinstance(result, Answer):  # an answer that shows nothing settled
            now = self.rt.clock()
            await self.change(
                tenant,
                row,
                "unknown",
                attempt={
                    "account": account.name,
                    "provider": account.provider,
                    "outcome": "ambiguous",
                    "error": f"emission answered {result.outcome.status!r}: may have been taken",
                    "attempt_id": result.attempt_id,
                },
                account=account.name,
                provider=account.provider,
                unknown_since=now,
            )
            return now
        if act == "reconcile":  # the failure's own transaction made it `unknown` (_call)
            return self.rt.clock()  # reconcile on the next turn, same account
        return await self._stay(tenant, row, account.name, _describe_result(result))

    async def _stay(self, tenant: Tenant, row: DocumentRecord, account: str, why: str) -> float | None:
        """Not taken by this call, but an earlier send may have been: `unknown` on this account again,
        asked after a backoff (never the next account, never `failed`)."""
        now = self.rt.clock()
        configured = tenant.account(account)
        await self.change(
            tenant,
            row,
            "unknown",
            account=account,
            provider=configured.provider if configured else row.provider,
            unknown_since=row.unknown_since or now,
        )
        log.info("document %s stays on %s: %s", row.id, account, why)
        return now + tenant.dispatch.backoff_max_s

    async def _try_account(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        account: Account,
        lease: Lease,
        here: Evidence,
        begun: int | None = None,
    ) -> Answer | ProviderFailure | Unsupported:
        """`begun`: the in-flight attempt row of the first call, already committed."""
        d = tenant.dispatch
        try:
            adapter = self.rt.adapter(tenant.id, account)
            emission = emission_for(row, tenant, account)
        except ProviderFailure as exc:
            await self._record(tenant, row, account, exc.kind, exc.message, attempt_id=begun)
            _failure_event(tenant, row, account, exc)
            return exc
        retrying = AsyncRetrying(
            stop=stop_after_attempt(d.max_attempts) | (lambda _: self.rt.clock() >= row.deadline),
            wait=_wait(d, row.deadline, self.rt.clock),
            # a Retry-After may outlast the lease: keep it while waiting, or another runner in this
            # process (same worker id) takes the document over and both send it
            sleep=lambda seconds: with_heartbeat(lease, asyncio.sleep(seconds)),
            retry=retry_if_exception(_retryable),
            before_sleep=_log_retry(tenant.id, row.id, account.name),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_id, begun = begun, None
                    return await self._call(tenant, row, account, adapter, emission, lease, here, attempt_id)
        except (ProviderFailure, Unsupported) as exc:
            return exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _call(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        account: Account,
        adapter: Adapter,
        emission: Emission,
        lease: Lease,
        here: Evidence,
        begun: int | None = None,
    ) -> Answer:
        """One provider call, its attempt row written (committed) before it: here, or `begun` with
        the document. A success is recorded by the status change that follows (one transaction); a
        failure is recorded here."""
        d = tenant.dispatch
        if begun is not None:  # the lease was taken in that same transaction
            attempt_id = begun
        else:
            attempt_id = await self._begin(tenant, row, account, lease)
        call_timeout = account.timeout_s * 2 + 1  # the adapter's own timeout is account.timeout_s
        started = time.perf_counter()
        try:
            outcome = await with_heartbeat(lease, _within(call_timeout, adapter.emit(emission)))
        except TimeoutError:
            failure: ProviderFailure = Ambiguous(f"no answer within {call_timeout:.1f}s", code="timeout")
        except ProviderFailure as exc:
            failure = exc
        except Unsupported as exc:
            await self._record(
                tenant, row, account, "unsupported", str(exc), attempt_id=attempt_id, started=started
            )
            raise
        except LeaseLost:
            raise
        except Exception as exc:  # an adapter bug after the request may have left: never assume "not sent"
            log.exception("adapter %s raised an unexpected error", account.provider)
            failure = Ambiguous(f"adapter error: {type(exc).__name__}", code="adapter-error")
        else:
            return Answer(outcome=outcome, attempt_id=attempt_id, latency_s=time.perf_counter() - started)
        counts_against = isinstance(failure, (Unavailable, Ambiguous))
        act = action("emit", failure.kind, here)
        reconcile_next = act == "reconcile"

        async def circuit(conn: Conn) -> None:
            if reconcile_next:
                # `unknown` in the attempt's own transaction: a crash between the two would leave a
                # `queued` document that may have been issued, and it would be sent again
                now = self.rt.clock()
                await docs.transition(
                    conn,
                    row,
                    "unknown",
                    now,
                    account=account.name,
                    provider=account.provider,
                    unknown_since=now,
                )
            if counts_against:
                await breaker.record_failure_in(
                    conn,
                    tenant.id,
                    account.name,
                    self.rt.clock(),
                    threshold=d.breaker_threshold,
                    cooldown_s=d.breaker_cooldown_s,
                )
            else:  # the provider answered: it is up
                await breaker.record_success_in(conn, tenant.id, account.name, self.rt.clock())

        if act == "reject":
            await self._reject(tenant, row, account, failure, attempt_id=attempt_id, started=started)
        else:
            await self._record(
                tenant,
                row,
                account,
                failure.kind,
                _describe(failure),
                attempt_id=attempt_id,
                started=started,
                also=circuit,
            )
        _failure_event(tenant, row, account, failure)
        raise failure

    async def _reject(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        account: Account,
        failure: ProviderFailure,
        *,
        attempt_id: int,
        started: float,
    ) -> None:
        """The refusal's attempt and `rejected` in one transaction, as a lost answer and `unknown`
        are: between two, the document would be `queued` with no attempt in flight, and a worker
        that took the job over meanwhile would send it again (then `rejected` would hide that copy)."""
        now = self.rt.clock()
        latency = time.perf_counter() - started
        await self.change(
            tenant,
            row,
            "rejected",
            attempt={
                "account": account.name,
                "provider": account.provider,
                "outcome": failure.kind,
                "error": _describe(failure),
                "latency_ms": int(latency * 1000),
                "attempt_id": attempt_id,
            },
            also=[lambda conn: breaker.record_success_in(conn, tenant.id, account.name, now)],
            account=account.name,
            provider=account.provider,
            authority=Authority(code=failure.code, message=failure.message, errors=failure.errors),
        )
        self.rt.metrics.attempts.labels(tenant.id, account.name, account.provider, failure.kind).inc()
        self.rt.metrics.attempt_latency.labels(account.provider).observe(latency)

    async def _begin(self, tenant: Tenant, row: DocumentRecord, account: Account, lease: Lease) -> int:
        """The in-flight attempt, committed with a lease renewal and only on the document as `row`
        read it (else StaleDocument: the job runs again from what is stored); an open circuit is
        recorded and raised."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            circuit_open = not await breaker.allows_in(conn, tenant.id, account.name, now)
            if circuit_open:
                await docs.record_attempt(
                    conn,
                    row.id,
                    account.name,
                    account.provider,
                    "circuit_open",
                    now,
                    error="circuit open: skipped",
                )
            else:
                await lease.renew_in(conn)
                # the row this send was decided on must still be the document: another worker's
                # late answer may have been recorded since (it would be sent a second time)
                await docs.check_unchanged(conn, row)
                attempt_id = await docs.begin_attempt(conn, row.id, account.name, account.provider, now)
        if circuit_open:
            self.rt.metrics.attempts.labels(tenant.id, account.name, account.provider, "circuit_open").inc()
            raise CircuitOpen(f"circuit open for account {account.name}", code="circuit-open")
        return attempt_id

    async def _record(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        account: Account,
        outcome: str,
        error: str | None,
        *,
        attempt_id: int | None = None,
        started: float | None = None,
        also: Callable[[Conn], Awaitable[None]] | None = None,
    ) -> None:
        latency = time.perf_counter() - started if started is not None else None
        async with self.rt.engine.begin() as conn:
            if also is not None:
                await also(conn)
            await docs.record_attempt(
                conn,
                row.id,
                account.name,
                account.provider,
                outcome,
                self.rt.clock(),
                error=error,
                latency_ms=int(latency * 1000) if latency is not None else None,
                attempt_id=attempt_id,
            )
        self.rt.metrics.attempts.labels(tenant.id, account.name, account.provider, outcome).inc()
        if latency is not None:
            self.rt.metrics.attempt_latency.labels(account.provider).observe(latency)

    async def _apply(
        self,
        tenant: Tenant,
        row: DocumentRecord,
        account: Account,
        outcome: Outcome,
        *,
        answer: Answer | None = None,
        lease: Lease | None = None,
    ) -> float | None:
        """Record what the provider said; with `answer` (a fresh emission) its attempt row and the
        breaker reset go in the same transaction, and with `lease` the job is given back there too."""
        status = OUTCOME_STATUS[outcome.status]
        next_run = self.rt.clock() + tenant.dispatch.poll_interval_s if status == "pending" else None
        warnings = [*row.warnings, *outcome.warnings]
        also: list[Callable[[Conn], Awaitable[Any]]] = []
        if answer is not None:
            now = self.rt.clock()
            also.append(
                lambda conn: docs.record_attempt(
                    conn,
                    row.id,
                    account.name,
                    account.provider,
                    outcome.status,
                    now,
                    latency_ms=int(answer.latency_s * 1000),
                    attempt_id=answer.attempt_id,
                )
            )
            also.append(lambda conn: breaker.record_success_in(conn, tenant.id, account.name, now))
        await self.change(
            tenant,
            row,
            status,
            also=also,
            release=(lease, next_run) if lease is not None else None,
            account=account.name,
            provider=account.provider,
            provider_reference=outcome.provider_reference or row.provider_reference,
            fiscal_id=outcome.fiscal_id or row.fiscal_id,
            number=outcome.number or row.number,
            authority=outcome.authority,
            links={**row.links, **outcome.links},
            warnings=warnings,
            xml=outcome.xml or row.xml,
            needs_attention=False,
        )
        if answer is not None:
            self.rt.metrics.attempts.labels(tenant.id, account.name, account.provider, outcome.status).inc()
            self.rt.metrics.attempt_latency.labels(account.provider).observe(answer.latency_s)
        return next_run

    async def _alert_misconfigured(self, tenant: Tenant, account: Account, failure: Misconfigured) -> None:
        """Once per condition (gateway.delivery.alerts): the tenant hears of a bad account once, not per
        document, until the account is changed or passes its test."""
        now = self.rt.clock()
        async with self.rt.engine.begin() as conn:
            await alerts.raise_alert(
                conn,
                tenant,
                "account.misconfigured",
                account.name,
                alerts.misconfigured_data(account, failure.message, failure.code),
                now,
            )

    # -- pending: ask the provider ----------------------------------------------------------------

    async def _poll(self, tenant: Tenant, row: DocumentRecord, lease: Lease) -> float | None:
        """A `pending` document is held by its provider: only its verdict moves it on."""
        d = tenant.dispatch
        account = tenant.account(row.account or "")
        later = self.rt.clock() + min(d.poll_max_s, d.poll_interval_s * 2 ** max(0, lease.tries - 1))
        if account is None:
            return later
        try:
            answered: Outcome | ProviderFailure = await self.rt.adapter(tenant.id, account).status(
                provider_ref(row)
            )
        except ProviderFailure as exc:
            log.info("status of %s at %s failed: %s", row.id, account.name, exc.message)
            answered = exc
        if not isinstance(answered, Outcome) or answered.status == "pending":
            return later
        if action("status", answer_of(answered), "held") != "adopt":
            return later
        await self._apply(tenant, row, account, answered)
        return None

    # -- unknown: reconcile on the same account ---------------------------------------------------

    async def _reconcile(
        self, tenant: Tenant, row: DocumentRecord, lease: Lease, known: dict[str, Evidence]
    ) -> float | None:
        d = tenant.dispatch
        account = tenant.account(row.account or "")
        if account is None:
            return await self._needs_attention(
                tenant, row, f"account {row.account!r} is no longer configured"
            )
        try:
            adapter = self.rt.adapter(tenant.id, account)
        except ProviderFailure:
            return self.rt.clock() + d.backoff_max_s
        await lease.renew()
        verdict = await with_heartbeat(  # a search may take several provider calls
            lease,
            reconcile(
                adapter,
                emission_for(row, tenant, account),
                provider_ref(row),
                evidence=known.get(account.name, "none"),
                unknown_since=row.unknown_since or row.updated_at,
                window_s=d.reconcile_window_s,
                attention_after_s=d.attention_after_s,
                retry_s=d.backoff_max_s,
                now=self.rt.clock(),
            ),
        )
        self.rt.metrics.attempts.labels(
            tenant.id, account.name, account.provider, f"reconcile_{verdict.kind}"
        ).inc()
        events.emit(
            "reconcile.verdict",
            tenant=tenant.id,
            document_id=row.id,
            account=account.name,
            evidence=known.get(account.name, "none"),
            verdict=verdict.kind,
            reason=verdict.reason,
        )
        if verdict.held is not None:  # the persisted fact a later answer cannot overturn
            row = await self.change(
                tenant,
                row,
                "unknown",
                attempt=_attempt(account, "held", verdict.reason),
                provider_reference=verdict.held.provider_reference or row.provider_reference,
                fiscal_id=verdict.held.fiscal_id or row.fiscal_id,
                number=verdict.held.number or row.number,
            )
        if verdict.kind == "settled":
            assert verdict.outcome is not None
            await self._record(tenant, row, account, "reconciled", verdict.reason)
            return await self._apply(tenant, row, account, verdict.outcome)
        if verdict.kind in ("not_issued", "resend"):
            # not_issued: proven absent here, so the chain may move on; resend: the same document
            # to this same account only (the evidence of the earlier send stands)
            outcome = "not_issued" if verdict.kind == "not_issued" else "resend"
            await self.change(
                tenant,
                row,
                "queued",
                needs_attention=False,
                attempt=_attempt(account, outcome, verdict.reason),
            )
            return self.rt.clock()
        if verdict.kind == "wait":
            return verdict.retry_at
        await self._needs_attention(tenant, row, verdict.reason)
        return verdict.retry_at

    async def _needs_attention(self, tenant: Tenant, row: DocumentRecord, reason: str) -> None:
        """Stays `unknown` until an operator resolves it; shown in /metrics, sent as a webhook."""
        if not row.needs_attention:
            events.emit(
                "document.needs_attention",
                tenant=tenant.id,
                document_id=row.id,
                account=row.account,
                reason=reason,
            )
            await self.change(
                tenant,
                row,
                "unknown",
                needs_attention=True,
                event="document.needs_attention",
                warnings=[*row.warnings, reason],
            )
        return None


async def _within(seconds: float, call: Awaitable[T]) -> T:
    """`asyncio.wait_for` without the task it starts per call (Python 3.11)."""
    async with asyncio.timeout(seconds):
        return await call


def _attempt(account: Account, outcome: str, error: str) -> dict[str, Any]:
    return {"account": account.name, "provider": account.provider, "outcome": outcome, "error": error}


def _log_retry(tenant: str, document_id: str, account: str) -> Callable[[RetryCallState], None]:
    """tenacity's hook before each backoff: the `dispatch.retry` line."""

    def log_retry(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        events.emit(
            "dispatch.retry",
            tenant=tenant,
            document_id=document_id,
            account=account,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
            failure=getattr(failure, "kind", None),
        )

    return log_retry


def _describe_result(result: Answer | ProviderFailure | Unsupported) -> str:
    if isinstance(result, Answer):
        return f"answered {result.outcome.status!r}"
    return _describe(result) if isinstance(result, ProviderFailure) else str(result)


def _describe(failure: ProviderFailure) -> str:
    parts = [failure.message]
    if failure.code:
        parts.append(f"[{failure.code}]")
    if failure.http_status:
        parts.append(f"(HTTP {failure.http_status})")
    return " ".join(parts)


def _wait(d: Dispatch, deadline: float, clock: Any) -> Any:
    """Exponential backoff with jitter, at least the provider's Retry-After, never past the deadline."""
    backoff = wait_exponential_jitter(
        multiplier=d.backoff_base_s, max=d.backoff_max_s, jitter=d.backoff_base_s
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None) or 0.0
        return max(0.0, min(max(backoff(state), retry_after), deadline - clock()))

    return wait


def _failure_event(tenant: Tenant, row: DocumentRecord, account: Account, failure: ProviderFailure) -> None:
    """The operator's `provider.failure` line (gateway.observability.events), by failure class."""
    events.emit(
        "provider.failure",
        tenant=tenant.id,
        document_id=row.id,
        account=account.name,
        provider=account.provider,
        failure=failure.kind,
        code=failure.code,
        http_status=failure.http_status,
        error=failure.message,
    )
