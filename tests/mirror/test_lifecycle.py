"""Yank (PEP 592) through inheritance and the minimum release age, in process, with the clock
injected (no waiting)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from pyshelf_server.testing import make_wheel

from .conftest import JSON_TYPE, UPSTREAM, file_entry, json_page

SIX = UPSTREAM + "six/"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def stamp(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def six_page(old_age=timedelta(days=30), new_age=timedelta(hours=2)):
    return json_page("six", [
        file_entry("six-1.15.0-py3-none-any.whl", b"old wheel",
                   **{"upload-time": stamp(NOW - old_age)}),
        file_entry("six-1.16.0-py3-none-any.whl", b"new wheel",
                   **{"upload-time": stamp(NOW - new_age)}),
    ])  # fmt: skip


def filenames(page):
    return [f["filename"] for f in page["files"]]


def set_clock(shelf, when):
    shelf.app.registry.pyshelf.clock = when.timestamp


def yank(shelf, path, status=200, **body):
    return shelf.json("PATCH", path, {"yanked": True, **body}, user="root", status=status)


# -- yank ---------------------------------------------------------------------------------------


def test_hosted_yank_marks_every_inheriting_page_and_unyank_clears_it(mirror):
    mirror.create_index("root/child", bases="root/dev")
    filename, content = make_wheel("hosted", "1.0")
    mirror.upload("root/dev", filename, content, name="hosted", version="1.0")
    assert "yanked" not in mirror.page_json("/root/child/+simple/hosted/")["files"][0]

    answer = yank(mirror, "/root/dev/hosted/1.0", reason="broken build").json["result"]
    assert answer["kind"] == "hosted" and answer["files"] == [filename]
    for index in ("root/dev", "root/child"):
        entry = mirror.page_json(f"/{index}/+simple/hosted/")["files"][0]
        assert entry["yanked"] == "broken build"
        html = mirror.simple(f"/{index}/+simple/hosted/", accept="text/html").text
        assert 'data-yanked="broken build"' in html
    links = mirror.json("GET", "/root/child/hosted/1.0").json["result"]["+links"]
    assert links[0]["yanked"] == "broken build"
    # Still installable by a pin: the file answers.
    url = mirror.page_json("/root/child/+simple/hosted/")["files"][0]["url"]
    mirror.test.get("/" + url.replace("../", ""), status=200)

    mirror.json("PATCH", "/root/dev/hosted/1.0", {"yanked": False}, user="root")
    assert "yanked" not in mirror.page_json("/root/child/+simple/hosted/")["files"][0]


def test_stage_yanks_a_mirrored_release_for_its_users_only(mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page(), is_reusable=True)
    mirror.create_index("root/child", bases="root/dev")
    answer = yank(mirror, "/root/dev/six/1.16.0", reason="CVE-0000").json["result"]
    assert answer["kind"] == "inherited"
    for index in ("root/dev", "root/child"):
        files = mirror.page_json(f"/{index}/+simple/six/")["files"]
        assert [f.get("yanked", False) for f in files] == [False, "CVE-0000"]
    # The mirror itself is untouched.
    assert all("yanked" not in f for f in mirror.page_json("/root/pypi/+simple/six/")["files"])
    data = mirror.json("GET", "/root/dev/six/1.16.0").json["result"]
    assert data["+links"][0]["yanked"] == "CVE-0000"

    mirror.json("PATCH", "/root/dev/six/1.16.0", {"yanked": False}, user="root")
    assert all("yanked" not in f for f in mirror.page_json("/root/dev/+simple/six/")["files"])


def test_single_file_yank_and_bad_input(mirror):
    wheel, content = make_wheel("two", "1.0")
    mirror.upload("root/dev", wheel, content, name="two", version="1.0")
    mirror.upload("root/dev", "two-1.0.tar.gz", b"not really", name="two", version="1.0",
                  status=None)  # fmt: skip
    yank(mirror, "/root/dev/two/1.0", filename=wheel)
    files = {f["filename"]: f for f in mirror.page_json("/root/dev/+simple/two/")["files"]}
    assert files[wheel]["yanked"] is True
    assert all("yanked" not in f for name, f in files.items() if name != wheel)
    missing = yank(mirror, "/root/dev/two/1.0", status=404, filename="nope.whl")
    assert "no file 'nope.whl'" in missing.text
    assert yank(mirror, "/root/dev/two/9.9", status=404).status_code == 404
    bad = mirror.json("PATCH", "/root/dev/two/1.0", {"yanked": "yes"}, user="root", status=400)
    assert "yanked" in bad.json["message"]
    anonymous = mirror.json("PATCH", "/root/dev/two/1.0", {"yanked": True}, status=401)
    assert anonymous.status_code == 401


# -- minimum release age ---------------------------------------------------------------------


def test_min_release_age_hides_new_files_until_they_come_of_age(make_mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page(), is_reusable=True)
    mirror = make_mirror(min_release_age="1d")
    set_clock(mirror, NOW)
    for index in ("root/pypi", "root/dev"):
        page = mirror.page_json(f"/{index}/+simple/six/")
        assert filenames(page) == ["six-1.15.0-py3-none-any.whl"]
        assert page["versions"] == ["1.15.0"]
    assert list(mirror.json("GET", "/root/dev/six").json["result"]) == ["1.15.0"]
    # A day later the new file is of age: the cached page is rebuilt without any write.
    set_clock(mirror, NOW + timedelta(hours=23))
    assert len(mirror.page_json("/root/dev/+simple/six/")["files"]) == 2


def test_direct_file_url_of_a_too_new_file_is_refused(make_mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page(), is_reusable=True)
    mirror = make_mirror()
    set_clock(mirror, NOW)
    url = mirror.page_json("/root/pypi/+simple/six/")["files"][1]["url"]
    mirror.json("PATCH", "/root/pypi", ["min_release_age=7d"], user="root")
    answer = mirror.test.get("/" + url.replace("../", ""), status=404)
    assert "held back by the min_release_age 7d of root/pypi" in answer.text


def test_exemption_admits_a_project_until_it_expires(make_mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page(), is_reusable=True)
    mirror = make_mirror(min_release_age="7d", min_release_age_exempt="six until 2026-06-03")
    set_clock(mirror, NOW)
    assert len(mirror.page_json("/root/dev/+simple/six/")["files"]) == 2
    set_clock(mirror, datetime(2026, 6, 3, tzinfo=UTC))
    assert len(mirror.page_json("/root/dev/+simple/six/")["files"]) == 1


def test_strictest_rule_of_the_resolution_order_applies(make_mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page(new_age=timedelta(days=3)), is_reusable=True)
    # The mirror exempts six; the stage adds its own rule without exemption: the stage's
    # users do not see the 3 days old file, the mirror's do.
    mirror = make_mirror(min_release_age="7d", min_release_age_exempt="six",
                         dev={"min_release_age": "2d"})  # fmt: skip
    set_clock(mirror, NOW)
    assert len(mirror.page_json("/root/pypi/+simple/six/")["files"]) == 2
    assert len(mirror.page_json("/root/dev/+simple/six/")["files"]) == 2
    mirror.json("PATCH", "/root/dev", ["min_release_age=4d"], user="root")
    assert len(mirror.page_json("/root/dev/+simple/six/")["files"]) == 1


def test_exclude_newer_and_unknown_upload_times(make_mirror, httpx_mock):
    page = six_page()
    page["files"].append(file_entry("six-1.17.0-py3-none-any.whl", b"no time"))
    httpx_mock.add_response(url=SIX, json=page, is_reusable=True)
    mirror = make_mirror(exclude_newer="2026-05-15")
    set_clock(mirror, NOW)
    # Fail closed: the file without an upload time is held back too.
    assert filenames(mirror.page_json("/root/dev/+simple/six/")) == ["six-1.15.0-py3-none-any.whl"]
    mirror.json("PATCH", "/root/pypi", ["min_release_age_unknown=show"], user="root")
    assert filenames(mirror.page_json("/root/dev/+simple/six/")) == [
        "six-1.15.0-py3-none-any.whl", "six-1.17.0-py3-none-any.whl"]


def test_hosted_uploads_are_held_back_too(shelf_with_age):
    shelf = shelf_with_age
    filename, content = make_wheel("fresh", "1.0")
    shelf.upload("root/dev", filename, content, name="fresh", version="1.0")
    page = json.loads(shelf.test.get("/root/dev/+simple/fresh/",
                                     headers={"Accept": JSON_TYPE}).body)  # fmt: skip
    assert page["files"] == []
    digest = hashlib.sha256(content).hexdigest()
    url = f"/root/dev/+f/{digest[:3]}/{digest[3:16]}/{filename}"
    assert "held back by the min_release_age 1h of root/dev" in shelf.test.get(url, status=404).text
    assert "held back" in shelf.test.get(url + ".metadata", status=404).text
    shelf.json("PATCH", "/root/dev", ["min_release_age_exempt=fresh"], user="root")
    shelf.test.get(url, status=200)


@pytest.fixture
def shelf_with_age(make_app):
    from pyshelf_server.testing import Shelf

    shelf = Shelf(make_app())
    shelf.create_index("root/dev", min_release_age="1h")
    return shelf


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"min_release_age": "seven days"}, "duration"),
        ({"min_release_age_exempt": "six until tomorrow"}, "until YYYY-MM-DD"),
        ({"exclude_newer": "last week"}, "date"),
        ({"min_release_age_unknown": "maybe"}, "'hide' or 'show'"),
    ],
)
def test_bad_age_options_are_refused_with_a_message(shelf_with_age, options, fragment):
    answer = shelf_with_age.json("PUT", "/root/other", options, user="root", status=400)
    assert fragment in answer.json["message"]


# -- provenance passed through -----------------------------------------------------------------


def test_mirror_passes_upstream_provenance_through(mirror, httpx_mock):
    provenance = "https://upstream.example/integrity/six/1.15.0/six-1.15.0-py3-none-any.whl/provenance"
    page = six_page()
    page["files"][0]["provenance"] = provenance
    page["files"][1]["provenance"] = None
    httpx_mock.add_response(url=SIX, json=page, is_reusable=True)
    files = mirror.page_json("/root/dev/+simple/six/")["files"]
    assert files[0]["provenance"] == provenance
    assert "provenance" not in files[1]
    html = mirror.simple("/root/dev/+simple/six/", accept="text/html").text
    assert f'data-provenance="{provenance}"' in html


def test_mirror_resolves_a_relative_provenance_of_an_html_page(mirror, httpx_mock):
    from .conftest import html_page, sha256

    digest = sha256(b"x")
    httpx_mock.add_response(url=SIX, text=html_page([
        f'<a href="../../files/six-1.0.tar.gz#sha256={digest}" '
        'data-provenance="../../integrity/six-1.0.tar.gz/provenance">six-1.0.tar.gz</a>']),
        headers={"Content-Type": "text/html"})  # fmt: skip
    [entry] = mirror.page_json("/root/pypi/+simple/six/")["files"]
    assert entry["provenance"] == "https://upstream.example/integrity/six-1.0.tar.gz/provenance"


def test_status_shows_what_each_index_holds_back(make_mirror, httpx_mock):
    httpx_mock.add_response(url=SIX, json=six_page(), is_reusable=True)
    mirror = make_mirror(min_release_age="1d")
    set_clock(mirror, NOW)
    mirror.page_json("/root/pypi/+simple/six/")
    filename, content = make_wheel("fresh", "1.0")
    mirror.upload("root/dev", filename, content, name="fresh", version="1.0")
    held = mirror.json("GET", "/+status").json["result"]["held-back"]
    assert set(held) == {"root/pypi", "root/dev"}
    assert held["root/pypi"]["rules"] == ["min_release_age 1d of root/pypi"]
    assert [f["filename"] for f in held["root/pypi"]["files"]] == ["six-1.16.0-py3-none-any.whl"]
    dev = held["root/dev"]
    # The upload happened at the real time, long after the injected "now": it is held back.
    assert [(f["stage"], f["filename"]) for f in dev["files"]] == [
        ("root/dev", filename), ("root/pypi", "six-1.16.0-py3-none-any.whl")]
    assert dev["files"][1]["visible_from"] == stamp(NOW + timedelta(hours=22)).replace(
        ".000000Z", "+00:00")
