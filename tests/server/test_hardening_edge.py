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


@pytest.mark.parametrize(
    "option, value",
    [("--connection-limit", "-1"), ("--idle-timeout", "0"), ("--max-header-size", "100")],
)
def test_edge_limits_out_of_range_are_refused_at_start(tmp_path, capsys, option, value):
    from pyshelf_server.cli.serve import server_main

    with pytest.raises(SystemExit) as stopped:
        server_main(["--serverdir", str(tmp_path), "--port", "0", option, value])
    assert stopped.value.code == 2
    assert option in capsys.readouterr().err


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


# -- finding 7: X-Outside-Url -------------------------------------------------------------


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory):
    """One real server (with the web plugin, which is installed) holding root/dev/edge 1.0."""
    from pyshelf_server.testing import LiveServer

    directory = tmp_path_factory.mktemp("edge")
    server = LiveServer(directory / "server").start()
    try:
        server.create_index("root/dev")
        wheel = write_wheel(directory, "edge", "1.0")
        assert server.upload("root/dev", wheel, name="edge", version="1.0").status_code == 200
        yield server
    finally:
        server.stop()


# Pages and redirects built from the server's URL: (path, headers).
BROWSER = {"Accept": "text/html", "User-Agent": "Mozilla/5.0"}
PIP = {"User-Agent": "pip/24.0 CPython/3.12"}
URL_BUILDERS = [
    ("/+api", {"Accept": "application/json"}),
    ("/root/dev/+simple/edge/", PIP),
    ("/root/dev/+simple/edge/", {"Accept": "application/vnd.pypi.simple.v1+json"}),
    ("/root/dev/+simple/edge", BROWSER),
    ("/root/dev/+simple/Edge/", PIP),
    ("/root/dev/Edge", {"Accept": "application/json"}),
    ("/root/dev/edge", {"Accept": "application/json"}),
    ("/root/dev/Edge/1.0", BROWSER),
    ("/root/dev/edge", BROWSER),
    ("/", BROWSER),
]


@pytest.mark.parametrize(
    "forged",
    [
        "javascript:alert(1)//",
        'https://proxy.example/"><script>alert(1)</script>',
        "https://proxy.example/a b",
        "https://user@proxy.example/",
        "//proxy.example/",
    ],
)
def test_a_forged_outside_url_header_is_refused_and_never_copied(edge_server, forged):
    with httpx.Client(base_url=edge_server.url, timeout=30) as client:
        for path, headers in URL_BUILDERS:
            response = client.get(path, headers={**headers, "X-Outside-Url": forged})
            assert response.status_code == 400, (path, response.status_code)
            assert "X-Outside-Url" in response.json()["message"]
            assert forged not in response.text
            assert "javascript" not in response.headers.get("Location", "")


def test_pages_built_on_the_outside_url_header_name_it_in_vary(edge_server):
    outside = "https://proxy.example/shelf"
    with httpx.Client(base_url=edge_server.url, timeout=30) as client:
        for path, headers in URL_BUILDERS:
            plain = client.get(path, headers=headers)
            proxied = client.get(path, headers={**headers, "X-Outside-Url": outside})
            assert plain.status_code == proxied.status_code, path
            assert plain.status_code in (200, 302), (path, plain.status_code)
            for response in (plain, proxied):
                named = [v.strip().lower() for v in response.headers["Vary"].split(",")]
                assert "x-outside-url" in named, (path, response.headers["Vary"])
            if plain.status_code == 302:
                assert proxied.headers["Location"].startswith(outside + "/"), path
        page = client.get("/root/dev/edge", headers={**BROWSER, "X-Outside-Url": outside})
        assert f'href="{outside}/root/dev/edge/1.0"' in page.text


def test_a_forged_host_header_is_refused(edge_server):
    # (Control bytes in a header waitress refuses itself.)
    for host in ('evil.example"><script>', "evil.example/x", "evil.example x"):
        answer = raw_request(
            edge_server.port,
            b"GET /root/dev/Edge HTTP/1.1\r\nHost: "
            + host.encode()
            + b"\r\nConnection: close\r\n\r\n",
        )
        status, headers = response_head(answer)
        assert status.startswith(b"HTTP/1.1 400 "), answer[:300]
        assert b"Location" not in headers and host.encode() not in answer


# -- finding 8: control bytes in redirects ------------------------------------------------


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def response_head(answer: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    head = answer.split(b"\r\n\r\n", 1)[0]
    status, *lines = head.split(b"\r\n")
    return status, dict(line.split(b": ", 1) for line in lines)


@pytest.mark.parametrize(
    "target, accept",
    [
        (b"/root/dev/Edge", b"application/json"),
        (b"/root/dev/+simple/Edge/", b"*/*"),
        (b"/root/dev/Edge/1.0", b"text/html"),
        (b"/root/dev/+simple/edge", b"text/html"),
        (b"/root/dev/%45dge\x0b", b"text/html"),
    ],
)
def test_control_bytes_are_percent_encoded_in_redirects(edge_server, target, accept):
    query = b"?\x0bX:\x0c1&q=<a>"
    answer = raw_request(
        edge_server.port,
        b"GET "
        + target
        + query
        + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: "
        + accept
        + b"\r\nConnection: close\r\n\r\n",
    )
    status, headers = response_head(answer)
    assert status.startswith(b"HTTP/1.1 30"), answer[:300]
    location = headers[b"Location"]
    assert all(0x21 <= byte < 0x7F for byte in location), location
    assert location.endswith(b"?%0BX:%0C1&q=%3Ca%3E"), location
    # Nothing else in the head is broken up by the bytes either.
    assert b"X" not in headers and b"\x0c1" not in answer.split(b"\r\n\r\n")[0]
