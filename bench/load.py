"""Load generators: ``wrk`` for GETs (an httpx asyncio loop when wrk is missing), and threads
of the standard library's HTTP client for uploads.

Why wrk: a Python client on this 2-core machine tops out at a few thousand requests per
second and would measure itself rather than the server.  wrk runs one thread (``-t1``) so
that the server keeps the other core.  Every loop here is bounded twice, in time (the window,
plus a hard subprocess timeout) and in count (a per-thread request cap in wrk's Lua hook,
a fixed list of files for uploads), and only ever targets 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import httpx

# Stops a wrk thread after WRK_MAX_REQUESTS requests: the count bound of the load loop.
WRK_CAP_SCRIPT = """
local limit = tonumber(os.getenv("WRK_MAX_REQUESTS") or "0")
local count = 0
local req = nil
function request()
  count = count + 1
  if limit > 0 and count > limit then wrk.thread:stop() end
  if req == nil then req = wrk.format() end
  return req
end
"""
DEFAULT_MAX_REQUESTS = 3_000_000


@dataclass
class LoadResult:
    tool: str
    connections: int
    seconds: float
    requests: int
    rps: float
    non_2xx: int = 0
    socket_errors: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    capped: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _to_ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group())
    if value.endswith("us"):
        return number / 1000
    if value.endswith("ms"):
        return number
    if value.endswith("m"):
        return number * 60_000
    return number * 1000  # "s"


def parse_wrk(output: str, connections: int) -> LoadResult:
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", output).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    window = re.search(r"\d+ requests in ([\d.]+)(\w+)", output)
    seconds = float(window.group(1)) * {"ms": 0.001, "s": 1, "m": 60}.get(window.group(2), 1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    latency = {}
    avg = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if avg:
        latency["mean"], latency["max"] = _to_ms(avg.group(1)), _to_ms(avg.group(3))
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.M):
        latency[f"p{pct}"] = _to_ms(value)
    return LoadResult(
        "wrk",
        connections,
        seconds,
        requests,
        rps,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(x) for x in errors.groups()) if errors else 0,
        latency_ms=latency,
    )


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    headers: dict[str, str] | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_CAP_SCRIPT)
    try:
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            script.name,
        ]
        for key, value in (headers or {}).items():
            command += ["-H", f"{key}: {value}"]
        out = subprocess.run(
            [*command, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            env={**os.environ, "WRK_MAX_REQUESTS": str(max_requests)},
        )
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
        result = parse_wrk(out.stdout, connections)
        result.capped = result.requests >= max_requests
        return result
    finally:
        os.unlink(script.name)


async def _httpx_get_loop(
    url: str, connections: int, duration: float, headers: dict[str, str], max_requests: int
) -> LoadResult:
    latencies: list[float] = []
    non_2xx = errors = 0
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=headers) as client:

        async def worker() -> None:
            nonlocal non_2xx, errors
            while time.monotonic() < deadline and len(latencies) < max_requests:
                began = time.perf_counter()
                try:
                    response = await client.get(url)
                    await response.aread()
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000)
                if not 200 <= response.status_code < 400:
                    non_2xx += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else 0.0

    return LoadResult(
        "httpx",
        connections,
        seconds,
        len(latencies),
        len(latencies) / seconds,
        non_2xx=non_2xx,
        socket_errors=errors,
        latency_ms={
            "mean": sum(latencies) / max(1, len(latencies)),
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
            "max": pct(1.0),
        },
        capped=len(latencies) >= max_requests,
    )


def get_load(
    url: str,
    *,
    connections: int,
    duration: float,
    headers: dict[str, str] | None = None,
    tool: str = "auto",
    max_requests: int = DEFAULT_MAX_REQUESTS,
) -> LoadResult:
    """Hammer ``GET url`` with ``connections`` keep-alive connections for ``duration`` seconds."""
    if tool == "wrk" or (tool == "auto" and wrk_available()):
        return run_wrk(
            url,
            connections=connections,
            duration=duration,
            headers=headers,
            max_requests=max_requests,
        )
    return asyncio.run(_httpx_get_loop(url, connections, duration, headers or {}, max_requests))


@dataclass
class UploadResult:
    workers: int
    attempted: int
    ok: int
    seconds: float
    files_per_s: float
    statuses: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _upload_loop(
    url: str,
    bodies: list[tuple[bytes, str]],
    headers: dict[str, str],
    workers: int,
    max_seconds: float,
) -> UploadResult:
    # One thread per keep-alive connection with the standard library's HTTP client: the
    # load generator shares the two cores with the server, and httpx's asyncio client spent
    # a few times more CPU per request (measured in bench/README.md), which the faster
    # server pays for most.
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    queue = list(reversed(bodies))
    lock = threading.Lock()
    statuses: dict[str, int] = {}
    first_errors: list[str] = []
    latencies: list[float] = []
    deadline = time.monotonic() + max_seconds

    def take() -> tuple[bytes, str] | None:
        with lock:
            if not queue or time.monotonic() >= deadline:
                return None
            return queue.pop()

    def record(key: str, error: str | None, began: float) -> None:
        with lock:
            latencies.append((time.perf_counter() - began) * 1000)
            statuses[key] = statuses.get(key, 0) + 1
            if error is not None and len(first_errors) < 5:
                first_errors.append(error)

    def worker() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            while (item := take()) is not None:
                body, content_type = item
                began = time.perf_counter()
                try:
                    connection.request(
                        "POST",
                        path,
                        body=body,
                        headers={**headers, "Content-Type": content_type, "Accept": "*/*"},
                    )
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    record(type(error).__name__, repr(error), began)
                    continue
                error = None if response.status == 200 else f"{response.status} {response.reason}"
                record(str(response.status), error, began)
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    ok = statuses.get("200", 0)
    latencies.sort()
    return UploadResult(
        workers,
        len(latencies),
        ok,
        seconds,
        ok / seconds if seconds else 0.0,
        statuses,
        first_errors,
        {
            "p50": latencies[len(latencies) // 2] if latencies else 0.0,
            "max": latencies[-1] if latencies else 0.0,
        },
    )


def upload_files(
    url: str,
    bodies: list[tuple[bytes, str]],
    *,
    headers: dict[str, str],
    workers: int,
    max_seconds: float,
) -> UploadResult:
    """POST every prepared multipart body (or as many as fit in ``max_seconds``) with
    ``workers`` concurrent keep-alive connections; files/s counts only 200 answers."""
    return _upload_loop(url, bodies, headers, workers, max_seconds)
