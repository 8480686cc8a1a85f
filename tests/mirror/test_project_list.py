"""Upstream's project list: parsed in a child process from a file it was streamed to, stored as
a blob, read through a memory map that survives the blob's replacement."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from pyshelf_server.mirror import projectlist
from pyshelf_server.mirror import runtime as runtime_module
from pyshelf_server.mirror.listcache import MirrorProjectList
from pyshelf_server.mirror.listparse import (
    ListBuildError,
    ListContentError,
    build_list,
    parse_project_list,
)
from pyshelf_server.mirror.models import MirrorState
from pyshelf_server.mirror.projectlist import NameList, encode_names
from pyshelf_server.mirror.runtime import runtime
from pyshelf_server.mirror.upstream import UpstreamContentError

from .conftest import JSON_TYPE, UPSTREAM

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# Upstream spellings of 50,000 names, in no order, with duplicates after normalisation.
RAW = [*reversed([f"Proj_{n:05d}.x" for n in range(50_000)]), "proj-00001-x", "PROJ.00002_X"]
NAMES = sorted(f"proj-{n:05d}-x" for n in range(50_000))


def list_body(raw: list[str] = RAW) -> bytes:
    return json.dumps({"meta": {"api-version": "1.0"},
                       "projects": [{"name": n, "_last-serial": 1} for n in raw]}).encode()


def html_body(raw: list[str]) -> bytes:
    anchors = "\n".join(f'<a href="/simple/{n}/">{n}</a>' for n in raw)
    return f"<html><body>{anchors}</body></html>".encode()


# -- parsing (listparse) --------------------------------------------------------------------


def test_parse_normalises_deduplicates_and_sorts():
    body = (b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "B_b"}, {"name": "a"},'
            b' {"name": "b-B"}, {"name": 3}, {"x": "y"}, "loose", {"name": "-"}]}')
    # A bare string is taken as a name too (as before); other entries are skipped.
    assert parse_project_list(body, JSON_TYPE) == ["a", "b-b", "loose"]
    # Without a telling content type, the first character decides.
    assert parse_project_list(body, "application/octet-stream") == ["a", "b-b", "loose"]
    html = b'<a href="/simple/Foo.Bar/">Foo.Bar</a><a href="x/"></a><a>baz</a><a></a>'
    assert parse_project_list(html, "text/html") == ["baz", "foo-bar", "x"]


def test_html_list_is_read_by_an_html_parser():
    body = (b'<!DOCTYPE html><html><head><title>Simple index</title></head><body>\n'
            b'<!-- <a href="/simple/hidden/">hidden</a> -->\n'
            b'<script>var s = "<a href=\'/simple/in-script/\'>in-script</a>";</script>\n'
            b'<a href="/simple/plain/">plain</a><br/>\n'
            b"<A HREF='/simple/Upper_Case/'>Upper_Case</A>\n"
            b'<a data-x="1" href="/simple/amp/">Amp&amp;Co</a>\n'
            b'<a href="/simple/bold/"><b>Bold</b></a>\n'
            b'<a href=/simple/from-href/></a>\n'
            b'<a href="/simple/unclosed/">unclosed\n'
            b'<a href="/simple/next/">next</a><abbr>no</abbr><area href="/simple/no/">\n'
            b'</body></html>')
    assert parse_project_list(body, "text/html") == [
        "amp-co", "bold", "next", "plain", "simple-from-href", "unclosed", "upper-case"]
    big = html_body(RAW)
    assert parse_project_list(big, "text/html") == NAMES


def test_a_list_longer_than_one_parser_piece_loses_no_name(monkeypatch):
    from pyshelf_server.mirror import markup

    monkeypatch.setattr(markup, "_LIST_PIECE", 7)  # pieces end inside tags and names
    names = [f"name-{i}" for i in range(300)]
    body = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names).encode()
    assert list(markup.list_anchor_names(body)) == names
    assert list(markup.list_anchor_names(b"")) == []


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b'{"projects": [', JSON_TYPE, "upstream sent an invalid JSON project list"),
    (b"[" * 100_000 + b"]" * 100_000, JSON_TYPE, "upstream sent an invalid JSON project list"),
    (b'{"meta": {}}', JSON_TYPE, "upstream sent no PEP 691 project list"),
    (b'["a"]', "application/json", "upstream sent no PEP 691 project list"),
])
def test_parse_refuses_what_is_no_list(body, content_type, message):
    with pytest.raises(ListContentError, match=message):
        parse_project_list(body, content_type)


# -- the child process ----------------------------------------------------------------------


def test_child_builds_the_blob_of_50000_names(tmp_path):
    body = tmp_path / "body"
    body.write_bytes(list_body())
    out = tmp_path / "out"
    built = build_list(body, out, JSON_TYPE)
    expected = encode_names(NAMES)
    assert out.read_bytes() == expected
    assert built.sha256 == hashlib.sha256(expected).hexdigest()
    assert (built.size, built.count) == (len(expected), 50_000)


def test_child_reads_html_too(tmp_path):
    body = tmp_path / "body"
    body.write_bytes(html_body(RAW[:1000]))
    built = build_list(body, tmp_path / "out", "text/html; charset=utf-8")
    assert built.count == 1000
    assert (tmp_path / "out").read_bytes() == encode_names(sorted(NAMES[-1000:]))


def test_child_reports_a_body_that_is_no_list(tmp_path):
    body = tmp_path / "body"
    body.write_bytes(b'{"projects": [{"name": "a"},')
    with pytest.raises(ListContentError) as raised:
        build_list(body, tmp_path / "out", JSON_TYPE)
    assert str(raised.value) == "upstream sent an invalid JSON project list"


def test_child_failure_and_timeout_are_build_errors(tmp_path):
    with pytest.raises(ListBuildError, match=r"the list parser failed: .*FileNotFoundError"):
        build_list(tmp_path / "missing", tmp_path / "out", JSON_TYPE)
    body = tmp_path / "body"
    body.write_bytes(list_body())
    with pytest.raises(ListBuildError, match="took more than 0s"):
        build_list(body, tmp_path / "out", JSON_TYPE, timeout=0.001)


# -- the mapped list (projectlist) ----------------------------------------------------------


def test_mapped_list_answers_like_the_bytes(tmp_path, monkeypatch):
    path = tmp_path / "blob"
    path.write_bytes(encode_names(NAMES))
    names = NameList.open(path)
    assert names.mapped
    assert len(names) == 50_000
    assert NAMES[0] in names and NAMES[-1] in names and NAMES[25_000] in names
    assert "proj-00001" not in names and "proj-00001-xx" not in names and "zzz" not in names
    assert names.with_prefix("proj-0499", 3) == ["proj-04990-x", "proj-04991-x", "proj-04992-x"]
    monkeypatch.setattr(projectlist, "SLICE", 4099)
    assert list(names) == NAMES
    names.close()
    with pytest.raises(ValueError):
        list(names)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert list(NameList.open(empty)) == [] and len(NameList.open(empty)) == 0


def _rss_file_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile")


@linux_only
def test_walking_the_whole_mapped_list_does_not_stay_resident(tmp_path):
    path = tmp_path / "blob"
    data = encode_names(f"project-number-{n:08d}" for n in range(800_000))  # ~19 MB
    path.write_bytes(data)
    del data
    names = NameList.open(path, count=800_000)
    before = _rss_file_kb()
    for _chunk in names.iter_chunks():
        pass
    assert _rss_file_kb() - before < 4096
    assert "project-number-00799999" in names
    names.close()


# -- through the server ---------------------------------------------------------------------


def _info(mirror, fullname="root/pypi"):
    state = mirror.app.registry.pyshelf
    if state.registry.current() is None:
        mirror.json("GET", "/" + fullname)  # loads the configuration snapshot
    return state, state.registry.current().get(fullname)


def _mapped_blobs(files_dir: Path) -> set[str]:
    maps = Path("/proc/self/maps").read_text().splitlines()
    return {line.rsplit("/", 1)[-1] for line in maps if str(files_dir) in line}


@linux_only
def test_fifty_thousand_names_are_fetched_parsed_and_listed(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False, mirror_cache_expiry=3600)
    httpx_mock.add_response(url=UPSTREAM, content=list_body(),
                            headers={"Content-Type": JSON_TYPE, "ETag": '"v1"',
                                     "X-PyPI-Last-Serial": "77"})
    page = mirror.page_json("/root/pypi/+simple/")
    assert [p["name"] for p in page["projects"]] == NAMES
    html = mirror.simple("/root/dev/+simple/", accept="text/html").text
    assert html.count("<a href=") == 50_000
    # Names not in the list are 404 without asking upstream.
    mirror.simple("/root/dev/+simple/proj-99999-x/", status=404)
    assert len(httpx_mock.get_requests()) == 1
    state, info = _info(mirror)
    session = state.sessions()
    try:
        row = session.get(MirrorState, info.id)
        assert (row.list_count, row.list_etag, row.list_serial) == (50_000, '"v1"', 77)
        sha = row.list_sha256
    finally:
        session.close()
    assert state.files.path(sha).read_bytes() == encode_names(NAMES)
    # Nothing left in the store's temporary directory; the list is mapped, not read.
    assert list(state.files.tmpdir.iterdir()) == []
    assert runtime(state).name_list(info.id, sha).mapped
    assert sha in _mapped_blobs(mirror.files_dir)


@linux_only
def test_on_s3_the_list_is_stored_in_the_bucket_and_mapped_from_a_local_copy(
    make_mirror, httpx_mock, s3_store
):
    mirror = make_mirror(
        settings={"storage_url": s3_store["url"]}, mirror_no_project_list=False,
        mirror_cache_expiry=3600,
    )
    httpx_mock.add_response(url=UPSTREAM, content=list_body(),
                            headers={"Content-Type": JSON_TYPE})
    page = mirror.page_json("/root/pypi/+simple/")
    assert len(page["projects"]) == 50_000
    state, info = _info(mirror)
    session = state.sessions()
    try:
        sha = session.get(MirrorState, info.id).list_sha256
    finally:
        session.close()
    assert f"{s3_store['prefix']}/{sha[:2]}/{sha}" in s3_store["server"].keys(s3_store["bucket"])
    # The list is mapped from this process's local copy (what it built and sent).
    names = runtime(state).name_list(info.id, sha)
    assert names is not None and names.mapped
    assert sha in _mapped_blobs(state.files.copies.directory)


def _stored_list(mirror) -> str | None:
    state, info = _info(mirror)
    session = state.sessions()
    try:
        row = session.get(MirrorState, info.id)
        return row.list_sha256 if row is not None else None
    finally:
        session.close()


def test_a_page_request_leaves_the_list_for_when_the_mirror_is_quiet(
    make_mirror, httpx_mock, monkeypatch
):
    # The list (seconds of CPU for a million names) must not be fetched while the installer
    # that asked for the page is still running: only once the mirror has been quiet.
    monkeypatch.setattr(runtime_module, "LIST_QUIET", 3600.0)
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM + "six/", json={"name": "six", "files": []})
    mirror.page_json("/root/dev/+simple/six/")
    mirror.page_json("/root/dev/+simple/six/")
    assert [str(r.url) for r in httpx_mock.get_requests()] == [UPSTREAM + "six/"]
    state, info = _info(mirror)
    assert runtime(state)._deferred == {("list", info.id)}  # one pending fetch, not two
    assert _stored_list(mirror) is None


def test_the_list_is_fetched_in_the_background_once_the_mirror_is_quiet(
    make_mirror, httpx_mock, monkeypatch
):
    monkeypatch.setattr(runtime_module, "LIST_QUIET", 0.0)
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM + "six/", json={"name": "six", "files": []})
    httpx_mock.add_response(url=UPSTREAM, content=list_body())
    mirror.page_json("/root/dev/+simple/six/")
    deadline = time.monotonic() + 60
    while _stored_list(mirror) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_list(mirror) == hashlib.sha256(encode_names(NAMES)).hexdigest()
    # From now on a name that is not in the list is a 404 without asking upstream.
    mirror.simple("/root/dev/+simple/nosuch/", status=404)
    assert len(httpx_mock.get_requests()) == 2


def test_a_busy_mirror_gets_its_list_after_the_longest_delay(make_mirror, monkeypatch):
    monkeypatch.setattr(runtime_module, "LIST_QUIET", 3600.0)
    monkeypatch.setattr(runtime_module, "LIST_MAX_DELAY", 0.0)
    mirror = make_mirror()
    state, info = _info(mirror)
    rt = runtime(state)
    rt.touch(info.id)
    ran = threading.Event()
    assert rt.when_quiet("job", info.id, ran.set)
    assert ran.wait(60)


def test_invalid_list_is_an_upstream_content_error(make_mirror, httpx_mock, caplog):
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM, content=b'{"projects": [{"name": "a"',
                            headers={"Content-Type": JSON_TYPE})
    caplog.set_level(logging.WARNING)
    assert mirror.page_json("/root/pypi/+simple/")["projects"] == []
    assert ("root/pypi: project list: upstream sent an invalid JSON project list"
            f" ({UPSTREAM})") in caplog.text
    state, info = _info(mirror)
    pages = MirrorProjectList(app=state, runtime=runtime(state), index=info)
    httpx_mock.add_response(url=UPSTREAM, content=b"{}", headers={"Content-Type": JSON_TYPE})
    with pytest.raises(UpstreamContentError, match="no PEP 691 project list"):
        pages.refresh_list()
    assert list(state.files.tmpdir.iterdir()) == []


@linux_only
def test_a_newer_list_replaces_the_mapped_one_while_a_listing_streams(mirror, httpx_mock):
    state, info = _info(mirror)
    pages = MirrorProjectList(app=state, runtime=runtime(state), index=info)
    httpx_mock.add_response(url=UPSTREAM, content=list_body(), headers={"ETag": '"v1"'})
    old = pages.refresh_list()
    old_sha = hashlib.sha256(encode_names(NAMES)).hexdigest()
    assert _mapped_blobs(mirror.files_dir) == {old_sha}
    # A listing is streaming from the old list...
    streaming = iter(old)
    assert next(streaming) == NAMES[0]
    httpx_mock.add_response(url=UPSTREAM, content=list_body(RAW[:10]),
                            headers={"ETag": '"v2"'})
    new = pages.refresh_list()
    assert len(new) == 10
    # ...the old blob is gone from the store, and the listing still finishes on it.
    assert not state.files.exists(old_sha)
    assert list(streaming) == NAMES[1:]
    del old, streaming
    # Once nobody uses it, the old map (and its file) are closed.
    assert len(_mapped_blobs(mirror.files_dir)) == 1
    assert old_sha not in _mapped_blobs(mirror.files_dir)
    # A 304 keeps the list that is mapped.
    httpx_mock.add_response(url=UPSTREAM, status_code=304)
    assert pages.refresh_list() is new
    assert httpx_mock.get_requests()[-1].headers["If-None-Match"] == '"v2"'


def test_the_server_fixes_the_malloc_mmap_threshold():
    import platform

    from pyshelf_server.memory import fix_mmap_threshold

    applied = fix_mmap_threshold()
    assert applied is (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc")


def test_the_background_list_refresh_is_left_to_the_process_holding_its_lease(
    make_mirror, httpx_mock, monkeypatch
):
    # Another server process on the database is refreshing the list: this one does not fetch
    # it too, and fetches it once that process gave the job up.
    from pyshelf_server.leases import claim, release

    monkeypatch.setattr(runtime_module, "LIST_QUIET", 0.0)
    mirror = make_mirror(mirror_no_project_list=False)
    mirror.json("GET", "/root/dev")  # loads the configuration, not the mirror's listing
    state, info = _info(mirror)
    rt = runtime(state)
    assert claim(state.engine, f"mirror-list:{info.id}", "another-process", 600)
    httpx_mock.add_response(url=UPSTREAM + "six/", json={"name": "six", "files": []})
    mirror.page_json("/root/dev/+simple/six/")
    deadline = time.monotonic() + 60
    while rt._deferred and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not rt._deferred
    assert _stored_list(mirror) is None
    assert [str(r.url) for r in httpx_mock.get_requests()] == [UPSTREAM + "six/"]

    release(state.engine, f"mirror-list:{info.id}", "another-process")
    httpx_mock.add_response(url=UPSTREAM, content=list_body())
    httpx_mock.add_response(url=UPSTREAM + "seven/", json={"name": "seven", "files": []})
    mirror.page_json("/root/dev/+simple/seven/")
    while _stored_list(mirror) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_list(mirror) == hashlib.sha256(encode_names(NAMES)).hexdigest()
