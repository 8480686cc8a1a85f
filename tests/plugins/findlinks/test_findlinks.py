"""``/+findlinks`` against real server processes: the page's content and order, its use by
``pip --no-index --find-links``, and read permissions with lockdown loaded too."""

from __future__ import annotations

import re

import httpx
import pytest

from pyshelf_server.testing import LiveServer, basic_auth, make_sdist, make_wheel

from ...e2e.conftest import BIN, isolated_env, run
from ...e2e.static_upstream import StaticIndex

pytestmark = pytest.mark.e2e


def upload(server, fullname, tmp_path, name, version, make=make_wheel, auth=("root", None)):
    filename, content = make(name, version)
    (tmp_path / filename).write_bytes(content)
    response = server.upload(fullname, tmp_path / filename, name=name, version=version, auth=auth)
    assert response.status_code == 200, response.text
    return filename


def anchors(text):
    return re.findall(r'<a href="([^"]+)">([^<]+)</a>', text)


@pytest.fixture
def upstream(tmp_path):
    index = StaticIndex(tmp_path / "upstream", {"mirrored": [make_wheel("mirrored", "1.0")]})
    yield index
    index.stop()


def test_every_hosted_file_of_the_resolution_order_once_sorted(make_live_server, tmp_path,
                                                               upstream):  # fmt: skip
    server = make_live_server(plugins=["findlinks"])
    server.create_index("root/up", type="mirror", mirror_url=upstream.url)
    server.create_index("root/base", bases="root/up")
    server.create_index("root/dev", bases="root/base")
    upload(server, "root/base", tmp_path, "zeta_pkg", "1.0")
    upload(server, "root/base", tmp_path, "alpha", "1.0")
    upload(server, "root/dev", tmp_path, "alpha", "1.0")  # the same file name: listed once
    upload(server, "root/dev", tmp_path, "alpha", "2.0", make=make_sdist)
    # The mirror has a page fetched, but mirrors are never listed.
    assert httpx.get(server.url + "/root/dev/+simple/mirrored/").status_code == 200

    page = httpx.get(server.url + "/root/dev/+findlinks")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    found = anchors(page.text)
    assert [name for _url, name in found] == [
        "alpha-1.0-py3-none-any.whl", "alpha-2.0.tar.gz", "zeta_pkg-1.0-py3-none-any.whl"]
    urls = dict((name, url) for url, name in found)
    assert urls["alpha-1.0-py3-none-any.whl"].startswith(server.url + "/root/dev/+f/")
    assert urls["zeta_pkg-1.0-py3-none-any.whl"].startswith(server.url + "/root/base/+f/")
    for url in urls.values():
        assert re.search(r"#sha256=[0-9a-f]{64}$", url)
        assert httpx.get(url.split("#")[0]).status_code == 200
    assert [name for _u, name in anchors(httpx.get(server.url + "/root/base/+findlinks").text)
            ] == ["alpha-1.0-py3-none-any.whl", "zeta_pkg-1.0-py3-none-any.whl"]  # fmt: skip
    assert httpx.get(server.url + "/root/nosuch/+findlinks").status_code == 404


def test_pip_installs_with_find_links_and_no_index(make_live_server, tmp_path):
    server = make_live_server(plugins=["findlinks"])
    server.create_index("root/dev")
    upload(server, "root/dev", tmp_path, "found-pkg", "1.0")
    upload(server, "root/dev", tmp_path, "found-pkg", "1.1")
    target = tmp_path / "target"
    run([str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "--target",
         str(target), "--find-links", f"{server.url}/root/dev/+findlinks", "found-pkg"],
        env=isolated_env(tmp_path))  # fmt: skip
    assert "1.1" in (target / "found_pkg" / "__init__.py").read_text()


def test_read_permissions_hold_with_lockdown(make_live_server, tmp_path):
    server: LiveServer = make_live_server(plugins=["findlinks", "lockdown"])
    server.create_user("alice", "alice-pw")
    server.create_user("bob", "bob-pw")
    server.create_index("alice/private", auth=("alice", "alice-pw"), acl_read="alice")
    server.create_index("bob/dev", auth=("bob", "bob-pw"), bases="alice/private")
    upload(server, "alice/private", tmp_path, "secret_pkg", "1.0", auth=("alice", "alice-pw"))
    upload(server, "bob/dev", tmp_path, "open_pkg", "1.0", auth=("bob", "bob-pw"))

    page = httpx.get(server.url + "/bob/dev/+findlinks", headers=basic_auth("alice", "alice-pw"))
    assert page.status_code == 200
    assert [name for _url, name in anchors(page.text)] == [
        "open_pkg-1.0-py3-none-any.whl", "secret_pkg-1.0-py3-none-any.whl"]
    # bob may read bob/dev but not its base: the page would show the base's files.
    page = httpx.get(server.url + "/bob/dev/+findlinks", headers=basic_auth("bob", "bob-pw"))
    assert page.status_code == 403
    assert "secret_pkg" not in page.text
    assert "inherits from alice/private" in page.json()["message"]
    assert httpx.get(server.url + "/bob/dev/+findlinks").status_code == 401
    bob = basic_auth("bob", "bob-pw")
    refused = httpx.get(server.url + "/alice/private/+findlinks", headers=bob)
    assert refused.status_code == 403


def test_the_index_web_page_links_findlinks(make_live_server):
    server = make_live_server(plugins=["web", "findlinks"])
    server.create_index("root/dev")
    html = {"Accept": "text/html"}
    page = httpx.get(server.url + "/root/dev", headers=html)
    assert f'href="{server.url}/root/dev/+findlinks"' in page.text
    plain = make_live_server("plain", plugins=["web"])
    plain.create_index("root/dev")
    assert "+findlinks" not in httpx.get(plain.url + "/root/dev", headers=html).text
