"""Two server processes on one database and one file store serve as one server: the second is
set up with ``pyshelf-init --join`` and shares the first's secret, data and files. Runs on
whichever database the suite runs (SQLite in WAL mode is shared between processes too), and
each test of a pair on both kinds of store: a shared directory and one S3 bucket."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from pyshelf_server.testing import LiveServer, basic_auth, make_wheel
from tests.e2e.static_upstream import StaticIndex

pytestmark = pytest.mark.e2e

PIP = {"User-Agent": "pip/24.0 {}", "Accept": "application/vnd.pypi.simple.v1+json"}


def database_url(server: LiveServer) -> str:
    recorded = server.serverdir / ".db-url"
    if recorded.exists():
        return recorded.read_text().strip()
    return f"sqlite:///{server.serverdir / 'pyshelf.sqlite3'}"


class SharedStore:
    """The store both processes use: a directory, or a prefix of an S3 bucket."""

    def __init__(self, url: str, s3: dict[str, Any] | None = None) -> None:
        self.url = url
        self.s3 = s3
        self.env = s3["env"] if s3 else {}

    def blobs(self) -> dict[str, bytes]:
        """Every stored blob's name and bytes."""
        if self.s3 is None:
            blobs = Path(self.url).glob("[0-9a-f][0-9a-f]/*")
            return {path.name: path.read_bytes() for path in blobs}
        client = self.s3["server"].client()
        found = {}
        for key in self.s3["server"].keys(self.s3["bucket"], self.s3["prefix"] + "/"):
            body = client.get_object(Bucket=self.s3["bucket"], Key=key)["Body"].read()
            found[key.rsplit("/", 1)[-1]] = body
        return found


def start_pair(
    tmp_path: Path, store: SharedStore | None = None, **kw: Any
) -> tuple[LiveServer, LiveServer, SharedStore]:
    store = store or SharedStore(str(tmp_path / "store"))
    env = {**kw.pop("env", {}), **store.env}
    first = LiveServer(
        tmp_path / "a", init_args=["--storage-url", store.url], env=env, **kw
    ).start()
    second = LiveServer(
        tmp_path / "b",
        init_args=["--join", "--db-url", database_url(first), "--storage-url", store.url],
        env=env,
        **kw,
    ).start()
    return first, second, store


@pytest.fixture(params=["directory", "s3"])
def pair(request: Any, tmp_path: Path) -> Any:
    store = None
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_store")
        store = SharedStore(s3["url"], s3)
    first, second, store = start_pair(tmp_path, store)
    yield first, second, store
    first.stop()
    second.stop()


def eventually(check: Any, *, within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.01)


def test_join_refuses_a_database_without_a_server(tmp_path: Path) -> None:
    import subprocess

    from pyshelf_server.testing import BIN

    result = subprocess.run(
        [
            str(BIN / "pyshelf-init"), "--serverdir", str(tmp_path / "b"), "--join",
            "--db-url", f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "no pyshelf server to join" in result.stderr and "Traceback" not in result.stderr


def test_the_second_process_is_the_same_server(pair: Any) -> None:
    first, second, _ = pair
    assert first.request("GET", "/+api").headers["X-Devpi-Uuid"] == (
        second.request("GET", "/+api").headers["X-Devpi-Uuid"]
    )
    # A login token issued by one is good on the other: they share the secret.
    token = first.login()
    answer = httpx.get(
        second.url + "/root",
        headers={**basic_auth("root", token), "Accept": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert second.request("PATCH", "/root", auth=("root", token), json={"email": "r@x.example"}
                          ).status_code == 200


def test_an_upload_through_one_is_on_the_others_simple_page_at_once(pair: Any) -> None:
    first, second, _ = pair
    first.create_index("root/dev")
    # The second process has the page cached before the upload.
    assert httpx.get(second.url + "/root/dev/+simple/shared-pkg/", headers=PIP).status_code == 404
    filename, content = make_wheel("shared-pkg", "1.0")
    answer = httpx.post(
        first.url + "/root/dev/",
        data={":action": "file_upload", "name": "shared-pkg", "version": "1.0"},
        files={"content": (filename, content)},
        headers=basic_auth("root", first.root_password),
        timeout=60,
    )
    assert answer.status_code == 200
    serial = int(answer.headers["X-Devpi-Serial"])

    def seen() -> Any:
        page = httpx.get(second.url + "/root/dev/+simple/shared-pkg/", headers=PIP)
        return page if page.status_code == 200 else None

    page = eventually(seen, within=2.0)
    assert page is not None, "the second process never showed the upload"
    assert [f["filename"] for f in page.json()["files"]] == [filename]
    # The serial another process reports may lag by the state reader's reuse time (0.1 s).
    assert eventually(
        lambda: int(httpx.get(second.url + "/+api").headers["X-Devpi-Serial"]) >= serial,
        within=1.0,
    )
    url = page.json()["files"][0]["url"]
    download = httpx.get(httpx.URL(second.url + "/root/dev/+simple/shared-pkg/").join(url))
    assert download.status_code == 200 and download.content == content


def test_a_mirror_page_fetched_by_one_is_served_by_the_other_without_upstream(
    tmp_path: Path, pair: Any
) -> None:
    first, second, _ = pair
    upstream = StaticIndex(tmp_path / "upstream", {"far-away": [make_wheel("far-away", "1.0")]})
    try:
        first.create_index("root/far", type="mirror", mirror_url=upstream.url)
        page_a = httpx.get(first.url + "/root/far/+simple/far-away/", headers=PIP, timeout=30)
        assert page_a.status_code == 200
        fetched = [path for path in upstream.requests if "far-away" in path]
        assert fetched == ["/simple/far-away/"]
        file_url = httpx.URL(first.url + "/root/far/+simple/far-away/").join(
            page_a.json()["files"][0]["url"]
        )
        assert httpx.get(file_url, timeout=30).status_code == 200
        before = len(upstream.requests)
        page_b = httpx.get(second.url + "/root/far/+simple/far-away/", headers=PIP, timeout=30)
        assert page_b.status_code == 200
        assert page_b.json()["files"] == page_a.json()["files"]
        file_b = httpx.get(str(file_url).replace(first.url, second.url), timeout=30)
        assert file_b.status_code == 200
        assert upstream.requests[before:] == []
    finally:
        upstream.stop()


def test_uploads_spread_over_both_survive_a_kill_of_one(tmp_path: Path, pair: Any) -> None:
    first, second, store = pair
    first.create_index("root/many")
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    wheels = [make_wheel(f"spread{i}", "1.0") for i in range(200)]
    killed = threading.Event()

    def upload(i: int) -> None:
        filename, content = wheels[i]
        for server in ((first, second) if i % 2 else (second, first)):
            if server is first and killed.is_set():
                continue
            try:
                answer = httpx.post(
                    server.url + "/root/many/",
                    data={":action": "file_upload", "name": f"spread{i}", "version": "1.0"},
                    files={"content": (filename, content)},
                    headers=basic_auth("root", first.root_password),
                    timeout=60,
                )
            except httpx.HTTPError:
                continue  # the killed process: try the other
            if answer.status_code == 200:
                with lock:
                    acknowledged[filename] = hashlib.sha256(content).hexdigest()
                return

    def kill_first() -> None:
        eventually(lambda: len(acknowledged) >= 40, within=60)
        os.kill(first.process.pid, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_first)
    killer.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(upload, range(200)))
    killer.join()
    first.process.wait(timeout=10)
    assert killed.is_set() and len(acknowledged) >= 150

    listing = second.request("GET", "/root/many/+simple/").text
    for filename, sha256 in acknowledged.items():
        project = filename.split("-")[0]
        assert f">{project}<" in listing or f"/{project}/" in listing, filename
        page = httpx.get(second.url + f"/root/many/+simple/{project}/", headers=PIP, timeout=30)
        files = {f["filename"]: f for f in page.json()["files"]}
        assert files[filename]["hashes"]["sha256"] == sha256

    # No row without its blob, and no blob that is not what its name says.
    engine = create_engine(database_url(second))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT filename, sha256 FROM files")).all()
    finally:
        engine.dispose()
    blobs = store.blobs()
    for filename, sha256 in rows:
        assert sha256 in blobs, filename
    for name, content in blobs.items():
        assert hashlib.sha256(content).hexdigest() == name


def test_a_process_keeps_to_its_connection_budget(tmp_path: Path) -> None:
    """At most one connection per worker thread and four more, however busy: four processes
    with 16 threads fit PostgreSQL's default 100 connections."""
    from pyshelf_server.testing import on_postgresql

    if not on_postgresql():
        pytest.skip("counts PostgreSQL's connections")
    threads = 8
    server = LiveServer(tmp_path / "server", args=["--threads", str(threads)]).start()
    try:
        server.create_index("root/busy")
        wheels = [make_wheel(f"busy{i}", "1.0") for i in range(24)]

        def upload(i: int) -> int:
            filename, content = wheels[i]
            return httpx.post(
                server.url + "/root/busy/",
                data={":action": "file_upload", "name": f"busy{i}", "version": "1.0"},
                files={"content": (filename, content)},
                headers=basic_auth("root", server.root_password),
                timeout=60,
            ).status_code

        def read(i: int) -> int:
            return httpx.get(
                server.url + f"/root/busy/+simple/busy{i}/", headers=PIP, timeout=60
            ).status_code

        with ThreadPoolExecutor(max_workers=32) as pool:
            uploads = pool.map(upload, range(24))
            reads = pool.map(read, list(range(24)) * 4)
            assert set(uploads) == {200}
            assert set(reads) <= {200, 404}
        engine = create_engine(database_url(server), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                opened = connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert 0 < opened <= threads + 4
    finally:
        server.stop()


def test_a_process_with_other_settings_refuses_to_join(tmp_path: Path) -> None:
    first, second, store = start_pair(tmp_path)
    try:
        nodes = second.request("GET", "/+status").json()["result"]["nodes"]
        assert sorted(n["pid"] for n in nodes) == sorted(
            [first.process.pid, second.process.pid]
        )
        # Per-process settings may differ; those that shape answers may not.
        third = LiveServer(
            tmp_path / "c",
            init_args=["--join", "--db-url", database_url(first), "--storage-url", store.url],
            args=["--threads", "4", "--mirror-cache-expiry", "60"],
        )
        with pytest.raises(RuntimeError) as refused:
            third.start()
        message = refused.value.args[0]
        assert "other settings" in message and "mirror_cache_expiry: 1800 there, 60 here" in message
        assert "Traceback" not in message
    finally:
        first.stop()
        second.stop()
    # Once the others stopped (their rows are removed), the new settings are the cluster's.
    third.start()
    try:
        nodes = third.request("GET", "/+status").json()["result"]["nodes"]
        assert [n["pid"] for n in nodes] == [third.process.pid]
    finally:
        third.stop()


def test_a_killed_process_stops_counting_after_its_heartbeats_end(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from pyshelf_server.nodes import STALE_AFTER

    first, second, _ = start_pair(tmp_path)
    try:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        # Pretend its last heartbeat is older than the staleness limit instead of waiting.
        engine = create_engine(database_url(second), poolclass=NullPool)
        try:
            with engine.begin() as connection:
                old = (datetime.now(UTC) - STALE_AFTER - timedelta(seconds=1)).replace(tzinfo=None)
                connection.execute(
                    text("UPDATE server_nodes SET heartbeat = :old WHERE pid = :pid"),
                    {"old": old, "pid": first.process.pid},
                )
        finally:
            engine.dispose()
        nodes = second.request("GET", "/+status").json()["result"]["nodes"]
        assert [n["pid"] for n in nodes] == [second.process.pid]
    finally:
        first.stop()
        second.stop()
