"""Idempotency-Key (IETF httpapi draft; research/anchors.md §6.1), scoped per tenant.

- first request with a key: processed; its response (success or error) is stored;
- same key, same body: the stored response is replayed, byte for byte;
- same key, different body: 422;
- same key while the first is still in flight: 409.

The fingerprint covers method, path, query and body. A record stays `in_flight` only while its
request runs; one left by a process that died is taken over after `stale_after_s` (the document it
created, if any, is answered in its current state). Records are kept 24 hours (`RETENTION_S`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

import sqlalchemy as sa
from msgspec import Struct
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.store.schema import idempotency

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


async def begin(
    engine: AsyncEngine, tenant_id: str, key: str, print_: str, now: float, *, stale_after_s: float
) -> Replay | None:
    """None: go ahead (the record is now ours); a Replay: answer with it; or IdempotencyProblem."""
    try:
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(idempotency).where(
                        idempotency.c.tenant_id == tenant_id, idempotency.c.key == key
                    )
                )
            ).first()
            if row is not None and now - row.created_at > RETENTION_S:
                await conn.execute(
                    idempotency.delete().where(idempotency.c.tenant_id == tenant_id, idempotency.c.key == key)
                )
                row = None
            if row is None:
                await conn.execute(
                    idempotency.insert().values(
                        tenant_id=tenant_id, key=key, fingerprint=print_, state="in_flight", created_at=now
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
            if now - row.created_at < stale_after_s:
                raise IdempotencyProblem(
                    409, "idempotency-in-flight", "a request with this Idempotency-Key is in progress"
                )
            if row.document_id is not None:
                return Replay(document_id=row.document_id)
            await conn.execute(  # the first request died before creating anything: take it over
                idempotency.update()
                .where(idempotency.c.tenant_id == tenant_id, idempotency.c.key == key)
                .values(created_at=now)
            )
            return None
    except IntegrityError:  # PostgreSQL: a concurrent first request inserted the same key
        raise IdempotencyProblem(
            409, "idempotency-in-flight", "a request with this Idempotency-Key is in progress"
        ) from None


async def attach(conn: AsyncConnection, tenant_id: str, key: str, document_id: str) -> None:
    """Link the document in the transaction that creates it."""
    await conn.execute(
        idempotency.update()
        .where(idempotency.c.tenant_id == tenant_id, idempotency.c.key == key)
        .values(document_id=document_id)
    )


async def finish(engine: AsyncEngine, tenant_id: str, key: str, status_code: int, body: bytes) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.update()
            .where(idempotency.c.tenant_id == tenant_id, idempotency.c.key == key)
            .values(state="done", status_code=status_code, response=body)
        )


async def abandon(engine: AsyncEngine, tenant_id: str, key: str) -> None:
    """An unexpected server error is not an answer to replay: the client may try again."""
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.delete().where(
                idempotency.c.tenant_id == tenant_id,
                idempotency.c.key == key,
                idempotency.c.state == "in_flight",
            )
        )
