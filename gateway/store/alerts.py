"""Alert conditions, one row per (tenant, kind, subject): `active` turns on once per occurrence,
so an alert's event is published once, not once per request (gateway.delivery.alerts)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store import dialect
from gateway.store.schema import alerts, documents


async def turn_on(
    conn: AsyncConnection, tenant_id: str, kind: str, subject: str, detail: str, now: float
) -> int | None:
    """Mark the condition active; how many times it was raised so far, or None: it already was."""
    await conn.execute(
        dialect.insert(conn, alerts)
        .values(tenant_id=tenant_id, kind=kind, subject=subject, active=False, raised=0, updated_at=now)
        .on_conflict_do_nothing()
    )
    result = await conn.execute(
        alerts.update()
        .where(
            alerts.c.tenant_id == tenant_id,
            alerts.c.kind == kind,
            alerts.c.subject == subject,
            alerts.c.active.is_(False),
        )
        .values(active=True, raised=alerts.c.raised + 1, detail=detail, updated_at=now)
        .returning(alerts.c.raised)
    )
    raised = result.scalar()
    return None if raised is None else int(raised)


async def turn_off(conn: AsyncConnection, tenant_id: str, kind: str, subject_prefix: str, now: float) -> None:
    """The conditions of `subject_prefix` (and its `prefix#...` sub-subjects) are over."""
    await conn.execute(
        alerts.update()
        .where(
            alerts.c.tenant_id == tenant_id,
            alerts.c.kind == kind,
            sa.or_(alerts.c.subject == subject_prefix, alerts.c.subject.like(subject_prefix + "#%")),
        )
        .values(active=False, updated_at=now)
    )


async def active_counts(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """Active conditions by (tenant, kind)."""
    rows = await conn.execute(
        sa.select(alerts.c.tenant_id, alerts.c.kind, sa.func.count())
        .where(alerts.c.active.is_(True))
        .group_by(alerts.c.tenant_id, alerts.c.kind)
    )
    return {(tenant_id, kind): int(count) for tenant_id, kind, count in rows.all()}


async def needing_attention(conn: AsyncConnection) -> dict[str, int]:
    """Documents `unknown` and flagged for an operator, by tenant."""
    rows = await conn.execute(
        sa.select(documents.c.tenant_id, sa.func.count())
        .where(documents.c.needs_attention.is_(True), documents.c.status == "unknown")
        .group_by(documents.c.tenant_id)
    )
    return {tenant_id: int(count) for tenant_id, count in rows.all()}
