"""Project pages of a mirror: fresh, expired, revalidated, stale when upstream fails, 404s,
JSON and HTML upstreams, offline mode."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import FILES, UPSTREAM, file_entry, html_page, json_page, sha256

PAGE = UPSTREAM + "hello/"
WHEEL = b"wheel bytes"


def hello_page(**extra: object) -> dict[str, object]:
    return json_page("Hello", [file_entry("hello-1.0-py3-none-any.whl", WHEEL, **extra)])


def test_first_request_fetches_json_and_serves_links(mirror, httpx_mock):
    httpx_mock.add_response(url=PAGE, json=hello_page(**{"requires-python": ">=3.8"}),
                            headers={"Content-Type": "application/vnd.pypi.simple.v1+json",
                                     "X-PyPI-Last-Serial": "42"})
    response = mirror.simple("/root/pypi/+simple/hello/")
    page = json.loads(response.body)
    [entry] = page["files"]
    digest = sha256(WHEEL)
    path = f"root/pypi/~f/{digest[:3]}/{digest[3:16]}/hello-1.0-py3-none-any.whl"
    assert entry["url"] == "../../../../" + path
    assert entry["hashes"] == {"sha256": digest}
    assert entry["requires-python"] == ">=3.8"
    assert page["versions"] == ["1.0"]
    assert response.headers["X-PyPI-Last-Serial"] == "42"
    request = httpx_mock.get_request()
    assert "application/vnd.pypi.simple.v1+json" in request.headers["Accept"]
    assert request.headers["User-Agent"].startswith("pyshelf-server/")


def test_fresh_page_is_served_without_asking_upstream(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_cache_expiry=3600)
    httpx_mock.add_response(url=PAGE, json=hello_page())
    mirror.simple("/root/pypi/+simple/hello/")
    mirror.simple("/root/pypi/+simple/hello/", accept="text/html")
    mirror.simple("/root/dev/+simple/hello/")
    assert len(httpx_mock.get_requests()) == 1


def test_expired_page_is_revalidated_with_etag_and_304_keeps_it(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_cache_expiry=0)
    httpx_mock.add_response(url=PAGE, json=hello_page(), headers={"ETag": '"v1"'})
    first = mirror.simple("/root/pypi/+simple/hello/").body
    httpx_mock.add_response(url=PAGE, status_code=304, match_headers={"If-None-Match": '"v1"'})
    second = mirror.simple("/root/pypi/+simple/hello/")
    assert second.body == first
    assert "X-Pyshelf-Stale" not in second.headers


def test_expired_page_picks_up_new_files(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_cache_expiry=0)
    httpx_mock.add_response(url=PAGE, json=hello_page())
    mirror.simple("/root/pypi/+simple/hello/")
    newer = json_page("Hello", [file_entry("hello-1.0-py3-none-any.whl", WHEEL),
                                file_entry("hello-2.0-py3-none-any.whl", b"two")])
    httpx_mock.add_response(url=PAGE, json=newer)
    page = mirror.page_json("/root/pypi/+simple/hello/")
    assert [f["filename"] for f in page["files"]] == [
        "hello-1.0-py3-none-any.whl", "hello-2.0-py3-none-any.whl"]


@pytest.mark.parametrize("failure", [
    httpx.ReadTimeout("timed out"),
    httpx.ConnectError("connection refused"),
])
def test_upstream_failure_serves_the_cached_page_marked_stale(make_mirror, httpx_mock, failure):
    mirror = make_mirror(mirror_cache_expiry=0)
    httpx_mock.add_response(url=PAGE, json=hello_page())
    fresh = mirror.simple("/root/pypi/+simple/hello/")
    httpx_mock.add_exception(failure, url=PAGE)
    stale = mirror.simple("/root/pypi/+simple/hello/")
    assert stale.body == fresh.body
    assert "root/pypi served from cache" in stale.headers["X-Pyshelf-Stale"]
    assert "upstream.example" in stale.headers["X-Pyshelf-Stale"]
    assert stale.headers["Warning"].startswith("110")
    # Through inheritance too, and without asking the failing upstream again right away.
    assert "X-Pyshelf-Stale" in mirror.simple("/root/dev/+simple/hello/").headers


def test_upstream_500_serves_the_cached_page_marked_stale(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_cache_expiry=0)
    httpx_mock.add_response(url=PAGE, json=hello_page())
    mirror.simple("/root/pypi/+simple/hello/")
    httpx_mock.add_response(url=PAGE, status_code=503)
    stale = mirror.simple("/root/pypi/+simple/hello/")
    assert "503" in stale.headers["X-Pyshelf-Stale"]
    assert json.loads(stale.body)["files"]


def test_never_fetched_project_with_upstream_down_is_a_502_naming_upstream(mirror, httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=PAGE)
    response = mirror.simple("/root/dev/+simple/hello/", status=502)
    message = response.json["message"]
    assert "upstream.example" in message and "connection refused" in message


def test_never_fetched_project_with_upstream_500_is_a_502(mirror, httpx_mock):
    httpx_mock.add_response(url=PAGE, status_code=500)
    response = mirror.simple("/root/pypi/+simple/hello/", status=502)
    assert "500" in response.json["message"]


def test_credentials_in_mirror_url_never_show_in_messages(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_url="https://user:s3cret@upstream.example/simple/")
    httpx_mock.add_exception(httpx.ConnectError("refused"),
                             url="https://user:s3cret@upstream.example/simple/hello/")
    response = mirror.simple("/root/pypi/+simple/hello/", status=502)
    assert "s3cret" not in response.text
    assert "upstream.example" in response.text


def test_upstream_404_is_a_404_and_is_remembered(mirror, httpx_mock):
    httpx_mock.add_response(url=UPSTREAM + "nosuch/", status_code=404)
    for _ in range(5):
        mirror.simple("/root/dev/+simple/nosuch/", status=404)
    assert len(httpx_mock.get_requests()) == 1


def test_html_only_upstream(mirror, httpx_mock):
    digest = sha256(WHEEL)
    anchors = [
        f'<a href="../../files/hello-1.0-py3-none-any.whl#sha256={digest}" '
        'data-requires-python="&gt;=3.7" data-yanked="broken">hello-1.0-py3-none-any.whl</a>',
        f'<a href="https://elsewhere.example/hello-1.1.tar.gz#sha256={digest}" '
        f'data-core-metadata="sha256={digest}">hello-1.1.tar.gz</a>',
        '<a href="javascript:alert(1)">evil</a>',
    ]
    httpx_mock.add_response(url=PAGE, text=html_page(anchors),
                            headers={"Content-Type": "text/html"})
    page = mirror.page_json("/root/pypi/+simple/hello/")
    first, second = page["files"]
    assert first["requires-python"] == ">=3.7"
    assert first["yanked"] == "broken"
    assert second["filename"] == "hello-1.1.tar.gz"
    assert second["core-metadata"] == {"sha256": digest}
    html = mirror.simple("/root/pypi/+simple/hello/", accept="text/html").text
    assert 'data-requires-python="&gt;=3.7"' in html
    assert 'data-yanked="broken"' in html
    assert "javascript" not in html


def test_pep700_fields_and_yanked_pass_through(mirror, httpx_mock):
    httpx_mock.add_response(url=PAGE, json=hello_page(
        size=11, **{"upload-time": "2024-01-02T03:04:05.000006Z", "yanked": True,
                    "core-metadata": {"sha256": "ab" * 32}}))
    [entry] = mirror.page_json("/root/pypi/+simple/hello/")["files"]
    assert entry["size"] == 11
    assert entry["upload-time"] == "2024-01-02T03:04:05.000006Z"
    assert entry["yanked"] is True
    assert entry["core-metadata"] == {"sha256": "ab" * 32}


def test_links_without_hash_live_under_plus_e(mirror, httpx_mock):
    httpx_mock.add_response(url=PAGE, json=json_page("hello", [
        {"filename": "hello-1.0.tar.gz", "url": FILES + "hello-1.0.tar.gz", "hashes": {}}]))
    [entry] = mirror.page_json("/root/pypi/+simple/hello/")["files"]
    assert entry["url"].startswith("../../../../root/pypi/~e/")
    assert entry["url"].endswith("/hello-1.0.tar.gz")


def test_garbage_from_upstream_is_a_502_not_a_500(mirror, httpx_mock):
    httpx_mock.add_response(url=PAGE, text="{not json", headers={"Content-Type": JSON_CT})
    response = mirror.simple("/root/pypi/+simple/hello/", status=502)
    assert "invalid JSON" in response.json["message"]


JSON_CT = "application/vnd.pypi.simple.v1+json"


def test_offline_mode_serves_cached_pages_and_lists_only_stored_files(make_app, httpx_mock):
    from .conftest import MirrorShelf

    online = MirrorShelf(make_app())
    online.create_index("root/pypi", type="mirror", mirror_url=UPSTREAM,
                        mirror_no_project_list=True, mirror_cache_expiry=0)
    two = json_page("hello", [file_entry("hello-1.0-py3-none-any.whl", WHEEL),
                              file_entry("hello-2.0-py3-none-any.whl", b"two")])
    httpx_mock.add_response(url=PAGE, json=two)
    httpx_mock.add_response(url=FILES + "hello-1.0-py3-none-any.whl", content=WHEEL)
    files = online.page_json("/root/pypi/+simple/hello/")["files"]
    online.download("/root/pypi/+simple/hello/", files[0]["url"])
    offline = MirrorShelf(make_app(offline_mode=True))
    page = offline.page_json("/root/pypi/+simple/hello/")
    assert [f["filename"] for f in page["files"]] == ["hello-1.0-py3-none-any.whl"]
    offline.simple("/root/pypi/+simple/other/", status=404)
    assert offline.download("/root/pypi/+simple/hello/", files[0]["url"]).body == WHEEL
    offline.download("/root/pypi/+simple/hello/", files[1]["url"], status=404)


def test_refresh_forces_a_new_fetch(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_cache_expiry=3600)
    httpx_mock.add_response(url=PAGE, json=hello_page(), is_reusable=True)
    mirror.simple("/root/pypi/+simple/hello/")
    mirror.test.post("/root/dev/+simple/hello/refresh", status=302)
    mirror.simple("/root/pypi/+simple/hello/")
    assert len(httpx_mock.get_requests()) == 2


def test_confirming_a_cached_page_reads_no_stored_links(mirror, httpx_mock):
    # After any write the rendered page is confirmed by its stage tokens: the row's small
    # columns, not its links (a megabyte of JSON for a project of thousands of files).
    from sqlalchemy import event

    httpx_mock.add_response(url=UPSTREAM + "hello/", json=json_page("hello", []))
    mirror.page_json("/root/dev/+simple/hello/")
    mirror.create_index("root/other")  # a write: the server state changes
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if "mirror_projects" in statement and "links" in statement:
            seen.append(statement)

    event.listen(mirror.app.registry.pyshelf.engine, "before_cursor_execute", before)
    mirror.page_json("/root/dev/+simple/hello/")
    assert seen == []


def _serial(mirror):
    from pyshelf_server.db import read_state

    with mirror.app.registry.pyshelf.database.reading() as session:
        return read_state(session)[0]


def test_a_new_page_is_stored_with_its_links_and_raises_the_serial(mirror, httpx_mock):
    httpx_mock.add_response(url=UPSTREAM + "hello/", json=hello_page())
    before = _serial(mirror)
    assert mirror.page_json("/root/pypi/+simple/hello/")["files"]
    assert _serial(mirror) == before + 1
    from sqlalchemy import select

    from pyshelf_server.mirror.models import MirrorProject

    with mirror.app.registry.pyshelf.database.reading() as session:
        row = session.execute(select(MirrorProject)).scalar_one()
    assert (row.name, row.display_name) == ("hello", "Hello")
    assert [link["filename"] for link in row.links] == ["hello-1.0-py3-none-any.whl"]


def test_a_page_stored_meanwhile_by_another_process_is_updated(mirror, httpx_mock, monkeypatch):
    from sqlalchemy import select

    from pyshelf_server.mirror.models import MirrorProject
    from pyshelf_server.mirror.pages import MirrorPages

    httpx_mock.add_response(url=UPSTREAM + "hello/", json=hello_page(), is_reusable=True)
    mirror.page_json("/root/pypi/+simple/hello/")
    with mirror.app.registry.pyshelf.database.writing() as uow:
        row = uow.session.execute(select(MirrorProject)).scalar_one()
        row.checked, row.links = 0.0, []
    # This process did not see that row when it asked upstream: its insert collides.
    monkeypatch.setattr(MirrorPages, "cached", lambda self, session, name, **kw: None)
    assert mirror.page_json("/root/dev/+simple/hello/")["files"]
    with mirror.app.registry.pyshelf.database.reading() as session:
        row = session.execute(select(MirrorProject)).scalar_one()
    assert [link["filename"] for link in row.links] == ["hello-1.0-py3-none-any.whl"]


def test_a_busy_upstream_host_serves_cached_pages_stale_and_refuses_the_rest(
    make_mirror, httpx_mock
):
    from pyshelf_server.mirror.runtime import runtime

    mirror = make_mirror(mirror_cache_expiry=0, settings={"upstream_threads": 2})
    httpx_mock.add_response(url=PAGE, json=hello_page())
    fresh = mirror.simple("/root/pypi/+simple/hello/")
    places = runtime(mirror.app.registry.pyshelf).places
    # Two requests wait on the upstream host (a stalled one, say): its places are taken.
    waiting = [places.take(UPSTREAM), places.take(UPSTREAM)]
    stale = mirror.simple("/root/pypi/+simple/hello/")
    assert stale.body == fresh.body
    assert "busy" in stale.headers["X-Pyshelf-Stale"]
    refused = mirror.simple("/root/dev/+simple/other/", status=503)
    assert refused.headers["Retry-After"] == "2"
    assert "upstream.example:443 is busy" in refused.json["message"]
    assert len(httpx_mock.get_requests()) == 1
    # Another upstream host is not affected, and a place given back is free again.
    for give_back in waiting:
        give_back()
        give_back()
    httpx_mock.add_response(url=UPSTREAM + "other/", json=json_page("other", []))
    mirror.simple("/root/dev/+simple/other/")
    assert places.take(UPSTREAM) and places.take("https://elsewhere.example/simple/")
