"""The simple API: negotiation, redirects, installers, caching headers, file downloads."""

import hashlib

import pytest

from pyshelf_server.testing import make_sdist, make_wheel

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, "
    "text/html;q=0.01"
)


@pytest.fixture
def dev(shelf):
    shelf.create_index("root/dev")
    shelf.wheel = make_wheel("Hello_World", "1.0", requires_python=">=3.8")
    shelf.sdist = make_sdist("Hello_World", "1.0")
    shelf.upload("root/dev", *shelf.wheel, name="Hello_World", version="1.0")
    shelf.upload("root/dev", *shelf.sdist, name="Hello_World", version="1.0")
    return shelf


def test_html_page(dev):
    response = dev.test.get("/root/dev/+simple/hello-world/")
    assert response.content_type == "text/html"
    assert '<meta name="pypi:repository-version" content="1.3">' in response.text
    sha = hashlib.sha256(dev.wheel[1]).hexdigest()
    # "~f", not devpi's "+f": pip re-quotes link URLs, slowly when they hold a "+".
    assert (
        f'href="../../../../root/dev/~f/{sha[:3]}/{sha[3:16]}/{dev.wheel[0]}#sha256={sha}"'
        in response.text
    )
    assert 'data-requires-python="&gt;=3.8"' in response.text
    assert "Vary" in response.headers and "Accept" in response.headers["Vary"]


def test_files_answer_at_devpi_and_installer_paths(dev):
    sha = hashlib.sha256(dev.wheel[1]).hexdigest()
    for marker in ("+f", "%2Bf", "~f"):
        path = f"/root/dev/{marker}/{sha[:3]}/{sha[3:16]}/{dev.wheel[0]}"
        assert dev.test.get(path).body == dev.wheel[1]
        assert dev.test.get(path + ".metadata").text.startswith("Metadata-Version")
    dev.test.get(f"/root/dev/-f/{sha[:3]}/{sha[3:16]}/{dev.wheel[0]}", status=404)


def test_json_page_by_negotiation(dev):
    response = dev.test.get("/root/dev/+simple/hello-world/", headers={"Accept": PIP_ACCEPT})
    assert response.headers["Content-Type"] == JSON
    page = response.json
    assert page["meta"] == {"api-version": "1.3"}
    assert page["name"] == "hello-world"
    assert page["versions"] == ["1.0"]
    wheel = next(f for f in page["files"] if f["filename"] == dev.wheel[0])
    assert wheel["hashes"] == {"sha256": hashlib.sha256(dev.wheel[1]).hexdigest()}
    assert wheel["size"] == len(dev.wheel[1])
    assert wheel["requires-python"] == ">=3.8"
    assert wheel["upload-time"].endswith("Z")
    assert "core-metadata" in wheel
    sdist = next(f for f in page["files"] if f["filename"] == dev.sdist[0])
    assert "core-metadata" not in sdist


def test_html_is_chosen_when_preferred(dev):
    response = dev.test.get(
        "/root/dev/+simple/hello-world/",
        headers={"Accept": "text/html, application/vnd.pypi.simple.v1+json;q=0.5"},
    )
    assert response.content_type == "text/html"


def test_non_normalised_names_redirect(dev):
    response = dev.test.get("/root/dev/+simple/Hello_World/", status=302)
    assert response.location.endswith("/root/dev/+simple/hello-world/")
    response = dev.test.get(
        "/root/dev/Hello.World", headers={"Accept": "application/json"}, status=302
    )
    assert response.location.endswith("/root/dev/hello-world")


def test_trailing_slash_redirect_except_for_installers(dev):
    response = dev.test.get("/root/dev/+simple/hello-world", status=302)
    assert response.location.endswith("/root/dev/+simple/hello-world/")
    for agent in ("pip/24.0 CPython", "uv/0.4.0", "setuptools/70"):
        response = dev.test.get(
            "/root/dev/+simple/hello-world", headers={"User-Agent": agent}, status=200
        )
        assert dev.wheel[0] in response.text
        # Without the slash relative links would resolve wrongly: they are absolute here.
        assert 'href="http://localhost/root/dev/~f/' in response.text
    response = dev.test.get("/root/dev/+simple", status=302)
    assert response.headers["Vary"] == "User-Agent, X-Outside-Url"


def test_installers_get_simple_pages_on_index_and_project_urls(dev):
    agent = {"User-Agent": "pip/24.0"}
    assert "hello-world/" in dev.test.get("/root/dev", headers=agent).text
    assert dev.wheel[0] in dev.test.get("/root/dev/hello-world", headers=agent).text
    listing = dev.test.get("/root/dev", headers={"Accept": JSON}).json
    assert listing["projects"] == [{"name": "hello-world"}]


def test_project_list(dev):
    html = dev.test.get("/root/dev/+simple/").text
    assert '<a href="hello-world/">hello-world</a>' in html
    assert dev.test.get("/root/dev/+simple/", headers={"Accept": JSON}).json == {
        "meta": {"api-version": "1.3"},
        "projects": [{"name": "hello-world"}],
    }


def test_etag_gives_304_and_changes_with_content(dev):
    first = dev.test.get("/root/dev/+simple/hello-world/")
    etag = first.headers["ETag"]
    dev.test.get("/root/dev/+simple/hello-world/", headers={"If-None-Match": etag}, status=304)
    dev.upload("root/dev", *make_wheel("Hello_World", "2.0"), name="Hello_World", version="2.0")
    second = dev.test.get(
        "/root/dev/+simple/hello-world/", headers={"If-None-Match": etag}, status=200
    )
    assert second.headers["ETag"] != etag
    assert "2.0" in second.text


def test_pages_follow_changes_of_the_index_layout(dev):
    """A cached page must not outlive a change of bases that changes what it shows."""
    dev.create_index("root/child")
    dev.test.get("/root/child/+simple/hello-world/", status=404)
    dev.json("PATCH", "/root/child", ["bases=root/dev"], user="root")
    assert dev.wheel[0] in dev.test.get("/root/child/+simple/hello-world/").text
    dev.json("PATCH", "/root/child", ["bases="], user="root")
    dev.test.get("/root/child/+simple/hello-world/", status=404)


def test_file_download_and_headers(dev):
    sha = hashlib.sha256(dev.wheel[1]).hexdigest()
    url = f"/root/dev/+f/{sha[:3]}/{sha[3:16]}/{dev.wheel[0]}"
    response = dev.test.get(url)
    assert response.body == dev.wheel[1]
    assert response.headers["Cache-Control"] == "max-age=365000000, immutable, public"
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert int(response.headers["Content-Length"]) == len(dev.wheel[1])
    head = dev.test.head(url)
    assert int(head.headers["Content-Length"]) == len(dev.wheel[1])
    dev.test.get(url, headers={"If-None-Match": f'"{sha}"'}, status=304)
    meta = dev.test.get(url, headers={"Accept": "application/json"}).json
    assert meta["type"] == "releasefilemeta"
    assert meta["result"]["hashes"] == {"sha256": sha}
    # A wrong hash directory is not found.
    dev.test.get(f"/root/dev/+f/000/{sha[3:16]}/{dev.wheel[0]}", status=404)


def test_deleted_file_answers_410(dev):
    sha = hashlib.sha256(dev.sdist[1]).hexdigest()
    url = f"/root/dev/+f/{sha[:3]}/{sha[3:16]}/{dev.sdist[0]}"
    response = dev.json("DELETE", url, user="root")
    assert "deleted" in response.json["message"]
    dev.test.get(url, status=410)
    # The wheel is still there, so the version stays.
    assert (
        dev.json("GET", "/root/dev/hello-world/1.0")
        .json["result"]["+links"][0]["href"]
        .endswith(dev.wheel[0])
    )


def test_deleting_the_last_version_keeps_the_project_until_it_is_deleted(dev):
    dev.json("DELETE", "/root/dev/hello-world/1.0", user="root")
    # The name stays claimed by the stage (it keeps hiding mirrors behind it).
    assert dev.json("GET", "/root/dev/hello-world").json["result"] == {}
    assert dev.json("GET", "/root/dev").json["result"]["projects"] == ["hello-world"]
    files = dev.app.registry.pyshelf.files
    sha = hashlib.sha256(dev.wheel[1]).hexdigest()
    assert not files.exists(sha)
    dev.json("DELETE", "/root/dev/hello-world", user="root")
    dev.json("GET", "/root/dev/hello-world", status=404)
    assert dev.json("GET", "/root/dev").json["result"]["projects"] == []
