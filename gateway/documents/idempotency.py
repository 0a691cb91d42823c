"""Idempotency-Key (IETF httpapi draft; research/anchors.md §6.1), scoped per tenant.

- first request with a key: processed; its response (success or error) is stored;
- same key, same body: the stored response is replayed, byte for byte;
- same key, different body: 422;
- same key while the first is still in flight: 409.

The fingerprint covers method, path, query and body. A record stays `in_flight` only while its
request runs. One left by a request that died is answered with the document it created, in its
current state, as soon as that request's job lease has lapsed; one without a document is taken
over after `stale_after_s`. Records are kept 24 hours (`RETENTION_S`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable
from typing import Any, Final

import sqlalchemy as sa
from msgspec import Struct
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.schema import idempotency, jobs

RETENTION_S: Final = 24 * 3600
KEY_FORMAT: Final = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


class IdempotencyProblem(Exception):
    def __init__(self, status: int, rule: str, message: str) -> None:
        super().__init__(message)
        self.status, self.rule, self.message = status, rule, message


class Replay(Struct, kw_only=True):
    status_code: int | None = None  # a stored response to send again
    body: bytes | None = None
    document_id: str | None = None  # or: answer with this document's current state


def parse_key(header: str) -> str:
    """The header is a structured-field string: `"abc"`; a bare token is accepted too."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not KEY_FORMAT.match(key):
        raise IdempotencyProblem(
            400, "idempotency-key-format", "Idempotency-Key must be 1-255 printable ASCII characters"
        )
    return key


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
    digest.update(body)
    return digest.hexdigest()


class Claim(Struct, frozen=True):
    """A key this request holds: `owner` (a job-lease owner, gateway.store.jobs.owner) fences the
    record, and a sync request runs its document's job under that same owner, so a repeat can tell
    a live first request (its lease runs) from a dead one."""

    key: str
    owner: str


async def begin(
    engine: AsyncEngine, tenant_id: str, claim: Claim, print_: str, now: float, *, stale_after_s: float
) -> Replay | None:
    """None: go ahead (the record is now `claim.owner`'s); a Replay: answer with it; or
    IdempotencyProblem. `stale_after_s`: how long a record without a document may stay in flight
    before another request takes it over (the first one died before creating anything).

    Every change to an existing record is conditional on what was read (its owner, its creation
    time, no document yet): two repeats racing to take over a dead request's record cannot both
    win (issue 14: both did, and issued two documents, in 29 of 40 tries on PostgreSQL)."""
    key = claim.key
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(_RECORD, {"w_tenant": tenant_id, "w_key": key})).first()
            if row is not None and now - row.created_at > RETENTION_S:
                await _taken(conn.execute(_this(row, tenant_id, key, idempotency.delete())))
                row = None
            if row is None:
                await conn.execute(
                    idempotency.insert().values(
                        tenant_id=tenant_id,
                        key=key,
                        fingerprint=print_,
                        state="in_flight",
                        owner=claim.owner,
                        created_at=now,
                    )
                )
                return None
            if row.fingerprint != print_:
                raise IdempotencyProblem(
                    422,
                    "idempotency-key-reused",
                    "this Idempotency-Key was used with a different request body",
                )
            if row.state == "done":
                return Replay(status_code=row.status_code, body=row.response)
            if row.document_id is not None:
                if await _runs(conn, row, now):
                    raise _in_flight()
                return Replay(document_id=row.document_id)  # its request died: the document answers
            if now - row.created_at < stale_after_s:
                raise _in_flight()
            # the first request died before creating anything: take the record over, unless
            # another repeat did so first
            await _taken(
                conn.execute(
                    _this(row, tenant_id, key, idempotency.update()).values(owner=claim.owner, created_at=now)
                )
            )
            return None
    except IntegrityError:  # PostgreSQL: a concurrent first request inserted the same key
        raise _in_flight() from None


_RECORD: Final = sa.select(idempotency).where(
    idempotency.c.tenant_id == sa.bindparam("w_tenant"), idempotency.c.key == sa.bindparam("w_key")
)


def _this(row: Row[Any], tenant_id: str, key: str, statement: Any) -> Any:
    """`statement` on the record only as it was read: nobody took it over, linked or finished it."""
    return statement.where(
        idempotency.c.tenant_id == tenant_id,
        idempotency.c.key == key,
        idempotency.c.state == row.state,
        idempotency.c.created_at == row.created_at,
        idempotency.c.owner == row.owner if row.owner is not None else idempotency.c.owner.is_(None),
        idempotency.c.document_id.is_(None)
        if row.document_id is None
        else idempotency.c.document_id == row.document_id,
    )


async def _taken(result: Awaitable[Any]) -> None:
    if (await result).rowcount != 1:
        raise _in_flight()  # another request changed the record since we read it


async def _runs(conn: AsyncConnection, row: Row[Any], now: float) -> bool:
    """Whether the request that created the record's document still runs: it holds the document's
    job under its own owner, and renews that lease while it waits on a provider. A dead one's
    lease lapses within `lease_s`, or another worker has taken the job over (issue 14: a retry
    after a crash got 409 for the whole deadline plus a lease, 90 s)."""
    query = sa.select(jobs.c.locked_by, jobs.c.locked_until).where(
        jobs.c.kind == "document", jobs.c.subject == row.document_id
    )
    job = (await conn.execute(query)).first()
    return job is not None and job.locked_by == row.owner and (job.locked_until or 0) > now


def _in_flight() -> IdempotencyProblem:
    return IdempotencyProblem(
        409, "idempotency-in-flight", "a request with this Idempotency-Key is in progress"
    )


async def attach(conn: AsyncConnection, tenant_id: str, claim: Claim, document_id: str) -> None:
    """Link the document in the transaction that creates it, if the record is still this
    request's: one taken over meanwhile (this request was presumed dead) refuses, and the
    creation rolls back (its number included) instead of issuing a second document."""
    result = await conn.execute(
        idempotency.update()
        .where(
            idempotency.c.tenant_id == tenant_id,
            idempotency.c.key == claim.key,
            idempotency.c.owner == claim.owner,
            idempotency.c.state == "in_flight",
            idempotency.c.document_id.is_(None),
        )
        .values(document_id=document_id)
    )
    if result.rowcount != 1:
        raise _in_flight()


async def finish(engine: AsyncEngine, tenant_id: str, key: str, status_code: int, body: bytes) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.update()
            .where(idempotency.c.tenant_id == tenant_id, idempotency.c.key == key)
            .values(state="done", status_code=status_code, response=body)
        )


async def abandon(engine: AsyncEngine, tenant_id: str, claim: Claim) -> None:
    """An unexpected server error is not an answer to replay: the client may try again (unless
    the record is no longer this request's)."""
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.delete().where(
                idempotency.c.tenant_id == tenant_id,
                idempotency.c.key == claim.key,
                idempotency.c.owner == claim.owner,
                idempotency.c.state == "in_flight",
            )
        )
