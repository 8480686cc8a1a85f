"""The constrained index type against a real server process that loads only this plugin:
option checks, the filters over a hosted base (names with ``-``, ``_`` and ``.`` included),
read-only answers, and constraints that change between two requests."""

from __future__ import annotations

import re

import httpx
import pytest

from pyshelf_server.testing import LiveServer, make_sdist, make_wheel

JSON_SIMPLE = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML_SIMPLE = {"Accept": "text/html"}
RELEASES = [
    ("six", "1.15.0"), ("six", "1.16.0"),
    ("ceo_cona", "1.0"), ("ceo_cona", "2.0"),
    ("zope.interface", "5.0"), ("zope.interface", "6.0"),
    ("requests", "2.31.0"),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("constrained") / "server", plugins=["constrained"])
    live.start()
    live.create_index("root/dev")
    dist = tmp_path_factory.mktemp("dist")
    for name, version in RELEASES:
        for make in (make_wheel, make_sdist):
            filename, content = make(name, version)
            (dist / filename).write_bytes(content)
            response = live.upload("root/dev", dist / filename, name=name, version=version)
            assert response.status_code == 200, response.text
    yield live
    live.stop()


def constrained(server, name, constraints, **options):
    server.create_index(name, type="constrained", bases="root/dev", constraints=constraints,
                        **options)  # fmt: skip
    return name


def filenames(server, path):
    page = server.request("GET", path, auth=None, headers=JSON_SIMPLE, follow_redirects=True)
    assert page.status_code == 200, page.text
    return sorted(f["filename"] for f in page.json()["files"])


def html_filenames(server, path):
    page = server.request("GET", path, auth=None, headers=HTML_SIMPLE, follow_redirects=True)
    assert page.status_code == 200, page.text
    return sorted(re.findall(r">([^<>]+\.(?:whl|tar\.gz))</a>", page.text))


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        ("six<1.16\nSix>1", "more than one constraint for 'six'"),
        ("ceo_cona<2\nceo-cona.>1", "ceo-cona.>1"),
        ("ceo_cona<2\nCeo.Cona>1", "more than one constraint for 'ceo-cona'"),
        ("six<<1.16", "Error while parsing constrains: 'six<<1.16'"),
        ("requests[", "Error while parsing constrains: 'requests['"),
    ],
)
def test_bad_constraint_lines_are_refused_naming_the_line_or_project(server, constraints, message):
    response = server.request(
        "PUT", "/root/bad", json={"type": "constrained", "bases": "root/dev",
                                  "constraints": constraints})  # fmt: skip
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_adding_a_second_line_for_a_project_is_refused_too(server):
    constrained(server, "root/added", "six<1.16")
    refused = server.request("PATCH", "/root/added", json=["constraints+=Six>1"])
    assert refused.status_code == 400
    assert "more than one constraint for 'six'" in refused.json()["message"]
    added = server.request("PATCH", "/root/added", json=["constraints+=*"])
    assert added.json()["result"]["constraints"] == ["six<1.16", "*"]


def test_lines_are_kept_as_written_without_comments_and_blank_lines(server):
    config = server.create_index(
        "root/kept", type="constrained", bases="root/dev",
        constraints="# pinned for CI\nSix < 1.16\n\n  ceo_cona  \n*\n",
    )  # fmt: skip
    assert config["constraints"] == ["Six < 1.16", "ceo_cona", "*"]
    assert config["type"] == "constrained"


def test_versions_and_files_are_filtered_by_the_specifier(server):
    index = constrained(server, "root/c1", "six<1.16\nceo-cona<2\nzope_interface>=6")
    assert filenames(server, f"/{index}/+simple/six/") == [
        "six-1.15.0-py3-none-any.whl", "six-1.15.0.tar.gz"]
    assert html_filenames(server, f"/{index}/+simple/six/") == filenames(
        server, f"/{index}/+simple/six/")
    # Names with "_" and "." are matched normalised: only the allowed versions pass.
    assert filenames(server, f"/{index}/+simple/ceo-cona/") == [
        "ceo_cona-1.0-py3-none-any.whl", "ceo_cona-1.0.tar.gz"]
    assert html_filenames(server, f"/{index}/+simple/ceo_cona/") == [
        "ceo_cona-1.0-py3-none-any.whl", "ceo_cona-1.0.tar.gz"]
    assert [f for f in filenames(server, f"/{index}/+simple/zope-interface/")] == [
        "zope_interface-6.0-py3-none-any.whl", "zope_interface-6.0.tar.gz"]
    # A project not named passes unchanged.
    assert len(filenames(server, f"/{index}/+simple/requests/")) == 2
    api = server.request("GET", f"/{index}/six", auth=None).json()["result"]
    assert sorted(api) == ["1.15.0"]
    api = server.request("GET", f"/{index}/ceo-cona", auth=None).json()["result"]
    assert sorted(api) == ["1.0"]
    hidden = server.request("GET", f"/{index}/six/1.16.0", auth=None)
    assert hidden.status_code == 404


def test_star_hides_every_project_not_named(server):
    index = constrained(server, "root/c2", "six<1.16\nceo.cona\n*")
    listing = server.request("GET", f"/{index}/+simple/", auth=None, headers=JSON_SIMPLE).json()
    assert sorted(p["name"] for p in listing["projects"]) == ["ceo-cona", "six"]
    html = server.request("GET", f"/{index}/+simple/", auth=None, headers=HTML_SIMPLE).text
    assert "requests" not in html and "zope" not in html
    for path in ("/+simple/requests/", "/requests", "/zope-interface/6.0"):
        assert server.request("GET", index and f"/{index}{path}", auth=None).status_code == 404
    # Named without a specifier: every version passes.
    assert len(filenames(server, f"/{index}/+simple/ceo-cona/")) == 4


def test_a_filtered_out_file_is_not_downloadable_through_the_index(server):
    index = constrained(server, "root/c3", "six<1.16")
    base_page = server.request("GET", "/root/dev/+simple/six/", auth=None, headers=JSON_SIMPLE)
    hidden = [f["url"] for f in base_page.json()["files"] if "1.16.0" in f["filename"]]
    assert hidden
    for url in hidden:
        through = httpx.URL(server.url + "/root/dev/+simple/six/").join(url)
        path = through.path.replace("/root/dev/", f"/{index}/", 1)
        assert httpx.get(server.url + path).status_code == 404, path


def test_the_index_is_read_only(server, tmp_path):
    index = constrained(server, "root/c4", "six<1.16")
    filename, content = make_wheel("newpkg", "1.0")
    (tmp_path / filename).write_bytes(content)
    upload = server.upload(index, tmp_path / filename, name="newpkg", version="1.0")
    assert upload.status_code == 405
    assert "index is marked read only" in upload.text
    docs = server.request("POST", f"/{index}/", data={":action": "doc_upload", "name": "six",
                          "version": "1.15.0"}, files={"content": ("d.zip", b"PK")},
                          headers={"Accept": "*/*"})  # fmt: skip
    assert docs.status_code == 405
    register = server.request("POST", f"/{index}/", data={":action": "submit", "name": "x",
                              "version": "1"}, headers={"Accept": "*/*"})  # fmt: skip
    assert register.status_code == 405
    push = server.request("POST", "/root/dev", json={"name": "six", "version": "1.15.0",
                          "targetindex": index})  # fmt: skip
    assert push.status_code == 405
    assert "index is marked read only" in push.text


def test_a_constraints_change_shows_on_the_very_next_request(server):
    index = constrained(server, "root/c5", "six<1.16")
    assert len(filenames(server, f"/{index}/+simple/six/")) == 2
    changed = server.request("PATCH", f"/{index}", json=["constraints=six>=1.16"])
    assert changed.status_code == 200, changed.text
    assert filenames(server, f"/{index}/+simple/six/") == [
        "six-1.16.0-py3-none-any.whl", "six-1.16.0.tar.gz"]
    changed = server.request("PATCH", f"/{index}", json=["constraints=six>=1.16\n*"])
    listing = server.request("GET", f"/{index}/+simple/", auth=None, headers=JSON_SIMPLE).json()
    assert [p["name"] for p in listing["projects"]] == ["six"]
