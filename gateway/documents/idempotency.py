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
from typing import Final

from msgspec import Struct

from gateway.store import Conflict, Conn, Engine, jobs
from gateway.store import idempotency as store
from gateway.store.records import IdempotencyRecord

RETENTION_S: Final = store.RETENTION_S
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
    engine: Engine, tenant_id: str, claim: Claim, print_: str, now: float, *, stale_after_s: float
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
            row = await store.get(conn, tenant_id, key)
            if row is not None and now - row.created_at > RETENTION_S:
                _taken(await store.delete_unchanged(conn, row))
                row = None
            if row is None:
                await store.insert(conn, tenant_id, key, print_, claim.owner, now)
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
            _taken(await store.take_over_unchanged(conn, row, claim.owner, now))
            return None
    except Conflict:  # PostgreSQL: a concurrent first request inserted the same key
        raise _in_flight() from None


def _taken(changed: bool) -> None:
    if not changed:
        raise _in_flight()  # another request changed the record since we read it


async def _runs(conn: Conn, row: IdempotencyRecord, now: float) -> bool:
    """Whether the request that created the record's document still runs: it holds the document's
    job under its own owner, and renews that lease while it waits on a provider. A dead one's
    lease lapses within `lease_s`, or another worker has taken the job over (issue 14: a retry
    after a crash got 409 for the whole deadline plus a lease, 90 s)."""
    job = await jobs.lease_of(conn, "document", row.document_id)
    return job is not None and job.locked_by == row.owner and (job.locked_until or 0) > now


def _in_flight() -> IdempotencyProblem:
    return IdempotencyProblem(
        409, "idempotency-in-flight", "a request with this Idempotency-Key is in progress"
    )


async def attach(conn: Conn, tenant_id: str, claim: Claim, document_id: str) -> None:
    """Link the document in the transaction that creates it, if the record is still this
    request's: one taken over meanwhile (this request was presumed dead) refuses, and the
    creation rolls back (its number included) instead of issuing a second document."""
    if not await store.link_document(conn, tenant_id, claim.key, claim.owner, document_id):
        raise _in_flight()


async def finish(engine: Engine, tenant_id: str, key: str, status_code: int, body: bytes) -> None:
    await store.finish(engine, tenant_id, key, status_code, body)


async def abandon(engine: Engine, tenant_id: str, claim: Claim) -> None:
    """An unexpected server error is not an answer to replay: the client may try again (unless
    the record is no longer this request's)."""
    await store.abandon(engine, tenant_id, claim.key, claim.owner)
