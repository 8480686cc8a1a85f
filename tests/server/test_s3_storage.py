"""The file store on an S3-compatible server (``--storage-url s3://BUCKET/PREFIX``): real
server processes store and serve through a bucket of the test session's S3 server
(``testing.S3Server``); the sweep and the store itself are driven in-process."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyshelf_server.storage.orphans import OrphanSweeper
from pyshelf_server.testing import BIN, LiveServer, Shelf, basic_auth, make_wheel

HOUR = 3600
PIP = {"User-Agent": "pip/24.0 {}", "Accept": "application/vnd.pypi.simple.v1+json"}


def big_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A wheel larger than what an upload keeps in memory (4 MiB), so that every check reads
    the stored file back."""
    filename, content = make_wheel(name, version)
    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as wheel:
        wheel.writestr(f"{name}/blob.bin", os.urandom(5 * 1024 * 1024))
    return filename, buffer.getvalue()


def start_on_s3(tmp_path: Path, s3: dict[str, Any], *args: str, name: str = "a") -> LiveServer:
    return LiveServer(
        tmp_path / name, init_args=["--storage-url", s3["url"]], env=s3["env"], args=list(args)
    ).start()


def upload(server: LiveServer, fullname: str, filename: str, content: bytes,
           **fields: str) -> httpx.Response:
    name, version = filename.split("-")[:2]
    return httpx.post(
        server.url + f"/{fullname}/",
        data={":action": "file_upload", "name": name, "version": version, **fields},
        files={"content": (filename, content)},
        headers=basic_auth("root", server.root_password),
        timeout=60,
    )


def stored_keys(s3: dict[str, Any]) -> list[str]:
    return s3["server"].keys(s3["bucket"])


def key_of(s3: dict[str, Any], sha256: str) -> str:
    return f"{s3['prefix']}/{sha256[:2]}/{sha256}"


@pytest.fixture
def on_s3(tmp_path: Path, s3_store: dict[str, Any]) -> Any:
    server = start_on_s3(tmp_path, s3_store)
    server.create_index("root/dev")
    yield server, s3_store
    server.stop()


def test_an_upload_lives_in_the_bucket_and_installs_from_it(tmp_path: Path, on_s3: Any) -> None:
    server, s3 = on_s3
    filename, content = big_wheel("s3pkg", "1.0")
    sha256 = hashlib.sha256(content).hexdigest()
    answer = upload(
        server, "root/dev", filename, content,
        sha256_digest=sha256,
        md5_digest=hashlib.md5(content).hexdigest(),
        blake2_256_digest=hashlib.blake2b(content, digest_size=32).hexdigest(),
    )
    assert answer.status_code == 200, answer.text
    page = httpx.get(server.url + "/root/dev/+simple/s3pkg/", headers=PIP, timeout=30).json()
    [entry] = page["files"]
    assert entry["hashes"] == {"sha256": sha256}
    # The wheel and its PEP 658 metadata, under the prefix; nothing in a local store.
    metadata = httpx.get(
        httpx.URL(server.url + "/root/dev/+simple/s3pkg/").join(entry["url"] + ".metadata")
    )
    assert metadata.status_code == 200 and b"Name: s3pkg" in metadata.content
    assert stored_keys(s3) == sorted(
        [key_of(s3, sha256), key_of(s3, hashlib.sha256(metadata.content).hexdigest())]
    )
    assert not (server.serverdir / "files").exists()

    # What an installer does: read the page, fetch the file, check the hash.
    target = tmp_path / "downloaded"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--no-cache-dir",
         "--index-url", server.url + "/root/dev/+simple/", "--dest", str(target), "s3pkg==1.0"],
        check=True, capture_output=True, timeout=120,
    )
    assert (target / filename).read_bytes() == content


def test_downloads_stream_with_ranges_and_validators(on_s3: Any) -> None:
    server, _s3 = on_s3
    filename, content = big_wheel("ranged", "1.0")
    assert upload(server, "root/dev", filename, content).status_code == 200
    page = httpx.get(server.url + "/root/dev/+simple/ranged/", headers=PIP, timeout=30).json()
    url = str(httpx.URL(server.url + "/root/dev/+simple/ranged/").join(page["files"][0]["url"]))
    sha256 = hashlib.sha256(content).hexdigest()

    head = httpx.head(url)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(content)
    assert head.headers["ETag"] == f'"{sha256}"'
    part = httpx.get(url, headers={"Range": "bytes=100-1123"})
    assert part.status_code == 206 and part.content == content[100:1124]
    assert part.headers["Content-Range"] == f"bytes 100-1123/{len(content)}"
    tail = httpx.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == content[-10:]
    assert httpx.get(url, headers={"Range": f"bytes={len(content)}-"}).status_code == 416
    assert httpx.get(url, headers={"If-None-Match": f'"{sha256}"'}).status_code == 304
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == content


def test_docs_are_served_from_the_bucket_through_the_web_plugin(on_s3: Any) -> None:
    server, s3 = on_s3
    filename, content = make_wheel("documented", "1.0")
    assert upload(server, "root/dev", filename, content).status_code == 200
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as docs:
        docs.writestr("index.html", "<html><body>documented on s3</body></html>")
    answer = httpx.post(
        server.url + "/root/dev/",
        data={":action": "doc_upload", "name": "documented", "version": "1.0"},
        files={"content": ("documented-1.0.doc.zip", buffer.getvalue())},
        headers=basic_auth("root", server.root_password),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert key_of(s3, hashlib.sha256(buffer.getvalue()).hexdigest()) in stored_keys(s3)
    page = httpx.get(server.url + "/root/dev/documented/1.0/+doc/index.html", timeout=30)
    assert page.status_code == 200 and "documented on s3" in page.text
    # A docs upload that is not a zip is refused and leaves nothing behind.
    before = stored_keys(s3)
    refused = httpx.post(
        server.url + "/root/dev/",
        data={":action": "doc_upload", "name": "documented", "version": "1.0"},
        files={"content": ("documented-1.0.doc.zip", b"not a zip at all")},
        headers=basic_auth("root", server.root_password),
        timeout=60,
    )
    assert refused.status_code == 400
    assert stored_keys(s3) == before


def test_a_failed_upload_leaves_no_object(on_s3: Any) -> None:
    server, s3 = on_s3
    filename, content = big_wheel("refused", "1.0")
    wrong = upload(server, "root/dev", filename, content, blake2_256_digest="0" * 64)
    assert wrong.status_code == 400 and "blake2_256_digest" in wrong.text
    no_metadata = io.BytesIO()
    with zipfile.ZipFile(no_metadata, "w") as wheel:
        wheel.writestr("refused/__init__.py", "")
    broken = upload(server, "root/dev", "refused-1.1-py3-none-any.whl", no_metadata.getvalue())
    assert broken.status_code == 400
    assert stored_keys(s3) == []
    left = [p for p in (server.serverdir / "tmp").rglob("*") if p.is_file()]
    assert left == []


def test_redirect_mode_answers_with_a_presigned_url(tmp_path: Path, s3_store: Any) -> None:
    server = start_on_s3(tmp_path, s3_store, "--s3-redirect")
    try:
        server.create_index("root/dev")
        filename, content = make_wheel("redirected", "1.0")
        assert upload(server, "root/dev", filename, content).status_code == 200
        page = httpx.get(server.url + "/root/dev/+simple/redirected/", headers=PIP).json()
        url = str(
            httpx.URL(server.url + "/root/dev/+simple/redirected/").join(page["files"][0]["url"])
        )
        answer = httpx.get(url)
        assert answer.status_code == 302
        assert answer.headers["Cache-Control"].startswith("private")
        location = answer.headers["Location"]
        assert location.startswith(s3_store["server"].endpoint)
        fetched = httpx.get(location)
        assert fetched.status_code == 200 and fetched.content == content
        # Validators are still answered by pyshelf.
        sha256 = hashlib.sha256(content).hexdigest()
        assert httpx.get(url, headers={"If-None-Match": f'"{sha256}"'}).status_code == 304
    finally:
        server.stop()


def test_the_sweep_removes_only_stale_unreferenced_objects(make_app: Any,
                                                           s3_store: Any) -> None:
    app = make_app(storage_url=s3_store["url"])
    shelf = Shelf(app)
    shelf.create_index("root/dev")
    filename, content = make_wheel("kept", "1.0")
    shelf.upload("root/dev", filename, content, name="kept", version="1.0")
    state = app.registry.pyshelf
    files = state.files
    kept = set(stored_keys(s3_store))
    orphan = files.put_bytes(b"stored, then its process was killed")

    def sweep(later: float) -> int:
        return OrphanSweeper(
            state.database, files, grace_seconds=HOUR, clock=lambda: time.time() + later
        ).sweep()

    # Young: nothing goes, not even the orphan.
    assert sweep(0) == 0
    assert set(stored_keys(s3_store)) == kept | {key_of(s3_store, orphan.sha256)}
    # A process killed while sending a large blob leaves an unfinished multipart upload.
    # (moto dates every multipart upload in 2010, so a young one cannot be shown kept.)
    client = s3_store["server"].client()
    client.create_multipart_upload(Bucket=s3_store["bucket"], Key=key_of(s3_store, "ab" * 32))
    # Past the grace period: the orphan and the parts go, what rows refer to stays.
    assert sweep(2 * HOUR) == 1
    assert set(stored_keys(s3_store)) == kept
    assert client.list_multipart_uploads(Bucket=s3_store["bucket"]).get("Uploads", []) == []


def test_the_s3_store_itself(make_app: Any, s3_store: Any) -> None:
    files = make_app(storage_url=s3_store["url"]).registry.pyshelf.files
    blob = files.put_bytes(b"content addressed")
    assert blob.created and files.exists(blob.sha256)
    assert files.size(blob.sha256) == len(b"content addressed")
    assert stored_keys(s3_store) == [key_of(s3_store, blob.sha256)]
    # Stored again: not sent again, but claimed (copied onto itself, which renews the
    # LastModified the sweep goes by).
    assert files.put_bytes(b"content addressed").created is False
    head = s3_store["server"].client().head_object(
        Bucket=s3_store["bucket"], Key=key_of(s3_store, blob.sha256)
    )
    assert "pyshelf-touched" in head["Metadata"]
    # Read back through a local copy, fetched again once dropped.
    files.copies.drop(blob.sha256)
    with files.open(blob.sha256) as stored:
        assert stored.read() == b"content addressed"
    files.remove(blob.sha256)
    assert not files.exists(blob.sha256)
    with pytest.raises(FileNotFoundError):
        files.open(blob.sha256)
    with pytest.raises(FileNotFoundError):
        files.size(blob.sha256)
    assert list(files.blobs_older_than(time.time() + HOUR, 10)) == []


def test_large_blobs_go_up_in_parts(make_app: Any, s3_store: Any) -> None:
    from boto3.s3.transfer import TransferConfig

    files = make_app(storage_url=s3_store["url"]).registry.pyshelf.files
    part = 5 * 1024 * 1024  # S3's smallest part
    files.transfer = TransferConfig(
        multipart_threshold=part, multipart_chunksize=part, use_threads=False
    )
    content = os.urandom(2 * part + 1000)
    blob = files.put_bytes(content)
    head = s3_store["server"].client().head_object(
        Bucket=s3_store["bucket"], Key=key_of(s3_store, blob.sha256)
    )
    assert head["ETag"].strip('"').endswith("-3")  # a completed multipart upload of 3 parts
    files.copies.drop(blob.sha256)
    with files.open(blob.sha256) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == blob.sha256


def test_local_copies_stay_within_their_budget(make_app: Any, s3_store: Any) -> None:
    files = make_app(storage_url=s3_store["url"]).registry.pyshelf.files
    files.copies.budget = 100
    first = files.put_bytes(b"a" * 60)
    second = files.put_bytes(b"b" * 60)
    assert sorted(p.name for p in files.copies.directory.iterdir()) == [second.sha256]
    # One copy larger than the budget is kept all the same: its reader needs it.
    big = files.put_bytes(b"c" * 500)
    assert files.local_path(big.sha256).read_bytes() == b"c" * 500
    assert files.local_path(first.sha256).read_bytes() == b"a" * 60


def run_init(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "pyshelf-init"), "--serverdir", str(tmp_path / "new"), "--no-root-pypi",
         "--root-passwd", "x", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )


def test_a_store_that_cannot_be_used_is_refused_with_a_message(
    tmp_path: Path, s3_store: Any
) -> None:
    missing = run_init(tmp_path, s3_store["env"], "--storage-url", "s3://no-such-bucket/p")
    assert missing.returncode == 2
    assert "cannot use the S3 store s3://no-such-bucket/p" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())
    bad = run_init(tmp_path, {}, "--storage-url", "s3://Not_A_Bucket/p")
    assert bad.returncode == 2 and "is not an S3 bucket name" in bad.stderr
    other = run_init(tmp_path, {}, "--storage-url", "gs://bucket/p")
    assert other.returncode == 2 and "unsupported storage URL" in other.stderr

    directory = LiveServer(tmp_path / "dir")
    directory.init()
    refused = subprocess.run(
        [str(BIN / "pyshelf-server"), "--serverdir", str(directory.serverdir), "--s3-redirect"],
        capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 2
    assert "--s3-redirect needs an s3:// --storage-url" in refused.stderr
