"""The fast path for cached simple pages answers exactly like the full application."""

import pytest

from pyshelf_server.simple.fastpath import SimpleFastPath
from pyshelf_server.testing import Shelf, make_wheel


def count_calls(shelf):
    """Record the path of every request that reaches Pyramid in the returned list."""
    fast_path = shelf.app
    while not isinstance(fast_path, SimpleFastPath):  # under the metrics middleware
        fast_path = fast_path.app
    inner = fast_path.app
    calls = []

    def counting(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    fast_path.app = counting
    return calls


@pytest.fixture
def counted(shelf):
    """The shelf, with a counter of the requests that reach Pyramid."""
    shelf.calls = count_calls(shelf)
    shelf.create_index("root/dev")
    shelf.upload("root/dev", *make_wheel("fast", "1.0"), name="fast", version="1.0")
    return shelf


def test_second_request_skips_the_application_and_answers_the_same(counted):
    full = counted.test.get("/root/dev/+simple/fast/")
    before = len(counted.calls)
    fast = counted.test.get("/root/dev/+simple/fast/")
    assert len(counted.calls) == before
    assert fast.body == full.body
    for header in (
        "Content-Type",
        "ETag",
        "Vary",
        "X-Devpi-Serial",
        "X-Devpi-Uuid",
        "X-Devpi-Api-Version",
    ):
        assert fast.headers[header] == full.headers[header]
    counted.test.get(
        "/root/dev/+simple/fast/", headers={"If-None-Match": full.headers["ETag"]}, status=304
    )
    assert len(counted.calls) == before


def test_json_is_cached_separately(counted):
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    first = counted.test.get("/root/dev/+simple/fast/", headers=accept)
    second = counted.test.get("/root/dev/+simple/fast/", headers=accept)
    assert second.headers["Content-Type"] == "application/vnd.pypi.simple.v1+json"
    assert first.json == second.json


def test_a_write_sends_the_next_request_through_the_application(counted):
    counted.test.get("/root/dev/+simple/fast/")
    counted.upload("root/dev", *make_wheel("fast", "2.0"), name="fast", version="2.0")
    before = len(counted.calls)
    page = counted.test.get("/root/dev/+simple/fast/")
    assert len(counted.calls) == before + 1
    assert "fast-2.0-py3-none-any.whl" in page.text
    # An unrelated write re-confirms the page in the application once, then it is fast again.
    counted.create_index("root/other")
    counted.test.get("/root/dev/+simple/fast/")
    before = len(counted.calls)
    counted.test.get("/root/dev/+simple/fast/")
    assert len(counted.calls) == before


def test_unusual_requests_take_the_full_path(counted):
    counted.test.get("/root/dev/+simple/fast/")
    before = len(counted.calls)
    counted.test.get("/root/dev/+simple/fast/?x=1")
    counted.test.get(
        "/root/dev/+simple/fast/", headers={"X-Outside-Url": "https://elsewhere.example"}
    )
    counted.test.get("/root/dev/+simple/fast/", headers=counted.auth("root"))
    counted.test.get("/root/dev/+simple/Fast/", status=302)
    assert len(counted.calls) == before + 4


def test_project_list_is_cached_and_follows_changes(counted):
    first = counted.test.get("/root/dev/+simple/")
    before = len(counted.calls)
    again = counted.test.get("/root/dev/+simple/")
    assert len(counted.calls) == before and again.body == first.body
    counted.test.get(
        "/root/dev/+simple/", headers={"If-None-Match": first.headers["ETag"]}, status=304
    )
    counted.upload("root/dev", *make_wheel("second", "1.0"), name="second", version="1.0")
    listing = counted.test.get(
        "/root/dev/+simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert [p["name"] for p in listing.json["projects"]] == ["fast", "second"]


def test_state_read_is_reused_until_this_process_commits(counted):
    from sqlalchemy import create_engine, text

    reader = counted.app.registry.pyshelf.state_reader
    engine = counted.app.registry.pyshelf.engine
    first = reader.read()
    # A commit by someone else (another process, here a second engine) is not announced to
    # this process: within the reuse window the reader does not ask the database.
    other = create_engine(engine.url)
    with other.begin() as connection:
        connection.execute(text("UPDATE server_state SET serial = serial + 100 WHERE id = 1"))
    other.dispose()
    assert reader.read() == first
    # Once the window has passed it asks again.
    reader.REUSE_SECONDS = 0
    assert reader.read()[0] == first[0] + 100
    reader.REUSE_SECONDS = 60
    seen = reader.read()
    # A commit of this process is seen at once, however long the window.
    counted.upload("root/dev", *make_wheel("fast", "3.0"), name="fast", version="3.0")
    assert reader.read()[0] > seen[0]
    page = counted.test.get("/root/dev/+simple/fast/")
    assert "fast-3.0-py3-none-any.whl" in page.text


def test_an_outside_url_links_files_absolutely_on_both_paths(make_app):
    shelf = Shelf(make_app(outside_url="https://shelf.example/pkgs/"))
    calls = count_calls(shelf)
    shelf.create_index("root/dev")
    shelf.upload("root/dev", *make_wheel("fast", "1.0"), name="fast", version="1.0")
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    full = shelf.test.get("/root/dev/+simple/fast/", headers=accept)
    [url] = [f["url"] for f in full.json["files"]]
    assert url.startswith("https://shelf.example/pkgs/root/dev/")
    assert url.endswith("/fast-1.0-py3-none-any.whl")
    before = len(calls)
    fast = shelf.test.get("/root/dev/+simple/fast/", headers=accept)
    assert len(calls) == before
    assert fast.body == full.body
    html = shelf.test.get("/root/dev/+simple/fast/")
    assert 'href="https://shelf.example/pkgs/root/dev/' in html.text


def test_a_password_change_keeps_the_cached_pages(counted, monkeypatch):
    """Credentials have a token of their own: changing a password drops the cached password
    hashes, not every rendered page."""
    from pyshelf_server.simple.services import SimpleService

    built = []
    original = SimpleService._from_stored_tails

    def counting(self, *args, **kw):
        built.append(args[1])
        return original(self, *args, **kw)

    monkeypatch.setattr(SimpleService, "_from_stored_tails", counting)
    counted.create_user("alice", "old-password")
    counted.test.get("/root/dev/+simple/fast/")
    assert built == ["fast"]
    counted.json("PATCH", "/alice", {"password": "new-password"}, user="alice",
                 password="old-password")
    counted.test.get("/root/dev/+simple/fast/")
    assert built == ["fast"], "the page was built again after a password change"
    # The old password no longer works, the new one does.
    counted.json("GET", "/alice", user="alice", password="new-password", status=200)
    counted.json("PATCH", "/alice", {"email": "a@x.example"}, user="alice",
                 password="old-password", status=401)
