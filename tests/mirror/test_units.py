"""Pure pieces of the mirror: the compact project list, page parsing, file versions, single
flight."""

from __future__ import annotations

import threading
import time

import pytest

from pyshelf_server.mirror import projectlist
from pyshelf_server.mirror.links import guess_version, local_path, verifying_hash
from pyshelf_server.mirror.listparse import parse_project_list
from pyshelf_server.mirror.projectlist import NameList, encode_names
from pyshelf_server.mirror.runtime import SingleFlight
from pyshelf_server.mirror.upstream import parse_page, safe_url

NAMES = [*sorted(f"project-{n:05d}" for n in range(3000)), "zope-interface"]


@pytest.fixture
def names():
    return NameList(encode_names(NAMES))


def test_name_list_membership(names):
    assert len(names) == len(NAMES)
    for name in (NAMES[0], NAMES[1], NAMES[1500], NAMES[-2], NAMES[-1]):
        assert name in names
    for name in ("", "a", "project-0", "project-99999", "zzz", "project-00001\n", 3):
        assert name not in names
    assert "x" not in NameList(b"")
    assert "only" in NameList(b"only")


def test_name_list_iterates_in_order_across_slices(names, monkeypatch):
    monkeypatch.setattr(projectlist, "SLICE", 37)
    assert list(names) == NAMES
    assert list(NameList(b"")) == []


def test_project_list_from_json_and_html():
    body = (b'{"meta": {"api-version": "1.0"},'
            b' "projects": [{"name": "B_b"}, {"name": "a"}, {"name": "b-B"}]}')
    assert parse_project_list(body, "application/vnd.pypi.simple.v1+json") == ["a", "b-b"]
    html = b'<a href="/simple/Foo.Bar/">Foo.Bar</a><a href="x/"></a><a>baz</a>'
    assert parse_project_list(html, "text/html") == ["baz", "foo-bar", "x"]


def test_html_page_parsing_resolves_urls_and_attributes():
    body = (b'<html><head><base href="https://cdn.example/base/"></head><body>'
            b'<a href="pkg/a-1.0.tar.gz#md5=ABCDEF" data-requires-python="&lt;4">a-1.0.tar.gz</a>'
            b'<a href="a-2.0.zip" data-yanked="">a-2.0.zip</a>'
            b'<a href="../../.hidden">x</a>'
            b'<a href="ftp://x.example/a-3.0.tar.gz">a-3.0.tar.gz</a>')
    name, links = parse_page(body, "text/html", "https://upstream.example/simple/a/")
    assert name is None
    assert [link["url"] for link in links] == [
        "https://cdn.example/base/pkg/a-1.0.tar.gz", "https://cdn.example/base/a-2.0.zip"]
    assert links[0]["hashes"] == {"md5": "abcdef"}
    assert links[0]["requires_python"] == "<4"
    assert links[1]["yanked"] is True


def test_html_page_parsing_drops_unsafe_absolute_links():
    # Absolute links take a shortcut past urljoin; the same file-name rules must hold there.
    kept = ["a-1.0.tar.gz", "a%201.0.tar.gz?x=1", "a-2.0.whl;p"]
    dropped = ["..%2Fa-1.tar.gz", ".hidden", "a%00-1.tar.gz", "a:b-1.tar.gz", "", "dir/",
               "a%5Cb-1.tar.gz", "a%25b-1.tar.gz", "a%7Cb-1.tar.gz"]
    anchors = "".join(f'<a href="https://files.example/p/{href}#sha256=ab">x</a>'
                      for href in kept + dropped)
    anchors += '<a href="https://files.example">x</a><a href="ftp://files.example/a-3.tar.gz">x</a>'
    _name, links = parse_page(anchors.encode(), "text/html", "https://upstream.example/simple/a/")
    assert [link["filename"] for link in links] == ["a-1.0.tar.gz", "a 1.0.tar.gz", "a-2.0.whl;p"]
    assert [link["url"] for link in links] == [
        "https://files.example/p/a-1.0.tar.gz", "https://files.example/p/a%201.0.tar.gz?x=1",
        "https://files.example/p/a-2.0.whl;p"]
    assert all(link["hashes"] == {"sha256": "ab"} for link in links)


def test_json_page_parsing_skips_unusable_entries():
    body = (b'{"name": "A", "files": [{"filename": "a-1.0.tar.gz", "url": "a-1.0.tar.gz",'
            b' "hashes": {"sha256": "not-hex"}, "yanked": "bad", "size": -1},'
            b' {"url": 3}, "junk", {"filename": "../x", "url": "x"}]}')
    name, [link] = parse_page(body, "application/vnd.pypi.simple.v1+json",
                              "https://upstream.example/simple/a/")
    assert name == "A"
    assert link == {"filename": "a-1.0.tar.gz", "hashes": {}, "yanked": "bad",
                    "url": "https://upstream.example/simple/a/a-1.0.tar.gz"}


@pytest.mark.parametrize(("project", "filename", "version"), [
    ("six", "six-1.16.0-py2.py3-none-any.whl", "1.16.0"),
    ("zope.interface", "zope.interface-5.4.0.tar.gz", "5.4.0"),
    ("foo-bar", "foo_bar-2.0rc1.zip", "2.0rc1"),
    ("foo-bar", "Foo-Bar-1.0.tar.bz2", "1.0"),
    ("setuptools", "setuptools-0.6c11-py2.7.egg", "0.6c11"),
    ("x", "README.txt", None),
])
def test_guess_version(project, filename, version):
    assert guess_version(project, filename) == version


def test_local_paths():
    def path(hashes):
        return local_path("root/pypi", {"filename": "a.whl", "url": "u", "hashes": hashes})

    digest = "ab" * 32
    assert path({"sha256": digest}) == f"root/pypi/+f/{digest[:3]}/{digest[3:16]}/a.whl"
    assert path({"md5": "cd" * 16}).startswith("root/pypi/+f/cdc/")
    assert path({}).startswith("root/pypi/+e/")
    assert verifying_hash({"whirlpool": "00"}) is None


def test_safe_url_drops_credentials():
    assert safe_url("https://u:p@upstream.example:8443/s/") == "https://upstream.example:8443/s/"
    assert safe_url("https://upstream.example/simple/") == "https://upstream.example/simple/"


def test_single_flight_shares_one_call_and_its_error():
    flight = SingleFlight()
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.2)
        return "done"

    results = []
    threads = [threading.Thread(target=lambda: results.append(flight.run("k", work)))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["done"] * 5 and len(calls) == 1

    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        flight.run("k", fail)
    assert not flight.running("k")


def test_a_walk_through_a_long_list_gives_free_memory_back(monkeypatch):
    from pyshelf_server.mirror import projectlist

    calls = []
    monkeypatch.setattr(projectlist, "release_free_memory", lambda: calls.append(1))
    small = NameList(encode_names(NAMES))
    assert list(small) == NAMES
    assert calls == []  # a small list is walked without trimming the heaps
    many = [f"name-{n:07d}" for n in range(60_000)]  # ~780 KB, several slices
    assert list(NameList(encode_names(many))) == many
    assert calls == [1]


def test_release_free_memory_is_safe_to_call():
    from pyshelf_server.memory import release_free_memory

    assert release_free_memory() in (True, False)
    assert release_free_memory() in (True, False)


def test_the_upstream_client_is_made_in_the_background_after_the_start(mirror, monkeypatch):
    import gc
    import time

    from pyshelf_server.mirror import types
    from pyshelf_server.mirror.runtime import runtime

    monkeypatch.setattr(types, "CLIENT_WARMUP_DELAY", 0.0)
    registry = mirror.app.registry
    gc.unfreeze()
    try:
        types.pyshelf_server_start(registry=registry)
        upstream = runtime(registry.pyshelf).upstream
        deadline = time.monotonic() + 30
        while not gc.get_freeze_count() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert upstream._client is not None
        # The start's heap is out of the collector's sight: full collections stay cheap.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_recent_links_are_bounded_by_the_links_they_hold():
    from pyshelf_server.mirror.runtime import RecentLinks

    recent = RecentLinks(max_links=5)
    recent.put("a", "t1", [{}] * 3)
    recent.put("b", "t1", [{}] * 2)
    assert recent.get("a", "t1") is not None
    assert recent.get("a", "t2") is None  # another version of the page
    recent.put("c", "t1", [{}] * 2)  # "b" is the oldest used now: it goes
    assert recent.get("b", "t1") is None
    assert recent.get("a", "t1") is not None and recent.get("c", "t1") is not None
    recent.put("d", "t1", [{}] * 6)  # more than the bound alone: not held
    assert recent.get("d", "t1") is None
    recent.forget("a")
    assert recent.get("a", "t1") is None
