"""A stalled upstream (accepts connections, never answers) holds a bounded share of the worker
threads: pages of other indexes keep answering while many requests wait on it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pyshelf_server.testing import make_wheel

pytestmark = [pytest.mark.e2e]

REQUESTS = 40


class StalledUpstream:
    """Accepts every request and answers nothing until ``release()``; then 404 for all."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.arrived = 0
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with upstream.lock:
                    upstream.arrived += 1
                upstream.released.wait(120)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/simple/"

    def release(self) -> None:
        self.released.set()

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def test_a_stalled_upstream_does_not_take_every_worker(make_live_server, tmp_path):
    upstream = StalledUpstream()
    try:
        server = make_live_server(init_args=["--no-root-pypi"])
        server.create_index("root/stalled", type="mirror", mirror_url=upstream.url)
        server.create_index("root/local")
        filename, content = make_wheel("local-pkg", "1.0")
        (tmp_path / filename).write_bytes(content)
        assert server.upload("root/local", tmp_path / filename, name="local-pkg",
                             version="1.0").status_code == 200
        client = httpx.Client(timeout=120, headers={"Accept": "text/html"})

        def page(name: str) -> tuple[httpx.Response, float]:
            started = time.monotonic()
            response = client.get(f"{server.url}/root/stalled/+simple/{name}/")
            return response, time.monotonic() - started

        # Anonymous, for different projects and the same one (both must be bounded).
        names = [f"p{n}" for n in range(REQUESTS // 2)] + ["same"] * (REQUESTS // 2)
        pool = ThreadPoolExecutor(REQUESTS)
        futures = [pool.submit(page, name) for name in names]
        deadline = time.monotonic() + 30
        while upstream.arrived == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.arrived, "no request reached the upstream"

        # Meanwhile another index answers; in milliseconds when workers are free, the bound
        # is loose for a loaded machine (it waited for --request-timeout before).
        started = time.monotonic()
        other = client.get(f"{server.url}/root/local/+simple/local-pkg/")
        elapsed = time.monotonic() - started
        assert other.status_code == 200 and filename in other.text
        assert elapsed < 2, f"another index took {elapsed:.1f}s to answer"

        # Those beyond the upstream's share were told at once to come back later.
        refused = [f.result(timeout=30) for f in futures if f.done()]
        assert len(refused) >= REQUESTS // 2
        for response, _elapsed in refused:
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"]
            assert "busy" in response.text
        # Half of the 16 worker threads by default, however many requests wait.
        assert upstream.arrived <= 8
    finally:
        upstream.release()
    try:
        for future in futures:
            response, _elapsed = future.result(timeout=60)
            assert response.status_code in (404, 503)
        pool.shutdown()
    finally:
        upstream.stop()


def test_only_root_creates_mirrors_unless_allowed(make_live_server):
    server = make_live_server(init_args=["--no-root-pypi"])
    server.create_user("alice", "alicepw")
    config = {"type": "mirror", "mirror_url": "http://upstream.example/simple/"}
    response = server.request("PUT", "/alice/mirror", json=config, auth=("alice", "alicepw"))
    assert response.status_code == 403
    assert "--allow-user-mirrors" in response.json()["message"]

    allowing = make_live_server("allowing", args=["--allow-user-mirrors"],
                                init_args=["--no-root-pypi"])
    allowing.create_user("alice", "alicepw")
    response = allowing.request("PUT", "/alice/mirror", json=config, auth=("alice", "alicepw"))
    assert response.status_code == 200, response.text
