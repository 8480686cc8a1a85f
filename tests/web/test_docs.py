"""Documentation: unpacked safely, served raw with a sandbox policy and inside the site frame."""

from __future__ import annotations

import io
import os
import zipfile

import httpx
import pytest

from pyshelf_server.testing import make_wheel
from pyshelf_web.docs import DocsError, DocsLimits, DocStore, safe_member_path

from .conftest import make_docs_zip

DOCS = {
    "index.html": "<html><head><title>Fancy docs</title></head><body><h1>Welcome</h1>"
                  "<p>The frobnicator guide.</p><script src='x.js'></script></body></html>",
    "api/reference.html": "<title>API</title><p>Reference of quuxification.</p>",
    "x.js": "document.title = 'scripted';",
}


def publish(web, version="1.0", docs=None, name="fancy"):
    if web.json("GET", "/alice", status="*").status_int == 404:
        web.create_user("alice", password="secret")
        web.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel(name, version, summary="Fancy")
    web.upload("alice/dev", filename, content, name=name, version=version, user="alice",
               password="secret")
    response = web.upload_docs("alice/dev", make_docs_zip(docs or DOCS), name=name,
                               version=version, user="alice", password="secret")
    assert response.status_int == 200, response.status


def test_raw_docs_are_served_sandboxed(web):
    publish(web)
    page = web.test.get("/alice/dev/fancy/1.0/+doc/index.html")
    assert "The frobnicator guide" in page.text
    policy = page.headers["Content-Security-Policy"]
    assert policy.startswith("sandbox ") and "allow-same-origin" not in policy
    assert page.headers["ETag"]
    assert page.headers["Cache-Control"] == "max-age=60"
    again = web.test.get("/alice/dev/fancy/1.0/+doc/index.html",
                         headers={"If-None-Match": page.headers["ETag"]}, status=304)
    assert again.body == b""
    nested = web.test.get("/alice/dev/fancy/1.0/+doc/api/reference.html")
    assert "quuxification" in nested.text


def test_docs_redirects_and_missing_pages(web):
    publish(web)
    bare = web.test.get("/alice/dev/fancy/1.0/+doc", status=302)
    assert bare.location.endswith("/alice/dev/fancy/1.0/+doc/index.html")
    slash = web.test.get("/alice/dev/fancy/1.0/+doc/", status=302)
    assert slash.location.endswith("/+doc/index.html")
    web.test.get("/alice/dev/fancy/1.0/+doc/nope.html", status=404)
    web.test.get("/alice/dev/fancy/9.9/+doc/index.html", status=404)
    # %2e%2e is decoded before routing; the path still cannot leave the docs tree.
    web.test.get("/alice/dev/fancy/1.0/+doc/%2e%2e/%2e%2e/%2e%2e/etc/passwd", status=404)


def test_latest_and_stable_docs(web):
    publish(web, "1.0", {"index.html": "<p>one</p>"})
    publish(web, "2.0b1", {"index.html": "<p>two beta</p>"})
    assert "two beta" in web.test.get("/alice/dev/fancy/latest/+doc/index.html").text
    assert "one" in web.test.get("/alice/dev/fancy/stable/+doc/index.html").text


def test_docs_frame_page(web):
    publish(web)
    page = web.page("/alice/dev/fancy/1.0/+d/")
    assert "<iframe" in page.text
    assert 'sandbox="allow-scripts' in page.text and "allow-same-origin" not in page.text
    assert "/alice/dev/fancy/1.0/+doc/index.html" in page.text
    version_page = web.page("/alice/dev/fancy/1.0")
    assert "/alice/dev/fancy/1.0/+d/" in version_page.text
    web.page("/alice/dev/fancy/latest/+d/api/reference.html")
    web.page("/alice/dev/fancy/1.0/+d", status=302)


def test_hostile_zip_entries_are_not_unpacked(web, tmp_path):
    hostile = make_docs_zip(
        {"index.html": "<p>ok</p>", "../escape.html": "bad", "/abs.html": "bad",
         "sub/../../up.html": "bad", "C:evil.html": "bad", "a\\..\\..\\win.html": "bad"},
        symlinks={"link.html": "/etc/passwd", "dirlink": "/"},
    )
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel("fancy", "1.0")
    web.upload("alice/dev", filename, content, name="fancy", version="1.0", user="alice",
               password="secret")
    web.upload_docs("alice/dev", hostile, name="fancy", version="1.0", user="alice",
                    password="secret")
    assert "ok" in web.test.get("/alice/dev/fancy/1.0/+doc/index.html").text
    web.test.get("/alice/dev/fancy/1.0/+doc/link.html", status=404)
    web.test.get("/alice/dev/fancy/1.0/+doc/dirlink/etc/passwd", status=404)
    docs_root = web.web.docs.root
    unpacked = {p.relative_to(docs_root).as_posix() for p in docs_root.rglob("*")}
    assert not any("escape" in p or "abs.html" in p or "up.html" in p or "win" in p
                   or "evil" in p for p in unpacked), unpacked
    assert not any(p.is_symlink() for p in docs_root.rglob("*"))
    assert not (docs_root.parent / "escape.html").exists()


@pytest.mark.parametrize("name", ["../x", "/x", "a/../../x", "C:x", "a\\b", "", "./", "a/b/.."])
def test_unsafe_member_names(name):
    assert safe_member_path(name) is None


def test_harmless_member_names_are_kept():
    assert str(safe_member_path("a/./b")) == "a/b"
    assert str(safe_member_path("_static/x.css")) == "_static/x.css"


def test_size_limits(tmp_path):
    store = DocStore(tmp_path / "docs", limits=DocsLimits(max_total_bytes=1000, max_file_bytes=600,
                                                          max_members=5))
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.html", "x" * 500)
        archive.writestr("b.html", "x" * 500)
        archive.writestr("c.html", "x" * 500)
    with pytest.raises(DocsError, match="larger than 1000"):
        store.ensure("a" * 64, lambda: big.open("rb"))
    assert not store.is_unpacked("a" * 64)
    assert not [p for p in (tmp_path / "docs").rglob("*") if p.is_file() and p.suffix != ".refused"]
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("huge.html", "x" * 10_000)
    with pytest.raises(DocsError, match="larger than 600"):
        store.ensure("b" * 64, lambda: bomb.open("rb"))
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as archive:
        for n in range(6):
            archive.writestr(f"{n}.html", "x")
    with pytest.raises(DocsError, match="more than 5"):
        store.ensure("c" * 64, lambda: many.open("rb"))


def test_docs_over_the_limit_answer_an_error_not_a_crash(web):
    web.web.docs.limits = DocsLimits(max_total_bytes=10)
    publish(web, docs={"index.html": "x" * 100})
    page = web.test.get("/alice/dev/fancy/1.0/+doc/index.html", status=422)
    assert "larger than 10" in page.text


def test_a_refused_zip_is_not_unpacked_again(tmp_path, monkeypatch):
    store = DocStore(tmp_path / "docs", limits=DocsLimits(max_total_bytes=1000))
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", "x" * 10_000)
    attempts = []
    unpack = store._unpack
    monkeypatch.setattr(store, "_unpack", lambda *a: (attempts.append(a), unpack(*a)))
    for _ in range(2):
        with pytest.raises(DocsError, match="larger than 1000"):
            store.ensure("d" * 64, lambda: open(bomb, "rb"))
    assert len(attempts) == 1
    # A different blob is tried on its own; so is the same blob under other limits.
    with pytest.raises(DocsError):
        store.ensure("e" * 64, lambda: open(bomb, "rb"))
    assert len(attempts) == 2
    store.limits = DocsLimits(max_total_bytes=100_000)
    unpacked = store.ensure("d" * 64, lambda: open(bomb, "rb"))
    assert (unpacked / "index.html").read_text() == "x" * 10_000
    assert len(attempts) == 3
    store.remove("e" * 64)
    assert not list((tmp_path / "docs").rglob("*.refused"))


def _bytes_written(pid: int) -> int:
    with open(f"/proc/{pid}/io") as stats:
        return next(int(line.split()[1]) for line in stats if line.startswith("wchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's /proc/<pid>/io")
def test_a_docs_bomb_is_unpacked_at_most_once_by_a_real_server(make_live_server):
    limit = 2 * 1024 * 1024
    server = make_live_server(args=["--docs-max-size", str(limit)])
    server.create_user("alice", "secret")
    server.create_index("alice/dev", auth=("alice", "secret"))
    filename, content = make_wheel("fancy", "1.0")
    stored = server.request(
        "POST", "/alice/dev/", auth=("alice", "secret"), headers={"Accept": "*/*"},
        data={":action": "file_upload", "name": "fancy", "version": "1.0"},
        files={"content": (filename, content)},
    )
    assert stored.status_code == 200, stored.text
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", b"\0" * (3 * limit))
    docs = server.request(
        "POST", "/alice/dev/", auth=("alice", "secret"), headers={"Accept": "*/*"},
        data={":action": "doc_upload", "name": "fancy", "version": "1.0"},
        files={"content": ("fancy-1.0.doc.zip", bomb.getvalue())},
    )
    assert docs.status_code == 200, docs.text
    pid = server.process.pid
    written = []
    for _ in range(3):
        before = _bytes_written(pid)
        page = httpx.get(server.url + "/alice/dev/fancy/1.0/+doc/index.html", timeout=60)
        assert page.status_code == 422 and f"larger than {limit}" in page.text
        written.append(_bytes_written(pid) - before)
    # The first view (or the indexer before it) wrote up to the limit; later views write
    # nothing of the zip.
    assert max(written[1:]) < limit // 4, written
