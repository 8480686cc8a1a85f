"""The mirror behind hosted stages: merged links, the whitelist gate, project lists, the JSON
API."""

from __future__ import annotations

import json

from pyshelf_server.testing import make_wheel

from .conftest import JSON_TYPE, UPSTREAM, file_entry, json_page

SIX = UPSTREAM + "six/"


def six_page():
    return json_page("six", [file_entry("six-1.16.0-py2.py3-none-any.whl", b"six wheel",
                                        **{"requires-python": ">=2.7"}),
                             file_entry("six-1.16.0.tar.gz", b"six sdist")])


def upload_six(mirror, version="99.0"):
    filename, content = make_wheel("six", version)
    mirror.upload("root/dev", filename, content, name="six", version=version)
    return filename


def filenames(page):
    return [f["filename"] for f in page["files"]]


def test_stage_page_shows_mirror_links(mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page())
    page = mirror.page_json("/root/dev/+simple/six/")
    assert filenames(page) == ["six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz"]
    assert page["files"][0]["url"].startswith("../../../../root/pypi/~f/")


def test_private_project_hides_the_mirror_until_whitelisted(mirror, httpx_mock):
    private = upload_six(mirror)
    # Not whitelisted: the mirror is not even asked.
    assert filenames(mirror.page_json("/root/dev/+simple/six/")) == [private]
    assert not httpx_mock.get_requests()
    mirror.json("PATCH", "/root/dev", ["mirror_whitelist=six"], user="root")
    httpx_mock.add_response(url=SIX, json=six_page())
    assert filenames(mirror.page_json("/root/dev/+simple/six/")) == [
        private, "six-1.16.0-py2.py3-none-any.whl", "six-1.16.0.tar.gz"]


def test_star_whitelist(make_mirror, httpx_mock):
    mirror = make_mirror(dev={"mirror_whitelist": "*"})
    private = upload_six(mirror)
    httpx_mock.add_response(url=SIX, json=six_page())
    assert filenames(mirror.page_json("/root/dev/+simple/six/"))[0] == private
    assert len(filenames(mirror.page_json("/root/dev/+simple/six/"))) == 3


def test_same_filename_in_stage_wins_over_mirror(make_mirror, httpx_mock):
    mirror = make_mirror(dev={"mirror_whitelist": "six"})
    filename, content = make_wheel("six", "1.16.0")
    httpx_mock.add_response(url=SIX, json=json_page("six", [
        file_entry(filename, b"mirror copy"), file_entry("six-1.16.0.tar.gz", b"sdist")]))
    mirror.upload("root/dev", filename, content, name="six", version="1.16.0")
    files = mirror.page_json("/root/dev/+simple/six/")["files"]
    assert [f["url"].split("/")[5] for f in files] == ["dev", "pypi"]


def test_json_api_of_mirrored_project(mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page())
    response = mirror.json("GET", "/root/pypi/six")
    assert response.json["type"] == "projectconfig"
    version = response.json["result"]["1.16.0"]
    assert version["name"] == "six"
    assert version["requires_python"] == ">=2.7"
    hrefs = [link["href"] for link in version["+links"]]
    assert all(h.startswith("http://localhost/root/pypi/+f/") for h in hrefs)
    assert {link["rel"] for link in version["+links"]} == {"releasefile"}
    single = mirror.json("GET", "/root/pypi/six/1.16.0")
    assert single.json["type"] == "versiondata"
    mirror.json("GET", "/root/pypi/six/9.9", status=404)


def test_json_api_merges_private_and_mirrored_versions(make_mirror, httpx_mock):
    mirror = make_mirror(dev={"mirror_whitelist": "six"})
    upload_six(mirror)
    httpx_mock.add_response(url=SIX, json=six_page())
    result = mirror.json("GET", "/root/dev/six").json["result"]
    assert set(result) == {"99.0", "1.16.0"}


LIST = {"meta": {"api-version": "1.0"},
        "projects": [{"name": "Six", "_last-serial": 3}, {"name": "zope.interface"},
                     {"name": "attrs"}, {"name": "six"}]}


def test_mirror_project_list_is_fetched_once_and_listed(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False, mirror_cache_expiry=3600)
    httpx_mock.add_response(url=UPSTREAM, json=LIST,
                            headers={"Content-Type": "application/vnd.pypi.simple.v1+json"})
    page = mirror.page_json("/root/pypi/+simple/")
    assert [p["name"] for p in page["projects"]] == ["attrs", "six", "zope-interface"]
    html = mirror.simple("/root/pypi/+simple/", accept="text/html").text
    assert '<a href="zope-interface/">zope-interface</a>' in html
    assert len(httpx_mock.get_requests()) == 1


def test_stage_list_has_own_projects_then_the_mirror_list_deduplicated(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False, mirror_cache_expiry=3600)
    httpx_mock.add_response(url=UPSTREAM, json=LIST)
    upload_six(mirror)
    filename, content = make_wheel("mine", "1.0")
    mirror.upload("root/dev", filename, content, name="mine", version="1.0")
    names = [p["name"] for p in mirror.page_json("/root/dev/+simple/")["projects"]]
    assert names == ["mine", "six", "attrs", "zope-interface"]


def test_names_not_in_the_list_are_404_without_asking_upstream(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False, mirror_cache_expiry=3600)
    httpx_mock.add_response(url=UPSTREAM, json=LIST)
    mirror.page_json("/root/pypi/+simple/")
    mirror.simple("/root/dev/+simple/nosuch/", status=404)
    httpx_mock.add_response(url=SIX, json=six_page())
    assert filenames(mirror.page_json("/root/dev/+simple/six/"))
    assert len(httpx_mock.get_requests()) == 2


def test_html_project_list(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM, headers={"Content-Type": "text/html"},
                            text='<html><body><a href="Foo_Bar/">Foo_Bar</a>\n'
                                 '<a href="baz/">baz</a></body></html>')
    assert [p["name"] for p in mirror.page_json("/root/pypi/+simple/")["projects"]] == [
        "baz", "foo-bar"]


def test_no_project_list_shows_only_stage_projects(mirror, httpx_mock):
    upload_six(mirror)
    assert [p["name"] for p in mirror.page_json("/root/dev/+simple/")["projects"]] == ["six"]
    assert mirror.page_json("/root/pypi/+simple/")["projects"] == []


def test_project_list_refresh_failure_lists_what_is_there(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM, status_code=500)
    upload_six(mirror)
    body = mirror.simple("/root/dev/+simple/", accept=JSON_TYPE).body
    assert [p["name"] for p in json.loads(body)["projects"]] == ["six"]


def test_index_config_lists_the_mirror_projects(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM, json=LIST)
    config = mirror.json("GET", "/root/pypi").json["result"]
    assert config["type"] == "mirror"
    assert config["projects"] == ["attrs", "six", "zope-interface"]


def test_index_json_streams_the_mirror_names(make_mirror, httpx_mock):
    mirror = make_mirror(mirror_no_project_list=False)
    httpx_mock.add_response(url=UPSTREAM, headers={"Content-Type": "text/html"},
                            text='<html><body><a href="Foo_Bar/">Foo_Bar</a>\n'
                                 '<a href="baz/">baz</a></body></html>')
    mirror.page_json("/root/pypi/+simple/")  # fetches and stores the list
    answer = mirror.json("GET", "/root/pypi")
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json["type"] == "indexconfig"
    assert answer.json["result"]["type"] == "mirror"
    assert answer.json["result"]["projects"] == ["baz", "foo-bar"]
    assert "projects" not in mirror.json("GET", "/root/pypi?no_projects=").json["result"]
