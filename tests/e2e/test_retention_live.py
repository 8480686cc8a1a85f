"""Retention against a real server process: ``pyshelf-server --cleanup --dry-run`` lists what
the rules would delete and the bytes that would free; the real run frees exactly those bytes
on disk (checked on the file system) while other clients upload and download meanwhile."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time

import httpx
import pytest

from pyshelf_server.testing import BIN, make_wheel

from .static_upstream import StaticIndex

pytestmark = pytest.mark.e2e

BLOB_NAME = re.compile(r"^[0-9a-f]{64}$")


def _blobs(serverdir):
    """Every stored blob: name -> size, as the file system has them."""
    return {
        path.name: path.stat().st_size
        for path in (serverdir / "files").rglob("*")
        if BLOB_NAME.match(path.name) and path.is_file()
    }


def _cleanup(server, *args):
    result = subprocess.run(
        [str(BIN / "pyshelf-server"), "--serverdir", str(server.serverdir), "--cleanup",
         "--json", *args],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _file_url(server, index, filename, content):
    sha = hashlib.sha256(content).hexdigest()
    return f"{server.url}/{index}/+f/{sha[:3]}/{sha[3:16]}/{filename}"


def test_cleanup_frees_the_reported_bytes_while_clients_upload_and_download(
    make_live_server, tmp_path
):
    upstream = StaticIndex(tmp_path / "upstream", {
        "mirrored": [make_wheel("mirrored", "1.0"), make_wheel("mirrored", "2.0")],
    })
    try:
        server = make_live_server(init_args=["--mirror-url", upstream.url])
        server.create_index("root/dev", keep_versions="2")
        server.create_index("root/busy")
        wheels = {}
        for version in ("1.0", "2.0", "3.0", "4.0", "5.0"):
            filename, content = make_wheel("pkg", version)
            wheels[version] = (filename, content)
            path = tmp_path / filename
            path.write_bytes(content)
            assert server.upload("root/dev", path, name="pkg", version=version).status_code == 200
        # The mirror caches both of its files; its quota then holds none.
        page = httpx.get(f"{server.url}/root/pypi/+simple/mirrored/", timeout=60).text
        mirror_urls = [httpx.URL(f"{server.url}/root/pypi/+simple/mirrored/").join(href)
                       for href in re.findall(r'href="([^"#]+)', page)]
        assert len(mirror_urls) == 2
        for url in mirror_urls:
            assert httpx.get(url, timeout=60).status_code == 200
        response = server.request("PATCH", "/root/pypi", json=["max_size=1"])
        assert response.status_code == 200, response.text

        dry = _cleanup(server, "--dry-run")
        planned = dry["indexes"]["root/dev"]["removals"]
        assert sorted(r["version"] for r in planned) == ["1.0", "2.0", "3.0"]
        assert {r["rule"] for r in planned} == {"keep_versions"}
        assert len(dry["indexes"]["root/pypi"]["removals"]) == 2
        before = _blobs(server.serverdir)
        assert all(r["sha256"] in before for r in planned)

        stop = threading.Event()
        problems: list[str] = []
        done: list[str] = []
        kept = [_file_url(server, "root/dev", *wheels[v]) for v in ("4.0", "5.0")]

        def download() -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    for url in kept:
                        answer = client.get(url)
                        if answer.status_code != 200:
                            problems.append(f"GET {url}: {answer.status_code}")
                        done.append("download")

        def upload() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                filename, content = make_wheel("busy", f"0.{n}")
                path = tmp_path / filename
                path.write_bytes(content)
                answer = server.upload("root/busy", path, name="busy", version=f"0.{n}")
                if answer.status_code != 200:
                    problems.append(f"upload {filename}: {answer.status_code} {answer.text}")
                done.append("upload")

        threads = [threading.Thread(target=download) for _ in range(2)]
        threads.append(threading.Thread(target=upload))
        for thread in threads:
            thread.start()
        try:
            real = _cleanup(server)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        after = _blobs(server.serverdir)

        assert not problems, problems[:5]
        assert "upload" in done and "download" in done
        gone = {name: size for name, size in before.items() if name not in after}
        # What went from the disk is what the dry run foresaw and the run reported.
        assert real["bytes_freed"] == dry["bytes_freed"] == sum(gone.values()) > 0
        assert real["blobs_removed"] == dry["blobs_removed"] == len(gone)
        assert all(r["sha256"] in gone for r in planned)
        for version in ("1.0", "2.0", "3.0"):
            assert httpx.get(_file_url(server, "root/dev", *wheels[version]),
                             timeout=60).status_code == 404
        # An evicted mirror file is fetched from upstream again when asked for.
        assert httpx.get(mirror_urls[0], timeout=60).status_code == 200
        assert _cleanup(server, "--dry-run")["indexes"]["root/dev"]["files"] == 0
    finally:
        upstream.stop()


def test_the_running_server_applies_the_rules_every_interval(make_live_server, tmp_path):
    server = make_live_server(args=["--cleanup-interval", "1"])
    server.create_index("root/dev", keep_versions="1")
    urls = []
    for version in ("1.0", "2.0"):
        filename, content = make_wheel("pkg", version)
        (tmp_path / filename).write_bytes(content)
        assert server.upload("root/dev", tmp_path / filename, name="pkg",
                             version=version).status_code == 200
        urls.append(_file_url(server, "root/dev", filename, content))
    deadline = time.monotonic() + 60
    while httpx.get(urls[0], timeout=30).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert httpx.get(urls[0], timeout=30).status_code == 404
    assert httpx.get(urls[1], timeout=30).status_code == 200
