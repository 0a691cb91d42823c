"""Whether the store answers (`/healthz`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


async def ping(engine: AsyncEngine) -> None:
    """One trivial query on a connection of `engine`; raises when the store does not answer."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
