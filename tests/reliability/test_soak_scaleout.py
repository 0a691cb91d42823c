"""The soak on PostgreSQL with several gateway processes (issue 14, item 4): the same documents,
faults and ledger checks as `test_soak.py`, through N `pasarela serve` processes sharing one
database, a client spreading its requests over them as a load balancer would (a request cut by a
crash is repeated on the next live process, with its Idempotency-Key). One process is killed with
SIGKILL a third into the run and started again at two thirds: meanwhile the others take over its
documents when their leases lapse.

`make test` runs 3 processes and PASARELA_SOAK_SCALEOUT_DOCS (default 300) documents when
PASARELA_TEST_PG_URL is set; `make soak` (PASARELA_SOAK=full) runs 1, 2 and 3 processes with
PASARELA_SOAK_DOCS documents each. Each run has its own database, created next to the one the
URL names and dropped afterwards. `pytest -s` prints the figures of docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from test_soak import DOCUMENTS, FULL, soak

PG_URL = os.environ.get("PASARELA_TEST_PG_URL")
SCALEOUT_DOCS = DOCUMENTS if FULL else int(os.environ.get("PASARELA_SOAK_SCALEOUT_DOCS", "300"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(7200 if FULL else 300)]


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on the server of `url` (named after its database), dropped after."""
    base = make_url(url)
    name = f"{base.database}_soak_{secrets.token_hex(4)}"
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def crashes_for(processes: int) -> list[tuple[float, str, int]]:
    """kill -9 of process 0 at a third; with one process it comes back at once, with several it
    stays down until two thirds (the others take its leased documents over)."""
    if processes == 1:
        return [(1 / 3, "kill_and_restart", 0)]
    return [(1 / 3, "kill", 0), (2 / 3, "start", 0)]


@pytest.mark.parametrize("processes", [1, 2, 3] if FULL else [3])
def test_soak_on_postgresql_with_several_processes_and_a_kill(
    tmp_path: Path, example_bytes: dict[str, bytes], processes: int
):
    if not PG_URL:
        pytest.skip("PASARELA_TEST_PG_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    with fresh_database(PG_URL) as database:
        report = soak(tmp_path, example_bytes, database, processes, crashes_for(processes), SCALEOUT_DOCS)
    assert report["issued twice"] == 0
    assert report["failed but issued"] == 0
