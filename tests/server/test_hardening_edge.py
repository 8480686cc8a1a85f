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
