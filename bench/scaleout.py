"""Documents per second with 1, 2 and 3 gateway processes on PostgreSQL, next to one on SQLite.

For each store and process count: a fresh database, `pasarela serve --workers N` (N processes
sharing the port and the store), the provider's simulator in its own process, a warm-up, then the
CO example posted at concurrency 50 for `--seconds` (sync mode: each answer is the provider's
outcome). Two workloads: `facepro` (the provider numbers: no counter of ours) and `apidian` (we
number from our range: every document takes the range's counter, the row all processes share).

Run: .venv/bin/python bench/scaleout.py [--seconds 10] [--providers facepro,apidian]
     [--pg postgresql://postgres@127.0.0.1:5432/pasarela]  (each run creates and drops its own
     database next to the one named; default: $PASARELA_TEST_PG_URL)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/canonical.py vs the package
_spec = importlib.util.spec_from_file_location("loadgen", HERE / "loadgen.py")
loadgen = importlib.util.module_from_spec(_spec)
sys.modules["loadgen"] = loadgen
_spec.loader.exec_module(loadgen)

from canonical import clock  # noqa: E402
from simulators.runner import free_port  # noqa: E402

ROOT = HERE.parent
API_KEY = "bench-api-key-0123456789"
ISSUER = (
    'issuer = { country = "CO", party_type = "company", id_type = "NIT", id_number = "900373115", '
    'check_digit = "3", name = "Bench SAS", address = { line = "Carrera 7 # 71-21", city_code = "11001", '
    'department_code = "11", country = "CO" } }'
)
ACCOUNTS = {
    "facepro": """
[[tenants.accounts]]
name = "facepro"
provider = "facepro"
base_url = "http://127.0.0.1:{sim_port}/api/v1"
credentials = {{ token = "bench-facepro-token" }}
""",
    "apidian": """
[[tenants.numbering]]
name = "setp"
kinds = ["invoice"]
prefix = "SETP"
resolution = "18760000001"
from = 990000000
to = 995000000
valid_from = 2019-01-19
valid_to = 2030-01-19
technical_key = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
[[tenants.accounts]]
name = "apidian"
provider = "apidian"
base_url = "http://127.0.0.1:{sim_port}/api/ubl2.1"
credentials = {{ token = "bench-apidian-token", software_pin = "75315" }}
""",
}
TENANTS = """
[server]
database = "{database}"

[[tenants]]
id = "bench"
name = "Bench SAS"
api_keys = ["{api_key}"]
{issuer}
{account}
[[tenants.routes]]
chain = ["{provider}"]
"""
SIM_MAIN = """
import importlib, sys, uvicorn
from simulators.control import SimState
app = importlib.import_module("simulators." + sys.argv[1]).create_app(SimState())
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""
HEALTH = {"facepro": "/api/v1/health", "apidian": "/"}


def invoice() -> bytes:
    """The CO example issued today, due in a month (APIDIAN refuses a term over 999 days)."""
    raw = json.loads((ROOT / "examples" / "co-invoice.json").read_bytes())
    raw["payment"]["due_date"] = (clock.today(ZoneInfo("America/Bogota")) + dt.timedelta(days=30)).isoformat()
    return json.dumps(raw).encode()


def wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


async def _pg(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def database(store: str, pg_url: str | None, folder: str):
    """A fresh database: an SQLite file, or a PostgreSQL database dropped afterwards."""
    if store == "sqlite":
        yield f"sqlite:///{Path(folder) / f'bench-{secrets.token_hex(3)}.db'}"
        return
    base = make_url(pg_url)
    name = f"{base.database}_bench_{secrets.token_hex(4)}"
    asyncio.run(_pg(pg_url, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def measure(provider: str, sim_port: int, url: str, processes: int, seconds: float, folder: str) -> dict:
    config = Path(folder) / "tenants.toml"
    config.write_text(
        TENANTS.format(
            database=url,
            api_key=API_KEY,
            issuer=ISSUER,
            account=ACCOUNTS[provider].format(sim_port=sim_port),
            provider=provider,
        )
    )
    port = free_port()
    log = Path(folder) / "gateway.log"
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port", str(port),
         "--workers", str(processes)],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", gateway, "gateway")
        request = loadgen.encode_request(
            "POST",
            "/v1/documents",
            invoice(),
            {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
            port,
        )
        asyncio.run(loadgen.run(port, [request], concurrency=8, total=300))  # warm every worker
        result = asyncio.run(loadgen.run(port, [request], concurrency=50, duration_s=seconds))
    finally:
        gateway.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            gateway.wait(timeout=15)
    created = result.statuses.get(201, 0)
    return {
        "documents/s": created / result.elapsed_s,
        "p50 ms": result.p50,
        "p99 ms": result.percentile(99),
        "answers": dict(sorted(result.statuses.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measured run")
    parser.add_argument("--providers", default="facepro,apidian")
    parser.add_argument(
        "--pg",
        default=os.environ.get("PASARELA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/pasarela"),
        help="a PostgreSQL database on the server to use (each run gets its own database next to it)",
    )
    parser.add_argument("--processes", default="1,2,3", help="PostgreSQL process counts")
    args = parser.parse_args()
    runs = [("sqlite", 1)] + [("postgresql", int(n)) for n in args.processes.split(",")]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}; concurrency 50 for {args.seconds:.0f} s per run"
    )
    print(
        f"{'provider':<9} {'store':<11} {'processes':>9} {'documents/s':>12} {'p50 ms':>8} {'p99 ms':>8}  answers"
    )
    for provider in args.providers.split(","):
        sim_port = free_port()
        with tempfile.TemporaryDirectory(prefix="pasarela-scaleout-") as folder:
            sim = subprocess.Popen(
                [sys.executable, "-c", SIM_MAIN, provider, str(sim_port)],
                cwd=folder,
                stdout=subprocess.DEVNULL,
            )
            try:
                wait_http(f"http://127.0.0.1:{sim_port}{HEALTH[provider]}", sim, "simulator")
                for store, processes in runs:
                    with database(store, args.pg, folder) as url:
                        figures = measure(provider, sim_port, url, processes, args.seconds, folder)
                    print(
                        f"{provider:<9} {store:<11} {processes:>9} {figures['documents/s']:>12.1f} "
                        f"{figures['p50 ms']:>8.1f} {figures['p99 ms']:>8.1f}  {figures['answers']}",
                        flush=True,
                    )
            finally:
                sim.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    sim.wait(timeout=10)


if __name__ == "__main__":
    main()
