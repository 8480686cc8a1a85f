"""What a real server process does with clients that misuse its edge: idle and excess
connections, large headers, a forged ``X-Outside-Url``, control bytes to be copied into a
redirect (issue 22, findings 1, 6, 7 and 8)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import resource
import socket
import time
from pathlib import Path

import httpx
import pytest

from pyshelf_server.testing import make_wheel

pytestmark = pytest.mark.e2e


def raise_own_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def open_idle_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that never send a byte."""
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    except BaseException:
        close_all(sockets)
        raise
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()


def open_descriptors(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) * 1024


def wait_for(condition, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def concurrent_traffic(server, requests: int = 200, workers: int = 20) -> None:
    def one(_):
        return httpx.get(f"{server.url}/+api", timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        assert set(pool.map(one, range(requests))) == {200}


def write_wheel(directory: Path, name: str, version: str, **meta) -> Path:
    filename, content = make_wheel(name, version, **meta)
    path = directory / filename
    path.write_bytes(content)
    return path


# -- finding 1: idle connections ----------------------------------------------------------


@pytest.mark.slow
def test_more_idle_connections_than_select_can_watch_do_not_end_the_server(make_live_server):
    assert raise_own_open_files_limit() > 1400
    server = make_live_server()
    concurrent_traffic(server)
    pid = server.process.pid
    before = open_descriptors(pid)
    idle = open_idle_connections(server.port, 1200)
    try:
        # The server has taken them all (a descriptor each), past select()'s 1024.
        held = wait_for(lambda: open_descriptors(pid) >= before + 1200, timeout=20)
        assert server.process.poll() is None, server.log_path.read_text()[-2000:]
        assert held, open_descriptors(pid)
        started = time.monotonic()
        response = httpx.get(f"{server.url}/+api", timeout=10)
        assert response.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        close_all(idle)
    concurrent_traffic(server, requests=50)
    assert server.process.poll() is None


@pytest.mark.slow
def test_connections_over_the_limit_wait_and_idle_ones_are_closed(make_live_server):
    server = make_live_server(args=["--connection-limit", "10", "--idle-timeout", "1"])
    idle = open_idle_connections(server.port, 25)
    try:
        started = time.monotonic()
        # Queued behind the idle ones until the server closes them for idleness.
        response = httpx.get(f"{server.url}/+api", timeout=30)
        assert response.status_code == 200
        assert time.monotonic() - started < 20
        # The first ones were closed by the server: they read the end of the stream.
        idle[0].settimeout(10)
        assert idle[0].recv(1) == b""
    finally:
        close_all(idle)
    assert server.process.poll() is None


def test_a_connection_limit_past_the_open_files_limit_is_refused_at_start(tmp_path):
    import subprocess

    from pyshelf_server.testing import BIN, LiveServer

    server = LiveServer(tmp_path / "server")
    server.init()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit of open files to pass")
    result = subprocess.run(
        [
            str(BIN / "pyshelf-server"),
            "--serverdir",
            str(server.serverdir),
            "--port",
            "0",
            "--connection-limit",
            str(hard + 1),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--connection-limit" in result.stderr and "ulimit -n" in result.stderr


# -- finding 6: memory pinned by request headers ------------------------------------------


def large_accept(number: int, size: int) -> str:
    """A distinct Accept value of about ``size`` bytes that still asks for simple JSON."""
    head = f"application/vnd.pypi.simple.v1+json, text/x-{number}-"
    return head + "x" * (size - len(head))


def test_the_fast_path_keeps_no_large_accept_values(shelf):
    import tracemalloc

    shelf.create_index("root/dev")
    shelf.upload("root/dev", *make_wheel("accepted", "1.0"), name="accepted", version="1.0")
    shelf.test.get("/root/dev/+simple/accepted/")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(300):
            page = shelf.test.get(
                "/root/dev/+simple/accepted/",
                headers={"Accept": large_accept(number, 60_000)},
            )
            assert page.headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
        for number in range(2000):
            shelf.test.get(
                "/root/dev/+simple/accepted/", headers={"Accept": large_accept(number, 100)}
            )
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 300 values of 60 KB are 18 MB; what may be kept is a memo of some hundreds short ones.
    assert kept < 1024 * 1024, kept
    from pyshelf_server.simple.negotiation import (
        REMEMBERED_ACCEPT_LENGTH,
        REMEMBERED_ACCEPT_VALUES,
        remembered_negotiation,
    )

    assert remembered_negotiation.cache_info().currsize <= REMEMBERED_ACCEPT_VALUES
    assert REMEMBERED_ACCEPT_VALUES * REMEMBERED_ACCEPT_LENGTH <= 256 * 1024


@pytest.mark.slow
def test_large_distinct_accept_headers_do_not_grow_the_server(make_live_server, tmp_path):
    server = make_live_server()
    server.create_index("root/dev")
    assert (
        server.upload(
            "root/dev", write_wheel(tmp_path, "accepted", "1.0"), name="accepted", version="1.0"
        ).status_code
        == 200
    )
    url = f"{server.url}/root/dev/+simple/accepted/"
    client = httpx.Client(timeout=30)

    def ask(number: int) -> int:
        return client.get(url, headers={"Accept": large_accept(number, 60_000)}).status_code

    with client, concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert set(pool.map(ask, range(-100, 0))) == {200}
        before = rss_bytes(server.process.pid)
        assert set(pool.map(ask, range(1200))) == {200}
        grown = rss_bytes(server.process.pid) - before
        # Kept, 1,200 values of 60 KB would be 72 MB.
        assert grown < 30 * 1024 * 1024, grown
        # Headers past the bound are refused before they are read whole.
        too_large = client.get(url, headers={"Accept": large_accept(0, 100_000)})
        assert too_large.status_code == 431
