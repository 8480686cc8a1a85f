"""The web's view of mirrors: the mirror page shows settings, not names; fetched projects are
searchable; names are found by prefix on the stored list; the status page shows health."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.mirror.conftest import UPSTREAM, file_entry, json_page

LIST_TYPE = {"Content-Type": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def mirrored(web):
    web.create_index("root/pypi", type="mirror", mirror_url=UPSTREAM,
                     mirror_cache_expiry="600", title="Upstream mirror",
                     mirror_no_project_list=True)
    web.create_index("root/dev", bases="root/pypi")
    return web


def test_mirror_index_page_shows_settings_not_names(mirrored):
    page = mirrored.page("/root/pypi")
    assert UPSTREAM in page.text
    assert "600 seconds" in page.text
    assert "Upstream mirror" in page.text
    stage = mirrored.page("/root/dev")
    assert "also looked up in the mirror" in stage.text


def test_fetched_mirror_project_is_searchable(mirrored, httpx_mock):
    httpx_mock.add_response(url=UPSTREAM + "hello-world/", headers=LIST_TYPE, json=json_page(
        "Hello_World", [file_entry("hello_world-1.0-py3-none-any.whl", b"x", size=1234,
                                   **{"upload-time": "2024-01-02T03:04:05Z"})]))
    mirrored.test.get("/root/pypi/+simple/hello-world/",
                      headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    mirrored.indexed()
    page = mirrored.page("/+search?query=hello_world")
    assert "Hello_World" in page.text
    assert 'href="http://localhost/root/pypi"' in page.text
    # The project page of a mirrored project lists its versions from the cached page.
    project = mirrored.page("/root/pypi/hello-world")
    assert "1.0" in project.text
    # Mirrored files have no row of their own: size and upload time come from upstream's page.
    version = mirrored.page("/root/pypi/hello-world/1.0").text
    assert "hello_world-1.0-py3-none-any.whl" in version
    assert "1.2 KB" in version and "2024-01-02 03:04 UTC" in version


def test_mirror_names_found_by_prefix_on_the_stored_list(make_app, httpx_mock):
    from pyshelf_web import main

    from .conftest import WebShelf

    web = WebShelf(make_app(plugins=[main]))
    web.create_index("root/pypi", type="mirror", mirror_url=UPSTREAM)
    names = ["requests", "requests-oauthlib", "requests-toolbelt", "rich", "six"]
    httpx_mock.add_response(url=UPSTREAM, headers=LIST_TYPE, json={
        "meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
    # Fetch the list the way an installer listing does; the search then only reads it.
    web.test.get("/root/pypi/+simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    page = web.page("/+search?query=requests")
    found = re.findall(r'href="http://localhost/root/pypi/([^"]+)">\1</a>', page.text)
    assert found == ["requests", "requests-oauthlib", "requests-toolbelt"]
    assert web.web.search.documents_of("root/pypi") == 0  # the list is never put in Whoosh
    web.web.indexer.stop()


def test_status_page_shows_mirror_health(mirrored):
    page = mirrored.page("/+status")
    assert "root/pypi" in page.text
    assert "cached project pages" in page.text


def test_downloads_through_a_mirror_are_counted_like_hosted_ones(mirrored, httpx_mock):
    from pyshelf_server.mirror.runtime import runtime
    from tests.mirror.conftest import FILES

    content = b"a wheel's bytes"
    filename = "hello_world-1.0-py3-none-any.whl"
    httpx_mock.add_response(url=UPSTREAM + "hello-world/", headers=LIST_TYPE, json=json_page(
        "Hello_World", [file_entry(filename, content)]))
    httpx_mock.add_response(url=FILES + filename, content=content)
    page = mirrored.test.get("/root/dev/+simple/hello-world/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json
    simple = "http://localhost/root/dev/+simple/hello-world/"
    path = urlsplit(urljoin(simple, page["files"][0]["url"])).path
    # The first download fetches the file (its row comes once it is stored), the others
    # come from the store; all three count, as they would for an uploaded file.
    for _ in range(3):
        assert mirrored.test.get(path).body == content
        assert runtime(mirrored.app.registry.pyshelf).downloads.settle(30)
    mirrored.flush_downloads()
    project = mirrored.page("/root/pypi/hello-world").text
    assert re.search(r"<dt>Downloads</dt><dd>3</dd>", project), project
    version = mirrored.page("/root/pypi/hello-world/1.0").text
    assert "3 downloads of this version\u2019s files." in version


def test_a_stage_yanks_a_mirrored_release_for_itself_not_on_the_mirror(mirrored, httpx_mock):
    httpx_mock.add_response(url=UPSTREAM + "hello-world/", headers=LIST_TYPE, json=json_page(
        "Hello_World", [file_entry("hello_world-1.0-py3-none-any.whl", b"x")]),
        is_reusable=True)  # fmt: skip
    simple = {"Accept": "application/vnd.pypi.simple.v1+json"}
    root = mirrored.auth("root")
    # Nobody may upload to a mirror, root included: its releases are yanked on a stage.
    assert "yank-form" not in mirrored.page("/root/pypi/hello-world/1.0", headers=root).text
    assert "yank-form" in mirrored.page("/root/dev/hello-world/1.0", headers=root).text
    answer = mirrored.test.post(
        "http://localhost/root/dev/hello-world/1.0/+yank", {"action": "yank", "reason": "cve"},
        headers={**root, "Origin": "http://localhost"}, status=303,
    )
    assert answer.location.endswith("/root/dev/hello-world/1.0?yanked=1.0")
    stage = mirrored.test.get("/root/dev/+simple/hello-world/", headers=simple).json
    assert [f["yanked"] for f in stage["files"]] == ["cve"]
    mirror = mirrored.test.get("/root/pypi/+simple/hello-world/", headers=simple).json
    assert [f.get("yanked", False) for f in mirror["files"]] == [False]
