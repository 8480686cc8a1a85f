"""Mirrored files: downloaded once, verified, stored; served from disk afterwards."""

from __future__ import annotations

import threading
import time
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from .conftest import FILES, UPSTREAM, file_entry, json_page, sha256

PAGE = UPSTREAM + "hello/"
WHEEL_NAME = "hello-1.0-py3-none-any.whl"
WHEEL = b"wheel bytes " * 1000
SIMPLE = "/root/dev/+simple/hello/"


def serve_page(httpx_mock, *entries):
    httpx_mock.add_response(url=PAGE, json=json_page("hello", list(entries)), is_reusable=True)


def file_url(mirror, filename=WHEEL_NAME):
    for entry in mirror.page_json(SIMPLE)["files"]:
        if entry["filename"] == filename:
            return entry["url"]
    raise AssertionError(f"{filename} not listed")


def blobs(mirror):
    return sorted(p.name for p in mirror.files_dir.rglob("*") if p.is_file())


def test_first_download_stores_the_file_and_later_ones_come_from_disk(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    first = mirror.download(SIMPLE, url)
    assert first.body == WHEEL
    second = mirror.download(SIMPLE, url)
    assert second.body == WHEEL
    assert second.headers["Cache-Control"] == "max-age=365000000, immutable, public"
    assert second.headers["Content-Type"] == "application/octet-stream"
    file_requests = [r for r in httpx_mock.get_requests() if r.url == FILES + WHEEL_NAME]
    assert len(file_requests) == 1
    assert file_requests[0].headers["Accept-Encoding"] == "identity"


def test_an_outside_url_links_mirrored_files_absolutely(make_mirror, httpx_mock):
    mirror = make_mirror(settings={"outside_url": "https://shelf.example/"})
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    assert url.startswith("https://shelf.example/root/pypi/")
    html = mirror.simple(SIMPLE, accept="text/html").text
    assert f'href="{url}#sha256={sha256(WHEEL)}"' in html
    assert mirror.download(SIMPLE, url).body == WHEEL


def test_hash_mismatch_keeps_nothing_and_answers_502(mirror, httpx_mock, tmp_path):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=b"tampered", is_reusable=True)
    url = file_url(mirror)
    before = blobs(mirror)
    response = mirror.download(SIMPLE, url, status=502)
    assert "does not match its sha256" in response.json["message"]
    assert blobs(mirror) == before
    # Nothing was kept: the next request tries again (and fails again).
    mirror.download(SIMPLE, url, status=502)


def test_broken_transfer_keeps_nothing_and_answers_502(mirror, httpx_mock, tmp_path):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))

    def broken(request):
        def body():
            yield WHEEL[:100]
            raise httpx.ReadError("connection reset by peer")

        return httpx.Response(200, headers={"Content-Length": str(len(WHEEL))},
                              stream=_Stream(body()))

    httpx_mock.add_callback(broken, url=FILES + WHEEL_NAME)
    url = file_url(mirror)
    before = blobs(mirror)
    response = mirror.download(SIMPLE, url, status=502)
    assert "broke off" in response.json["message"]
    assert blobs(mirror) == before
    assert not list(mirror.app.registry.pyshelf.files.tmpdir.iterdir())


def test_short_body_without_hash_is_a_broken_transfer(mirror, httpx_mock):
    serve_page(httpx_mock, {"filename": "hello-1.0.tar.gz", "url": FILES + "hello-1.0.tar.gz",
                            "hashes": {}})
    httpx_mock.add_response(url=FILES + "hello-1.0.tar.gz", content=b"short",
                            headers={"Content-Length": "999"})
    url = file_url(mirror, "hello-1.0.tar.gz")
    assert "/~e/" in url
    response = mirror.download(SIMPLE, url, status=502)
    assert "5 of 999 bytes" in response.json["message"]


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        yield from self.chunks


def test_concurrent_first_requests_cause_one_download(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    calls = []

    def slow(request):
        calls.append(request)
        time.sleep(0.5)
        return httpx.Response(200, content=WHEEL)

    httpx_mock.add_callback(slow, url=FILES + WHEEL_NAME, is_reusable=True)
    url = file_url(mirror)
    results = []

    def fetch():
        results.append(mirror.download(SIMPLE, url).body)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [WHEEL] * 6
    assert len(calls) == 1


def test_slow_download_is_streamed_and_last_byte_waits_for_verification(
    mirror, httpx_mock, monkeypatch
):
    from pyshelf_server.mirror import files

    monkeypatch.setattr(files, "STREAM_AFTER", 0.05)
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))

    def slow(request):
        def body():
            for start in range(0, len(WHEEL), 3000):
                time.sleep(0.05)
                yield WHEEL[start:start + 3000]

        return httpx.Response(200, headers={"Content-Length": str(len(WHEEL)),
                                            "Content-Type": "application/x-wheel"},
                              stream=_Stream(body()))

    httpx_mock.add_callback(slow, url=FILES + WHEEL_NAME)
    response = mirror.download(SIMPLE, file_url(mirror))
    assert response.body == WHEEL
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["Content-Type"] == "application/x-wheel"
    assert "Cache-Control" not in response.headers


def test_streamed_download_with_wrong_hash_is_cut_short(mirror, httpx_mock, monkeypatch):
    from pyshelf_server.mirror import files

    monkeypatch.setattr(files, "STREAM_AFTER", 0.05)
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    tampered = b"X" * len(WHEEL)

    def slow(request):
        def body():
            for start in range(0, len(tampered), 3000):
                time.sleep(0.05)
                yield tampered[start:start + 3000]

        return httpx.Response(200, stream=_Stream(body()))

    httpx_mock.add_callback(slow, url=FILES + WHEEL_NAME)
    with pytest.raises(files.DownloadFailed):
        mirror.download(SIMPLE, file_url(mirror))


def test_head_waits_for_the_download(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    from urllib.parse import urljoin, urlsplit

    path = urlsplit(urljoin("http://localhost" + SIMPLE, url)).path
    head = mirror.test.head(path)
    assert head.headers["Content-Length"] == str(len(WHEEL))
    assert mirror.download(SIMPLE, url).body == WHEEL


def test_core_metadata_is_fetched_verified_and_cached(mirror, httpx_mock):
    metadata = b"Metadata-Version: 2.1\nName: hello\nVersion: 1.0\n"
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL,
                                      **{"core-metadata": {"sha256": sha256(metadata)}}))
    httpx_mock.add_response(url=FILES + WHEEL_NAME + ".metadata", content=metadata)
    url = file_url(mirror)
    for _ in range(2):
        response = mirror.download(SIMPLE, url + ".metadata")
        assert response.body == metadata
        assert response.headers["Content-Type"].startswith("text/plain")


def test_wrong_core_metadata_is_a_502(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL, **{"core-metadata": {"sha256": "0" * 64}}))
    httpx_mock.add_response(url=FILES + WHEEL_NAME + ".metadata", content=b"other")
    mirror.download(SIMPLE, file_url(mirror) + ".metadata", status=502)


def test_unknown_file_and_wrong_hash_path_are_404(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    url = file_url(mirror)
    mirror.download(SIMPLE, url.replace(WHEEL_NAME, "hello-9.9-py3-none-any.whl"), status=404)
    digest = sha256(WHEEL)
    mirror.download(SIMPLE, url.replace(digest[3:16], "0" * 13), status=404)


def test_file_requested_before_its_page_fetches_the_page(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    digest = sha256(WHEEL)
    path = f"/root/pypi/+f/{digest[:3]}/{digest[3:16]}/{WHEEL_NAME}"
    assert mirror.test.get(path).body == WHEEL


def test_use_external_urls_redirects_uncached_files(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_use_external_urls=True)
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    response = mirror.download(SIMPLE, file_url(mirror), status=302)
    assert response.headers["Location"] == FILES + WHEEL_NAME


def test_releasefilemeta_json_names_the_upstream_url(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    response = mirror.download(SIMPLE, file_url(mirror), headers={"Accept": "application/json"})
    meta = response.json["result"]
    assert response.json["type"] == "releasefilemeta"
    assert meta["url"] == FILES + WHEEL_NAME
    assert meta["hashes"] == {"sha256": sha256(WHEEL)}
    assert meta["version"] == "1.0"


def test_removing_a_mirrored_project_drops_page_and_files(mirror, httpx_mock, tmp_path):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL, is_reusable=True)
    url = file_url(mirror)
    mirror.download(SIMPLE, url)
    assert sha256(WHEEL) in blobs(mirror)
    mirror.json("DELETE", "/root/pypi/hello", user="root", status=200)
    assert sha256(WHEEL) not in blobs(mirror)
    mirror.json("DELETE", "/root/pypi/hello", user="root", status=404)
    # The next request fetches page and file again.
    assert mirror.download(SIMPLE, file_url(mirror)).body == WHEEL
    assert len([r for r in httpx_mock.get_requests() if r.url == PAGE]) == 2


def test_only_root_or_owner_may_remove_mirrored_projects(mirror, httpx_mock):
    mirror.create_user("alice")
    mirror.json("DELETE", "/root/pypi/hello", user="alice", password="secret", status=403)


def test_verified_file_is_answered_before_it_is_stored(mirror, httpx_mock, monkeypatch):
    # fsync, the move into the store and the database row come after the answer, off the
    # client's critical path; requests meanwhile read the same verified bytes.
    from pyshelf_server.mirror import files

    stored = threading.Event()
    record = files.record_file

    def slow_record(*args):
        assert stored.wait(30)
        record(*args)

    monkeypatch.setattr(files, "record_file", slow_record)
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    path = urlsplit(urljoin("http://localhost" + SIMPLE, file_url(mirror))).path
    for _ in range(2):
        response = mirror.test.get(path)
        assert response.body == WHEEL
        assert response.headers["ETag"] == f'"{sha256(WHEEL)}"'
        assert response.headers["Cache-Control"] == "max-age=365000000, immutable, public"
        assert response.headers["Content-Length"] == str(len(WHEEL))
    assert mirror.test.head(path).headers["Content-Length"] == str(len(WHEEL))
    stored.set()
    mirror.settle()
    assert sha256(WHEEL) in blobs(mirror)
    assert mirror.test.get(path).body == WHEEL
    assert len([r for r in httpx_mock.get_requests() if r.url == FILES + WHEEL_NAME]) == 1


def test_streamed_bytes_reach_the_client_as_they_arrive(mirror, httpx_mock, monkeypatch):
    from webob import Request

    from pyshelf_server.mirror import files

    monkeypatch.setattr(files, "STREAM_AFTER", 0.01)
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    go_on = threading.Event()
    early = []

    def trickle(request):
        def body():
            yield WHEEL[:5000]
            early.append(go_on.wait(30))  # upstream sends the rest once the client had bytes
            yield WHEEL[5000:]

        return httpx.Response(200, headers={"Content-Length": str(len(WHEEL))},
                              stream=_Stream(body()))

    httpx_mock.add_callback(trickle, url=FILES + WHEEL_NAME)
    path = urlsplit(urljoin("http://localhost" + SIMPLE, file_url(mirror))).path
    _status, _headers, app_iter = Request.blank(path).call_application(mirror.app)
    pieces = iter(app_iter)
    first = next(pieces)
    go_on.set()
    body = first + b"".join(pieces)
    getattr(app_iter, "close", lambda: None)()
    assert body == WHEEL
    assert early == [True]
    mirror.settle()


def _links_reads(mirror):
    """A list that collects every SQL statement reading the stored links of a page."""
    from sqlalchemy import event

    seen: list[str] = []
    engine = mirror.app.registry.pyshelf.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "links" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen


def test_a_file_right_after_its_page_is_found_without_reading_the_stored_links(
    mirror, httpx_mock
):
    # A page of thousands of links is a megabyte of stored JSON: the installer's next request,
    # for one of its files, finds the link among the links just fetched.
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    reads = _links_reads(mirror)
    assert mirror.download(SIMPLE, url).body == WHEEL
    assert reads == []


def test_links_held_in_memory_are_used_only_while_the_stored_page_is_the_same(
    mirror, httpx_mock
):
    from sqlalchemy import update

    from pyshelf_server.mirror.models import MirrorProject

    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    url = file_url(mirror)
    # Another process stored a new page without this file: its change token differs.
    session = mirror.app.registry.pyshelf.sessions(write=True)
    session.execute(update(MirrorProject).values(links=[], change_token="elsewhere"))
    session.commit()
    session.close()
    reads = _links_reads(mirror)
    mirror.download(SIMPLE, url, status=404)
    assert reads != []


def test_a_page_stored_after_its_answer_is_served_from_memory_until_then(
    mirror, httpx_mock, monkeypatch
):
    """In the server the first fetch of a page is stored once its answer is sent; a file
    request arriving before that (another connection) still finds the page, without asking
    upstream for it again."""
    from sqlalchemy import select

    from pyshelf_server.mirror import pages
    from pyshelf_server.mirror.models import MirrorProject

    deferred = []
    monkeypatch.setattr(pages, "after_send", deferred.append)
    httpx_mock.add_response(url=PAGE, json=json_page("hello", [file_entry(WHEEL_NAME, WHEEL)]))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    assert len(deferred) == 1

    def stored():
        session = mirror.app.registry.pyshelf.sessions()
        try:
            return session.execute(select(MirrorProject.name)).scalars().all()
        finally:
            session.close()

    assert stored() == []
    assert mirror.download(SIMPLE, url).body == WHEEL
    assert mirror.page_json(SIMPLE)["files"][0]["url"] == url
    deferred.pop()()
    assert stored() == ["hello"]
    assert mirror.page_json(SIMPLE)["files"][0]["url"] == url
    # One page request upstream in all (pytest-httpx fails the test on an unexpected one).
    assert len([r for r in httpx_mock.get_requests() if r.url == PAGE]) == 1


def test_a_stored_mirrored_file_answers_304_to_its_etag(mirror, httpx_mock):
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    first = mirror.download(SIMPLE, url)
    mirror.settle()
    etag = first.headers["ETag"]
    assert etag == f'"{sha256(WHEEL)}"'
    again = mirror.download(SIMPLE, url, status=304, headers={"If-None-Match": etag})
    assert again.body == b"" and again.headers["ETag"] == etag
    other = mirror.download(SIMPLE, url, headers={"If-None-Match": '"something-else"'})
    assert other.body == WHEEL


def test_a_busy_file_host_is_a_503(
    make_mirror, httpx_mock
):
    from pyshelf_server.mirror.runtime import runtime

    mirror = make_mirror(settings={"upstream_threads": 1})
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    url = file_url(mirror)
    places = runtime(mirror.app.registry.pyshelf).places
    give_back = places.take(FILES)
    refused = mirror.download(SIMPLE, url, status=503)
    assert refused.headers["Retry-After"] == "2"
    assert "files.upstream.example:443 is busy" in refused.json["message"]
    give_back()
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    assert mirror.download(SIMPLE, url).body == WHEEL
    # The answer is over: its place is free again.
    places.take(FILES)()


def test_a_streamed_download_holds_its_place_until_the_answer_ends(
    make_mirror, httpx_mock, monkeypatch
):
    from pyshelf_server.mirror import files
    from pyshelf_server.mirror.runtime import runtime
    from pyshelf_server.mirror.upstream import UpstreamBusy

    monkeypatch.setattr(files, "STREAM_AFTER", 0.05)
    mirror = make_mirror(settings={"upstream_threads": 1})
    places = runtime(mirror.app.registry.pyshelf).places
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    seen_busy = []

    def slow(request):
        def body():
            for start in range(0, len(WHEEL), 3000):
                time.sleep(0.05)
                if start == 3 * 3000:
                    # The answer is being streamed by now: its worker holds the one place.
                    try:
                        places.take(FILES)()
                    except UpstreamBusy:
                        seen_busy.append(True)
                yield WHEEL[start:start + 3000]

        return httpx.Response(200, headers={"Content-Length": str(len(WHEEL))},
                              stream=_Stream(body()))

    httpx_mock.add_callback(slow, url=FILES + WHEEL_NAME)
    response = mirror.download(SIMPLE, file_url(mirror))
    assert response.body == WHEEL
    assert "Cache-Control" not in response.headers
    assert seen_busy == [True]
    places.take(FILES)()


def test_on_s3_a_mirrored_file_is_stored_in_the_bucket_and_served_from_it(
    make_mirror, httpx_mock, s3_store
):
    mirror = make_mirror(settings={"storage_url": s3_store["url"]})
    serve_page(httpx_mock, file_entry(WHEEL_NAME, WHEEL))
    httpx_mock.add_response(url=FILES + WHEEL_NAME, content=WHEEL)
    url = file_url(mirror)
    assert mirror.download(SIMPLE, url).body == WHEEL
    key = f"{s3_store['prefix']}/{sha256(WHEEL)[:2]}/{sha256(WHEEL)}"
    assert s3_store["server"].keys(s3_store["bucket"]) == [key]
    # Served from the bucket, by a process that has no local copy of it.
    mirror.app.registry.pyshelf.files.copies.drop(sha256(WHEEL))
    again = mirror.download(SIMPLE, url)
    assert again.body == WHEEL
    assert again.headers["ETag"] == f'"{sha256(WHEEL)}"'
    assert len([r for r in httpx_mock.get_requests() if r.url == FILES + WHEEL_NAME]) == 1
