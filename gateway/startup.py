"""Bringing a `Runtime` up, in order: the store migrated and seeded, the admin API's changes overlaid
on the tenants file, every numbering counter checked. It sits above the runtime, tenancy and the
numbering guard (which all take a `Runtime`), so the runtime imports none of them."""

from __future__ import annotations

from gateway.documents.numbering_guard import check_authority, check_store
from gateway.tenants.config import Config
from gateway.tenants.runtime import Runtime
from gateway.tenants.tenancy import load_all


async def start(rt: Runtime) -> None:
    await rt.prepare()
    await load_all(rt)  # the file overlaid with the admin API's changes
    await check_store(rt)  # a counter behind its documents would reissue a number


async def preflight(config: Config) -> list[str]:
    """What `serve` checks before it listens: migrations, seeding, and every counter against the
    store and DIAN. Raises NumberingBehind; returns warnings."""
    rt = Runtime(config)
    try:
        await start(rt)
        return await check_authority(rt)
    finally:
        await rt.close()
