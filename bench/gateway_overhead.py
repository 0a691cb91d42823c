"""What the gateway costs over calling the provider directly, in one run.

Starts the FacEPro simulator and the gateway (`pasarela serve`, production settings, SQLite) as
child processes on loopback, then with one load generator and the same documents measures:
- the direct call to the simulator (the FacEPro payload our adapter builds), and
- the same canonical document through the gateway (validated, persisted, routed, dispatched to the
  same simulator, recorded),
at concurrency 1 and 50: p50/p99 latency, throughput, the gateway's peak RSS, and the ratios.

Run: .venv/bin/python bench/gateway_overhead.py [--seconds 10] [--requests 400]
Targets (2-core machine): added latency ≤ 2 ms p50 at concurrency 1; ≥ 500 documents/s through the
gateway at concurrency 50; gateway peak RSS ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec

# bench/canonical.py is named like the package: keep this folder off the import path, load loadgen by file.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
_spec = importlib.util.spec_from_file_location("loadgen", HERE / "loadgen.py")
loadgen = importlib.util.module_from_spec(_spec)
sys.modules["loadgen"] = loadgen
_spec.loader.exec_module(loadgen)
Result, encode_request, run = loadgen.Result, loadgen.encode_request, loadgen.run

from adapters.base import Emission  # noqa: E402
from adapters.facepro import FaceProAdapter  # noqa: E402
from canonical.validation import prepare  # noqa: E402
from gateway.tenants.config import load_config  # noqa: E402
from simulators.runner import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-facepro-token"
API_KEY = "bench-api-key-0123456789"

TENANTS = """\
[server]
database = "sqlite:///bench.db"

[[tenants]]
id = "bench"
name = "Bench SAS"
api_keys = ["{api_key}"]

[tenants.issuer]
country = "CO"
party_type = "company"
id_type = "NIT"
id_number = "900373115"
check_digit = "3"
name = "Bench SAS"
address = {{ line = "Carrera 7 # 71-21", city_code = "11001", department_code = "11", country = "CO" }}

[[tenants.accounts]]
name = "facepro"
provider = "facepro"
base_url = "http://127.0.0.1:{sim_port}/api/v1"
credentials = {{ token = "{token}" }}

[[tenants.routes]]
match = {{ country = "CO" }}
chain = ["facepro"]
"""


def wait_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def process_tree(pid: int) -> list[int]:
    """The gateway and, with --workers, its worker processes."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += process_tree(int(child))
    return found


def peak_rss_mb(pid: int) -> list[float]:
    """Peak resident memory of each gateway process (with --workers: the supervisor, then each worker)."""
    peaks = []
    for p in process_tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return peaks


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the gateway's processes: per document, the figure
    that does not depend on what else the machine is running."""
    total = 0
    for p in process_tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cash_sale() -> bytes:
    """The CO example paid in cash: FacEPro, the provider measured here, has no credit terms (the
    example became a credit sale with a due date, which FacEPro refuses)."""
    invoice = msgspec.json.decode((ROOT / "examples" / "co-invoice.json").read_bytes())
    invoice["payment"] = {"form": "cash", "means": "cash"}
    return msgspec.json.encode(invoice)


def direct_payload(config_text: str) -> bytes:
    """The exact body the FacEPro adapter sends for the CO example (what a direct integrator posts)."""
    tenant = load_config(config_text, env={}).tenants[0]
    document, totals = prepare(cash_sale())
    adapter = FaceProAdapter(tenant.accounts[0])
    emission = Emission(document=document, totals=totals, issuer=tenant.issuer, reference="bench")
    return msgspec.json.encode(adapter.build_payload(emission))


def line(label: str, r: Result) -> str:
    ok = sum(n for s, n in r.statuses.items() if s < 300)
    return (
        f"{label:<34} p50 {r.p50:7.2f} ms  p99 {r.percentile(99):7.2f} ms  "
        f"{r.throughput:8.0f} req/s  ({ok}/{len(r.latencies_ms)} 2xx)"
    )


async def measure(
    args: argparse.Namespace, sim_port: int, gw_port: int, direct_body: bytes, gw_pid: int
) -> tuple[dict[str, Result], dict[str, float]]:
    """The four runs, and the gateway's CPU milliseconds per document in each of its two."""
    invoice = cash_sale()
    direct = [
        encode_request(
            "POST",
            "/api/v1/documentos",
            direct_body,
            {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            sim_port,
        )
    ]
    gateway = [
        encode_request(
            "POST",
            "/v1/documents",
            invoice,
            {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
            gw_port,
        )
    ]
    results = {}
    # warm both paths (connection pools, imports, SQLite pages) before measuring
    await run(sim_port, direct, concurrency=4, total=200)
    await run(gw_port, gateway, concurrency=4, total=200)
    cpu_ms = {}
    results["direct c=1"] = await run(sim_port, direct, concurrency=1, total=args.requests)
    before = cpu_seconds(gw_pid)
    results["gateway c=1"] = await run(gw_port, gateway, concurrency=1, total=args.requests)
    cpu_ms["gateway c=1"] = (cpu_seconds(gw_pid) - before) * 1000 / len(results["gateway c=1"].latencies_ms)
    results["direct c=50"] = await run(sim_port, direct, concurrency=50, duration_s=args.seconds)
    before = cpu_seconds(gw_pid)
    results["gateway c=50"] = await run(gw_port, gateway, concurrency=50, duration_s=args.seconds)
    cpu_ms["gateway c=50"] = (cpu_seconds(gw_pid) - before) * 1000 / len(results["gateway c=50"].latencies_ms)
    return results, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each concurrency-50 run")
    parser.add_argument("--requests", type=int, default=400, help="requests of each concurrency-1 run")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run the gateway under py-spy, writing a collapsed-stack profile to FILE",
    )
    args = parser.parse_args()

    sim_port, gw_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="pasarela-bench-") as folder:
        config_text = TENANTS.format(api_key=API_KEY, sim_port=sim_port, token=TOKEN)
        Path(folder, "tenants.toml").write_text(config_text)
        spy = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--rate",
            "250",
            "--format",
            "raw",
            "--",
        ]
        if args.profile:
            spy[-1:-1] = ["-o", str(Path(args.profile).resolve())]
        env = dict(os.environ)  # the gateway logs as in production: one JSON access line per request
        sim = subprocess.Popen(
            [sys.executable, "-c", SIM_MAIN, str(sim_port)], cwd=folder, env=env, stdout=subprocess.DEVNULL
        )
        gw = subprocess.Popen(
            [
                *(spy if args.profile else []),
                sys.executable,
                "-m",
                "gateway.cli.main",
                "serve",
                "--config",
                "tenants.toml",
                "--port",
                str(gw_port),
                "--workers",
                str(args.workers),
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(folder, "gateway.log"), "wb"),
        )
        try:
            wait_http(f"http://127.0.0.1:{sim_port}/api/v1/health", sim, "simulator")
            wait_http(f"http://127.0.0.1:{gw_port}/healthz", gw, "gateway")
            results, cpu_ms = asyncio.run(
                measure(args, sim_port, gw_port, direct_payload(config_text), gw.pid)
            )
            rss = peak_rss_mb(gw.pid)
        finally:
            if args.profile:  # py-spy writes its profile on SIGINT; the gateway under it is its child
                children = process_tree(gw.pid)[1:]
                gw.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    gw.wait(timeout=30)
                for child in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGTERM)
            for p in (gw, sim):
                p.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=10)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}; gateway workers: {args.workers}, store: SQLite (WAL)"
    )
    for label, r in results.items():
        print(line(label, r))
    d1, g1 = results["direct c=1"], results["gateway c=1"]
    d50, g50 = results["direct c=50"], results["gateway c=50"]
    added = g1.p50 - d1.p50
    print(
        f"added latency at c=1: p50 {added:+.2f} ms (target ≤ 2 ms), p99 {g1.percentile(99) - d1.percentile(99):+.2f} ms"
    )
    print(f"latency ratio gateway/direct at c=1: p50 {g1.p50 / d1.p50:.2f}×")
    print(
        f"throughput at c=50: gateway {g50.throughput:.0f} documents/s (target ≥ 500), "
        f"{g50.throughput / d50.throughput:.2f}× the direct call"
    )
    print(
        f"gateway CPU per document: {cpu_ms['gateway c=1']:.2f} ms at c=1, {cpu_ms['gateway c=50']:.2f} ms "
        "at c=50 (independent of the machine's other load)"
    )
    each = " + ".join(f"{mb:.0f}" for mb in rss)
    print(f"gateway peak RSS: {max(rss):.0f} MB per process (target ≤ 200 MB); all processes: {each} MB")


# The simulator alone, in its own process: the bench measures the gateway, not a shared event loop.
SIM_MAIN = """
import sys, uvicorn
from simulators.control import SimState
from simulators.facepro import create_app
uvicorn.run(create_app(SimState()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

if __name__ == "__main__":
    main()
