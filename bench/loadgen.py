"""A lean HTTP/1.1 keep-alive load generator on asyncio streams, for the benchmarks.

The generator shares the 2-core machine with what it measures, so it must cost little per request:
a pre-encoded request, one `readuntil` for the head and one `readexactly` for the body. It speaks
only what our own servers answer (Content-Length bodies) and only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def encode_request(method: str, path: str, body: bytes, headers: dict[str, str], port: int) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def run(
    port: int,
    requests: list[bytes],
    *,
    concurrency: int,
    total: int | None = None,
    duration_s: float | None = None,
) -> Result:
    """Send requests (cycling through `requests`) with `concurrency` connections, either `total`
    requests or for `duration_s` seconds; every loop is bounded."""
    result = Result()
    counter = iter(range(total if total is not None else 10**9))
    stop_at = time.perf_counter() + duration_s if duration_s else None

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in counter:
                if stop_at is not None and time.perf_counter() > stop_at:
                    break
                started = time.perf_counter()
                status = await _exchange(reader, writer, requests[i % len(requests)])
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result
