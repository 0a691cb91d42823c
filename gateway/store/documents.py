"""Documents and their attempts: the repository every other layer goes through.

Status changes are compare-and-set on `version` and must follow `TRANSITIONS`, so a poller, a
refresh and an operator's resolve racing on one document cannot move it backwards
(research/anchors.md (c) 6): the loser re-reads and finds the newer state.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from canonical.document import Document
from gateway.store import records
from gateway.store.prepared import Prepared
from gateway.store.records import AttemptRecord, DocumentRecord
from gateway.store.schema import attempts, documents

TERMINAL: Final = frozenset({"accepted", "rejected", "failed"})
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "queued": frozenset({"queued", "pending", "accepted", "rejected", "unknown", "failed"}),
    # unknown → queued only once reconciliation (or an operator) established "not issued"
    "unknown": frozenset({"unknown", "queued", "pending", "accepted", "rejected", "failed"}),
    "pending": frozenset({"pending", "accepted", "rejected"}),
    "accepted": frozenset(),
    "rejected": frozenset(),
    "failed": frozenset(),
}


class StaleDocument(Exception):
    """Someone else changed the document first (or the transition would go backwards)."""


# The statements of every document's path, built once and executed with parameters (on SQLite
# straight on its connection: gateway.store.prepared says why). Parameters of WHERE clauses are
# named `w_*`: the other keys of an UPDATE's parameters are its SET clause.
_BY_ID_QUERY: Final = sa.select(documents).where(documents.c.id == sa.bindparam("w_id"))
_INSERT: Final = Prepared(documents.insert().returning(documents))
_BY_ID: Final = Prepared(_BY_ID_QUERY)
_BY_ID_OF_TENANT: Final = Prepared(_BY_ID_QUERY.where(documents.c.tenant_id == sa.bindparam("w_tenant")))
_TRANSITION: Final = Prepared(
    documents.update()
    .where(documents.c.id == sa.bindparam("w_id"), documents.c.version == sa.bindparam("w_version"))
    .returning(documents)
)
_AT_VERSION: Final = Prepared(
    sa.select(documents.c.id).where(
        documents.c.id == sa.bindparam("w_id"), documents.c.version == sa.bindparam("w_version")
    )
)
_UPDATE: Final = Prepared(documents.update().where(documents.c.id == sa.bindparam("w_id")))
_COLUMNS: Final = frozenset(documents.c.keys())
_ATTEMPT_INSERT: Final = Prepared(attempts.insert())
_ATTEMPT_UPDATE: Final = Prepared(attempts.update().where(attempts.c.id == sa.bindparam("w_id")))
_ATTEMPTS_OF: Final = Prepared(
    sa.select(attempts).where(attempts.c.document_id == sa.bindparam("w_doc")).order_by(attempts.c.id)
)


def _checked(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """Parameters that are not columns would be ignored silently: refuse them, as `.values()` did.
    The typed values of JSON columns come back encoded (records.document_columns)."""
    unknown = values.keys() - _COLUMNS
    if unknown:
        raise sa.exc.CompileError(f"Unconsumed column names: {', '.join(sorted(unknown))}")
    return records.document_columns(values)


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> DocumentRecord:
    """The new document, as stored (RETURNING: no read after the write)."""
    return records.document((await _INSERT.execute(conn, dict(_checked(values)))).one())


async def get(conn: AsyncConnection, doc_id: str, tenant_id: str | None = None) -> DocumentRecord | None:
    """A document by id; with `tenant_id`, only that tenant's (another tenant's id is 'not found')."""
    if tenant_id is None:
        row = (await _BY_ID.execute(conn, {"w_id": doc_id})).first()
    else:
        row = (await _BY_ID_OF_TENANT.execute(conn, {"w_id": doc_id, "w_tenant": tenant_id})).first()
    return None if row is None else records.document(row)


async def transition(
    conn: AsyncConnection, row: DocumentRecord, status: str, now: float, **values: Any
) -> DocumentRecord:
    """Move `row` to `status` with `values` and return the new row, or raise StaleDocument."""
    if status not in TRANSITIONS[row.status]:
        raise StaleDocument(f"{row.id}: {row.status} → {status} is not allowed")
    result = await _TRANSITION.execute(
        conn,
        {
            "w_id": row.id,
            "w_version": row.version,
            "status": status,
            "version": row.version + 1,
            "updated_at": now,
            **_checked(values),
        },
    )
    new = result.first()
    if new is None:
        raise StaleDocument(f"{row.id}: changed concurrently")
    return records.document(new)


async def check_unchanged(conn: AsyncConnection, row: DocumentRecord) -> None:
    """Raise StaleDocument unless the document is still at `row`'s version. A decision taken on a
    row read earlier (send the document) is committed with this check: a worker may have read the
    row before another one recorded an answer, then the attempts after it (two statements)."""
    if (await _AT_VERSION.execute(conn, {"w_id": row.id, "w_version": row.version})).first() is None:
        raise StaleDocument(f"{row.id}: changed since it was read")


async def set_fields(conn: AsyncConnection, doc_id: str, **values: Any) -> None:
    """Fields that do not change the status (stored XML)."""
    await _UPDATE.execute(conn, {"w_id": doc_id, **_checked(values)})


async def begin_attempt(conn: AsyncConnection, doc_id: str, account: str, provider: str, now: float) -> int:
    """Written (and committed) before sending: a crash leaves `in_flight`, which resume reads as
    'may have been sent' and reconciles instead of sending blindly again."""
    result = await _ATTEMPT_INSERT.execute(
        conn,
        {"document_id": doc_id, "account": account, "provider": provider, "outcome": "in_flight", "at": now},
    )
    return int(result.inserted_primary_key[0])


async def record_attempt(
    conn: AsyncConnection,
    doc_id: str,
    account: str,
    provider: str,
    outcome: str,
    now: float,
    *,
    error: str | None = None,
    latency_ms: int | None = None,
    attempt_id: int | None = None,
) -> None:
    values = {"outcome": outcome, "error": error, "latency_ms": latency_ms}
    if attempt_id is not None:
        await _ATTEMPT_UPDATE.execute(conn, {"w_id": attempt_id, **values})
    else:
        await _ATTEMPT_INSERT.execute(
            conn,
            {"document_id": doc_id, "account": account, "provider": provider, "at": now, **values},
        )


async def attempts_of(conn: AsyncConnection, doc_id: str) -> list[AttemptRecord]:
    return [records.attempt(a) for a in (await _ATTEMPTS_OF.execute(conn, {"w_doc": doc_id})).all()]


async def attempts_of_each(conn: AsyncConnection, doc_ids: Sequence[str]) -> dict[str, list[AttemptRecord]]:
    """The attempts of several documents (a page of the list) in one query, by document id."""
    by_document: dict[str, list[AttemptRecord]] = {doc_id: [] for doc_id in doc_ids}
    if doc_ids:
        query = sa.select(attempts).where(attempts.c.document_id.in_(doc_ids)).order_by(attempts.c.id)
        for attempt in (await conn.execute(query)).all():
            by_document[attempt.document_id].append(records.attempt(attempt))
    return by_document


def encode_cursor(created_at: float, doc_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at!r}|{doc_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Raises ValueError on a cursor we did not make."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    created_at, _, doc_id = raw.partition("|")
    if not doc_id:
        raise ValueError("bad cursor")
    return float(created_at), doc_id


async def list_page(
    conn: AsyncConnection,
    tenant_id: str,
    *,
    status: str | None = None,
    country: str | None = None,
    kind: str | None = None,
    created_from: float | None = None,
    created_to: float | None = None,
    cursor: tuple[float, str] | None = None,
    limit: int = 50,
) -> tuple[list[DocumentRecord], str | None]:
    """Newest first; the cursor is the (created_at, id) of the last row served."""
    query = sa.select(documents).where(documents.c.tenant_id == tenant_id)
    for column, value in (
        (documents.c.status, status),
        (documents.c.country, country),
        (documents.c.kind, kind),
    ):
        if value is not None:
            query = query.where(column == value)
    if created_from is not None:
        query = query.where(documents.c.created_at >= created_from)
    if created_to is not None:
        query = query.where(documents.c.created_at < created_to)
    if cursor is not None:
        at, last_id = cursor
        query = query.where(
            sa.or_(
                documents.c.created_at < at, sa.and_(documents.c.created_at == at, documents.c.id < last_id)
            )
        )
    query = query.order_by(documents.c.created_at.desc(), documents.c.id.desc()).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return [records.document(r) for r in rows[:limit]], next_cursor


async def counts_by_status(conn: AsyncConnection) -> list[records.StatusCount]:
    query = sa.select(
        documents.c.tenant_id, documents.c.status, documents.c.provider, sa.func.count()
    ).group_by(documents.c.tenant_id, documents.c.status, documents.c.provider)
    return [records.StatusCount(*row) for row in (await conn.execute(query)).all()]


async def highest_consecutive(conn: AsyncConnection, tenant_id: str, range_name: str) -> int | None:
    """The highest consecutive any document of this tenant holds from this range."""
    query = sa.select(sa.func.max(documents.c.consecutive)).where(
        documents.c.tenant_id == tenant_id, documents.c.numbering_range == range_name
    )
    value = (await conn.execute(query)).scalar()
    return None if value is None else int(value)


async def issued_matching(
    conn: AsyncConnection,
    tenant_id: str,
    country: str,
    statuses: Sequence[str],
    number: str,
    fiscal_id: str | None,
) -> list[records.Issued]:
    """(number, fiscal_id, issue_date) of the tenant's documents in `statuses` with this number or
    fiscal id (a note's reference)."""
    named = [documents.c.number == number]
    if fiscal_id:
        named.append(documents.c.fiscal_id == fiscal_id)
    query = sa.select(documents.c.number, documents.c.fiscal_id, documents.c.issue_date).where(
        documents.c.tenant_id == tenant_id,
        documents.c.country == country,
        documents.c.status.in_(statuses),
        sa.or_(*named),
    )
    return [records.Issued(*row) for row in (await conn.execute(query)).all()]


async def credit_notes_since(
    conn: AsyncConnection, tenant_id: str, since: float, excluded_statuses: Sequence[str], not_voiding: str
) -> list[tuple[str, Document]]:
    """(id, canonical document) of the tenant's credit notes created since `since`, not in
    `excluded_statuses` and not the annulment of `not_voiding`."""
    query = sa.select(documents.c.id, documents.c.document).where(
        documents.c.tenant_id == tenant_id,
        documents.c.kind == "credit_note",
        documents.c.status.not_in(sorted(excluded_statuses)),
        documents.c.created_at >= since,
        sa.or_(documents.c.voids.is_(None), documents.c.voids != not_voiding),
    )
    return [(doc_id, records.document_of_bytes(body)) for doc_id, body in (await conn.execute(query)).all()]


async def claim_void(conn: AsyncConnection, doc_id: str, claim: str, now: float, stale_before: float) -> bool:
    """Mark the document as being voided (`voided_by=claim`) unless it is voided or another void's
    claim is newer than `stale_before`; True when this caller got it."""
    result = await conn.execute(
        documents.update()
        .where(
            documents.c.id == doc_id,
            sa.or_(
                documents.c.voided_by.is_(None),
                sa.and_(documents.c.voided_by == claim, documents.c.voided_at < stale_before),
            ),
        )
        .values(voided_by=claim, voided_at=now)
    )
    return bool(result.rowcount == 1)


async def set_fields_if_voided_by(conn: AsyncConnection, doc_id: str, claim: str, **values: Any) -> None:
    """`set_fields`, only while the document's `voided_by` is still `claim` (a void in progress)."""
    await conn.execute(
        documents.update()
        .where(documents.c.id == doc_id, documents.c.voided_by == claim)
        .values(**_checked(values))
    )


async def update_if_version(conn: AsyncConnection, doc_id: str, expected: int, **values: Any) -> bool:
    """Compare-and-set on `version` without the TRANSITIONS check (a correction re-queues a
    rejected document); True when the document was still at version `expected`."""
    result = await conn.execute(
        documents.update()
        .where(documents.c.id == doc_id, documents.c.version == expected)
        .values(**_checked(values))
    )
    return bool(result.rowcount == 1)
