"""The buyer's copy by e-mail, for the documents the gateway signs itself (direct DIAN): nobody else
sends them, and DIAN obliges the issuer to deliver the invoice to the acquirer.

As the Anexo Técnico describes it (contracts/dian/SOURCES.md S17, S18): one message per document, one
zip attachment holding the AttachedDocument (the signed document with DIAN's ApplicationResponse) and
the PDF, and the subject `NIT;issuer name;document number;document type code;issuer name`.

A durable job (kind `delivery`, subject the document id) does the sending, queued in the transaction
that records the acceptance, so it survives a crash and never holds up emission. It retries with
the tenant's `retry_s` waits; the server's permanent refusals (5xx) end it at once. The state is on
the document (`delivery {status, to, at, error}`), and each end is a webhook: `document.delivered`,
`document.delivery_failed`. `POST /v1/documents/{id}/deliver` queues it again, to other addresses if
given. Tenants without `[tenants.email]` (or with `enabled = false`) deliver nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from email.message import EmailMessage
from typing import Final

import aiosmtplib

from adapters.base import ProviderFailure
from adapters.dian.soap import file_name, package
from canonical import catalogs
from gateway import printout
from gateway.delivery import webhooks
from gateway.dispatch.heartbeat import with_heartbeat
from gateway.documents.resources import document_resource, provider_ref
from gateway.observability import events
from gateway.store import Conn, jobs
from gateway.store import documents as docs
from gateway.store.jobs import Lease, LeaseLost
from gateway.store.records import Delivery, DocumentRecord, authority_of, delivery_of, document_of
from gateway.tenants.config import Email, Tenant
from gateway.tenants.runtime import Runtime

JOB: Final = "delivery"
# providers whose documents the gateway signs and mails itself; the others' providers mail the buyer
PROVIDERS: Final = frozenset({"dian"})
ADDRESS: Final = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class Undeliverable(Exception):
    """Nothing to retry: no address, or the mail server refused the message for good (5xx)."""


def enabled(tenant: Tenant) -> bool:
    return tenant.email is not None and tenant.email.enabled


def buyer_addresses(row: DocumentRecord) -> list[str]:
    """The customer's e-mail from the canonical document as it was issued."""
    customer = document_of(row).customer
    return [customer.email] if customer is not None and customer.email else []


def _iso(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, dt.UTC)


async def schedule_in(
    conn: Conn, tenant: Tenant, row: DocumentRecord, now: float, to: list[str] | None = None
) -> bool:
    """Queue the delivery of an accepted document in the caller's transaction, where it applies:
    its provider is one the gateway mails for, the tenant has e-mail on, and there is an address."""
    if not enabled(tenant) or row.provider not in PROVIDERS or row.status != "accepted":
        return False
    addresses = to or buyer_addresses(row)
    if not addresses:
        return False
    state = Delivery(status="pending", to=addresses)
    await docs.set_fields(conn, row.id, delivery=state)
    await jobs.enqueue(conn, JOB, row.id, tenant.id, now)
    return True


def subject(tenant: Tenant, row: DocumentRecord) -> str:
    """`NIT;name;number;type code;name` (S17): what the buyer's mailbox rules and reception software
    read to file the document without opening it."""
    issuer = tenant.issuer
    type_code = catalogs.KINDS["CO"][row.kind]
    return f"{issuer.id_number};{issuer.name};{row.number};{type_code};{issuer.name}"


def attachment(tenant: Tenant, row: DocumentRecord, attached: bytes, pdf: bytes) -> tuple[str, bytes]:
    """The zip and its name, DIAN's file naming (`z`/`ad` + NIT + PPP + year + consecutive)."""
    year = dt.date.fromisoformat(row.issue_date).year if row.issue_date else _iso(row.created_at).year
    nit = tenant.issuer.id_number or "0"
    inner = file_name("attached", nit, year, row.consecutive or 0)
    content = package({f"{inner}.xml": attached, f"{inner}.pdf": pdf})
    return f"{file_name('zip', nit, year, row.consecutive or 0)}.zip", content


def message(
    email: Email, tenant: Tenant, row: DocumentRecord, to: list[str], zip_name: str, content: bytes
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject(tenant, row)
    msg["From"] = email.sender
    msg["To"] = ", ".join(to)
    msg.set_content(
        f"{tenant.issuer.name} le envía el documento electrónico {row.number} (CUFE/CUDE {row.fiscal_id}).\n"
        "El adjunto contiene el documento validado por la DIAN (AttachedDocument) y su representación gráfica.\n"
    )
    msg.add_attachment(content, maintype="application", subtype="zip", filename=zip_name)
    return msg


async def send(email: Email, msg: EmailMessage) -> None:
    """Through the tenant's server: STARTTLS when `starttls`, TLS from the start on port 465 without it."""
    try:
        await aiosmtplib.send(
            msg,
            hostname=email.host,
            port=email.port,
            username=email.username,
            password=email.password,
            start_tls=email.starttls,
            use_tls=not email.starttls and email.port == 465,
            timeout=email.timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise Undeliverable(f"every recipient refused: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise Undeliverable(f"{exc.code} {exc.message}") from None
        raise


async def run(rt: Runtime, doc_id: str, tenant_id: str, lease: Lease) -> None:
    """One try of a claimed delivery job; the job ends delivered or failed, or waits for the next try."""
    tenant = rt.tenants[tenant_id]
    async with rt.reader.connect() as conn:
        row = await docs.get(conn, doc_id, tenant_id)
    state = None if row is None else delivery_of(row)
    if row is None or state is None or tenant.email is None:
        await lease.release(None)
        return
    try:
        # the lease is renewed while DIAN and the mail server answer (dispatch's heartbeat): a slow
        # server never lets a second worker take the job and mail the buyer twice
        msg = await with_heartbeat(lease, _compose(rt, tenant, row, state.to))
        await with_heartbeat(lease, send(tenant.email, msg))
    except LeaseLost:
        return
    except Undeliverable as exc:
        await _finish(rt, tenant, row, state, lease, "failed", str(exc))
    except (ProviderFailure, aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        waits = tenant.email.retry_s
        if lease.tries > len(waits):
            await _finish(rt, tenant, row, state, lease, "failed", error)
        else:
            await _finish(
                rt, tenant, row, state, lease, "pending", error, retry_at=rt.clock() + waits[lease.tries - 1]
            )
    else:
        await _finish(rt, tenant, row, state, lease, "delivered", None)


async def _compose(rt: Runtime, tenant: Tenant, row: DocumentRecord, to: list[str]) -> EmailMessage:
    account = tenant.account(row.account or "")
    if account is None:
        raise Undeliverable(f"account {row.account!r} is no longer configured")
    attached = await rt.adapter(tenant.id, account).fetch_attached(provider_ref(row))
    if attached is None:
        raise Undeliverable(f"{account.name} does not provide the AttachedDocument")
    seal = authority_of(row).seal
    pdf = await asyncio.to_thread(tenant_pdf, tenant, row.provider or "", row.xml, seal)
    zip_name, content = attachment(tenant, row, attached, pdf)
    assert tenant.email is not None
    return message(tenant.email, tenant, row, to, zip_name, content)


async def _finish(
    rt: Runtime,
    tenant: Tenant,
    row: DocumentRecord,
    state: Delivery,
    lease: Lease,
    status: str,
    error: str | None,
    *,
    retry_at: float | None = None,
) -> None:
    """The new state, its webhook at an end, and the job given back, in one transaction."""
    now = rt.clock()
    new_state = Delivery(status=status, to=state.to, at=_iso(now), error=error)  # type: ignore[arg-type]
    event = {"delivered": "document.delivered", "failed": "document.delivery_failed"}.get(status)
    async with rt.engine.begin() as conn:
        await docs.set_fields(conn, row.id, delivery=new_state)
        if event and webhooks.subscribed(tenant, event):
            new = await docs.get(conn, row.id, tenant.id)
            data = document_resource(new, await docs.attempts_of(conn, row.id))
            await webhooks.publish(conn, tenant, event, f"{row.id}:{event}:{now}", data, now)
        await lease.release_in(conn, retry_at)
    lease.released = True
    if error:
        events.emit(
            "delivery.gave_up" if status == "failed" else "delivery.failed",
            tenant=tenant.id,
            document_id=row.id,
            error=error,
        )


def tenant_pdf(tenant: Tenant, provider: str, signed: bytes, seal: str | None = None) -> bytes:
    """`render_pdf` with the tenant's logo and layout, where `[tenants.printout]` names them, and the
    dates of its numbering resolutions (`resolution_date` of `[[tenants.numbering]]`)."""
    style = tenant.printout
    logo = printout.load_logo(style.logo) if style and style.logo else None
    draw = printout.load_layout(style.layout) if style and style.layout else printout.layout.render
    dates = {r.resolution: r.resolution_date for r in tenant.numbering if r.resolution and r.resolution_date}
    return printout.render_pdf(provider, signed, seal=seal, resolution_dates=dates, logo=logo, draw=draw)
