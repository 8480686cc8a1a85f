"""A slow upstream is not a broken one: an upstream that takes 8 s for every project page."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from pyshelf_server.testing import make_wheel

from .static_upstream import StaticIndex

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DELAY = 8.0
PIP_HEADERS = {"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": "pip/26.3"}


def test_slow_upstream_pages_are_waited_for_in_parallel_and_block_nothing_else(
    make_live_server, tmp_path
):
    names = ["warm"] + [f"cold-{n}" for n in range(8)]
    upstream = StaticIndex(tmp_path / "upstream", {n: [make_wheel(n, "1.0")] for n in names},
                           delay=DELAY)
    try:
        server = make_live_server(init_args=["--mirror-url", upstream.url])
        server.create_index("root/dev", bases="root/pypi")

        # One client for all requests: building a client per request costs more than the
        # cached answer being measured.
        client = httpx.Client(headers=PIP_HEADERS, timeout=60)

        def get(name):
            started = time.monotonic()
            response = client.get(f"{server.url}/root/dev/+simple/{name}/")
            return response, time.monotonic() - started

        # One cold page: answered once upstream answers, not given up on.
        response, elapsed = get("warm")
        assert response.status_code == 200, response.text
        assert DELAY - 0.5 < elapsed < DELAY + 4

        # Eight different cold pages at once are fetched side by side ...
        results = {}

        def fetch(name):
            results[name] = get(name)

        threads = [threading.Thread(target=fetch, args=(n,)) for n in names[1:]]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        # ... while a cached page is answered at once.
        response, elapsed = get("warm")
        assert response.status_code == 200
        # Milliseconds on an idle machine; the bound leaves room for a loaded test machine.
        assert elapsed < 1.0
        for thread in threads:
            thread.join(60)
        wall = time.monotonic() - started
        assert sorted(results) == sorted(names[1:])
        assert all(r.status_code == 200 for r, _ in results.values())
        assert wall < DELAY + 3, f"8 cold pages took {wall:.1f}s"
    finally:
        upstream.stop()
