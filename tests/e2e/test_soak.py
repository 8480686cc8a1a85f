"""A soak of one real server under every kind of misuse at once (issue 22): idle connections,
clients that send their requests byte by byte, a stalled upstream, uploads and page reads, side
by side. The
server must never exit, a request unrelated to the load must keep answering, and its memory
must come back to a bounded level once the load is over.

Each kind of load is a function in ``LOADS``, run in its own threads until the soak ends, a
mirror whose upstream accepts connections and never answers among them. The soak lasts
``PYSHELF_SOAK_SECONDS`` (20 s in the suite; set it to run longer by hand).
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from pyshelf_server.testing import LiveServer, make_wheel

from .test_mirror_stalled_upstream import StalledUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("PYSHELF_SOAK_SECONDS", "20"))
IDLE_TIMEOUT = 3
# Three batches at once: more descriptors than select() can watch.
IDLE_BATCH = 400
# How much longer than twice the idle timeout half of a batch may take to be closed.
IDLE_CLOSE_GRACE = 20
# A probe is an unrelated request made while the load runs; it must be answered within this
# (loose: two shared cores run the load, the server and the probe).
PROBE_BOUND_SECONDS = 5.0
# How far resident memory may stay above its level before the load once the load is over.
MEMORY_BOUND_BYTES = 120 * 1024 * 1024


@dataclass
class Soak:
    server: LiveServer
    workdir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> bool:
        return not self.stop.is_set()

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)

    def pause(self, seconds: float) -> None:
        self.stop.wait(seconds)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# -- the kinds of load --------------------------------------------------------------------


def idle_connections(soak: Soak) -> None:
    """Batches of connections that never send a byte, kept past the idle timeout: the server
    must close them itself."""
    while soak.running():
        sockets = []
        try:
            for _ in range(IDLE_BATCH):
                sockets.append(socket.create_connection(("127.0.0.1", soak.server.port), 10))
            soak.pause(IDLE_TIMEOUT * 2 + 1)
            if not soak.running():
                return
            # The server takes connections up to its limit at a time and closes each after the
            # idle timeout: on a loaded machine the rest of the batch follows a little later.
            waiting, closed = list(sockets), 0
            deadline = time.monotonic() + IDLE_CLOSE_GRACE
            while True:
                still_open = []
                for sock in waiting:
                    sock.settimeout(0)
                    try:
                        if sock.recv(1) == b"":
                            closed += 1
                            continue
                    except BlockingIOError:
                        pass
                    still_open.append(sock)
                waiting = still_open
                if closed >= IDLE_BATCH // 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            soak.count("idle connections opened")
            if closed < IDLE_BATCH // 2:
                soak.fail(f"the server closed {closed} of {IDLE_BATCH} idle connections")
        finally:
            for sock in sockets:
                sock.close()


def slow_client(soak: Soak) -> None:
    """A request whose head arrives a byte at a time."""
    request = f"GET /+api HTTP/1.1\r\nHost: 127.0.0.1:{soak.server.port}\r\n\r\n".encode()
    while soak.running():
        with socket.create_connection(("127.0.0.1", soak.server.port), 30) as sock:
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
            answer = sock.recv(65536)
        if answer.startswith(b"HTTP/1.1 200 "):
            soak.count("slow requests answered")
        else:
            soak.fail(f"a slow request got {answer[:60]!r}")


def uploads(soak: Soak) -> None:
    auth = base64.b64encode(f"root:{soak.server.root_password}".encode()).decode()
    name = f"soak-{threading.get_ident()}"
    number = 0
    with httpx.Client(timeout=60, headers={"Authorization": f"Basic {auth}"}) as client:
        while soak.running():
            number += 1
            filename, content = make_wheel(name, f"1.{number}", description="x" * 50_000)
            response = client.post(
                f"{soak.server.url}/root/soak/",
                data={":action": "file_upload", "name": name, "version": f"1.{number}"},
                files={"content": (filename, content)},
            )
            if response.status_code == 200:
                soak.count("uploads")
            else:
                soak.fail(f"an upload got {response.status_code}: {response.text[:200]}")


def page_reads(soak: Soak) -> None:
    urls = [
        f"{soak.server.url}/root/soak/+simple/",
        f"{soak.server.url}/root/soak/+simple/soak-base/",
        f"{soak.server.url}/root/soak",
    ]
    with httpx.Client(timeout=60, headers={"User-Agent": "pip/24.0"}) as client:
        while soak.running():
            for url in urls:
                response = client.get(url)
                if response.status_code == 200:
                    soak.count("pages read")
                else:
                    soak.fail(f"{url} got {response.status_code}")


def large_headers(soak: Soak) -> None:
    """Page reads each with a different Accept header of 60 KB."""
    url = f"{soak.server.url}/root/soak/+simple/soak-base/"
    number = 0
    with httpx.Client(timeout=60) as client:
        while soak.running():
            number += 1
            accept = f"application/vnd.pypi.simple.v1+json, text/x-{number}-".ljust(60_000, "x")
            response = client.get(url, headers={"Accept": accept})
            if response.status_code == 200:
                soak.count("large headers read")
            else:
                soak.fail(f"a large Accept header got {response.status_code}")


def stalled_mirror(soak: Soak) -> None:
    """Page requests through a mirror whose upstream accepts and never answers: they must be
    refused at once (503) or answered from cache, never hold every worker."""
    number = 0
    with httpx.Client(timeout=120, headers={"User-Agent": "pip/24.0"}) as client:
        while soak.running():
            number += 1
            url = f"{soak.server.url}/root/stalled/+simple/cold-{threading.get_ident()}-{number}/"
            response = client.get(url)
            if response.status_code in (502, 503, 504):
                soak.count("stalled mirror requests")
            else:
                soak.fail(f"a stalled mirror's page got {response.status_code}")


# (load, threads running it)
LOADS: list[tuple[Callable[[Soak], None], int]] = [
    (idle_connections, 3),
    (slow_client, 4),
    (uploads, 2),
    (page_reads, 2),
    (large_headers, 2),
    (stalled_mirror, 6),
]


def run_load(soak: Soak, load: Callable[[Soak], None]) -> None:
    try:
        load(soak)
    except Exception as error:  # reported, not raised: the soak goes on and says what failed
        if soak.running():
            soak.fail(f"{load.__name__}: {type(error).__name__}: {error}")


def test_the_server_outlives_every_kind_of_load_at_once(make_live_server, tmp_path):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    upstream = StalledUpstream()
    server = make_live_server(args=["--idle-timeout", str(IDLE_TIMEOUT), "--request-timeout", "8"])
    server.create_index("root/soak")
    server.create_index("root/stalled", type="mirror", mirror_url=upstream.url)
    base = tmp_path / "soak_base-1.0-py3-none-any.whl"
    base.write_bytes(make_wheel("soak-base", "1.0")[1])
    assert server.upload("root/soak", base, name="soak-base", version="1.0").status_code == 200
    pid = server.process.pid
    probe = httpx.Client(timeout=30)
    for _ in range(20):
        probe.get(f"{server.url}/+api")
    before = rss_bytes(pid)

    soak = Soak(server, tmp_path)
    threads = [
        threading.Thread(target=run_load, args=(soak, load), daemon=True)
        for load, count in LOADS
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    slowest, peak = 0.0, before
    deadline = time.monotonic() + SOAK_SECONDS
    try:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, server.log_path.read_text()[-3000:]
            started = time.monotonic()
            response = probe.get(f"{server.url}/+api", headers={"Accept": "application/json"})
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 200
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.5)
    finally:
        soak.stop.set()
        upstream.stop()
        for thread in threads:
            thread.join(timeout=60)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    probe.close()

    assert server.process.poll() is None, server.log_path.read_text()[-3000:]
    assert not soak.errors, soak.errors[:10]
    kinds = {
        "idle connections opened",
        "slow requests answered",
        "uploads",
        "pages read",
        "large headers read",
        "stalled mirror requests",
    }
    assert kinds <= set(soak.counts), soak.counts
    assert slowest < PROBE_BOUND_SECONDS, slowest
    # Once the load is over (and the idle connections closed), memory comes back down.
    settled = rss_bytes(pid)
    deadline = time.monotonic() + 15
    while settled > before + MEMORY_BOUND_BYTES and time.monotonic() < deadline:
        time.sleep(0.5)
        settled = rss_bytes(pid)
    print(
        f"soak {SOAK_SECONDS:.0f}s: {dict(soak.counts)}; slowest probe {slowest:.2f}s; "
        f"RSS {before >> 20} MB before, {peak >> 20} MB at most, {settled >> 20} MB after"
    )
    assert settled < before + MEMORY_BOUND_BYTES, (before, peak, settled)
    assert httpx.get(f"{server.url}/+api", timeout=10).status_code == 200
