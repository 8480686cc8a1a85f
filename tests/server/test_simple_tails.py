"""Hosted files store their simple-page entries at upload; pages joined from them are the same
bytes as pages rendered from the files' columns, and a change to a file drops its entries."""

import json

import pytest
from sqlalchemy import select, update

from pyshelf_server import hookimpl
from pyshelf_server.indexes.types import StageType
from pyshelf_server.packages.backend import HostedBackend
from pyshelf_server.packages.models import File
from pyshelf_server.testing import Shelf, make_sdist, make_wheel

JSON = "application/vnd.pypi.simple.v1+json"
PAGES = [
    ("/root/child/+simple/hello/", "text/html"),
    ("/root/child/+simple/hello/", JSON),
    ("/root/base/+simple/hello/", "text/html"),
    ("/root/base/+simple/hello/", JSON),
]


@pytest.fixture
def shelf(make_app):
    shelf = Shelf(make_app())
    shelf.create_index("root/base")
    shelf.create_index("root/child", bases="root/base")
    for version in ("1.0", "1.1"):
        upload(shelf, "root/base", make_wheel("hello", version, requires_python=">=3.8"), version)
        upload(shelf, "root/base", make_sdist("hello", version), version)
    # The same file in both: the child's copy is listed, the base's is not listed again.
    upload(shelf, "root/child", make_wheel("hello", "1.1", requires_python=">=3.8"), "1.1")
    upload(shelf, "root/child", make_wheel("hello", "2.0"), "2.0")
    return shelf


def upload(shelf, index, file, version):
    shelf.upload(index, *file, name="hello", version=version)


@pytest.fixture
def rendered(monkeypatch):
    """How many times links were rendered from the files' columns."""
    calls = []
    original = HostedBackend.links

    def links(self, name):
        calls.append(name)
        return original(self, name)

    monkeypatch.setattr(HostedBackend, "links", links)
    return calls


def fetch(shelf, path, accept):
    shelf.app.registry.pyshelf.page_cache.clear()
    return shelf.test.get(path, headers={"Accept": accept}).body


def write(shelf, statement):
    with shelf.app.registry.pyshelf.database.writing() as uow:
        uow.session.execute(statement)


def test_pages_joined_from_stored_entries_equal_rendered_pages(shelf, rendered):
    joined = [fetch(shelf, path, accept) for path, accept in PAGES]
    assert rendered == []
    write(shelf, update(File).values(simple_html=None, simple_json=None))
    assert [fetch(shelf, path, accept) for path, accept in PAGES] == joined
    assert len(rendered) == 6  # the child's pages ask both stages
    page = shelf.test.get(PAGES[1][0], headers={"Accept": JSON}).json
    assert page["versions"] == ["1.1", "2.0", "1.0"]
    assert [f["filename"] for f in page["files"]].count("hello-1.1-py3-none-any.whl") == 1


def test_a_file_without_stored_entries_is_rendered(shelf, rendered):
    write(shelf, update(File).where(File.filename == "hello-1.0.tar.gz").values(simple_html=None))
    html = fetch(shelf, "/root/child/+simple/hello/", "text/html").decode()
    assert "hello-1.0.tar.gz</a>" in html
    assert rendered


def test_a_yank_drops_the_stored_entries(shelf, rendered):
    with shelf.app.registry.pyshelf.database.writing() as uow:
        file = uow.session.execute(
            select(File).where(File.filename == "hello-2.0-py3-none-any.whl")
        ).scalar_one()
        file.yanked, file.yanked_reason = True, "broken"
    html = fetch(shelf, "/root/child/+simple/hello/", "text/html").decode()
    line = next(line for line in html.splitlines() if "hello-2.0-py3-none-any.whl<" in line)
    assert 'data-yanked="broken"' in line
    page = shelf.test.get("/root/child/+simple/hello/", headers={"Accept": JSON}).json
    assert next(f for f in page["files"] if f["filename"].startswith("hello-2.0"))["yanked"] == (
        "broken"
    )


def test_json_entries_escape_what_they_show():
    from datetime import UTC, datetime

    from pyshelf_server.indexes.backends import Link
    from pyshelf_server.simple.render import json_page, json_tail

    link = Link(
        filename='we"ird\\é-1.0.tar.gz',
        path='u/i/+f/abc/def/we"ird\\é-1.0.tar.gz',
        hashes={"sha256": "a" * 64, "md5": "b" * 32},
        stage="u/i",
        version="1.0",
        requires_python='>="3"',
        yanked='a "bad" one',
        size=12,
        upload_time=datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        core_metadata={"sha256": "c" * 64},
    )
    page = json.loads(json_page("n", ["1.0"], [json_tail(link)], '../"x"/'))
    assert page["files"] == [
        {
            "url": '../"x"/u/i/~f/abc/def/we"ird\\é-1.0.tar.gz',
            "filename": 'we"ird\\é-1.0.tar.gz',
            "hashes": {"sha256": "a" * 64, "md5": "b" * 32},
            "requires-python": '>="3"',
            "yanked": 'a "bad" one',
            "core-metadata": {"sha256": "c" * 64},
            "dist-info-metadata": {"sha256": "c" * 64},
            "size": 12,
            "upload-time": "2024-01-02T03:04:05.000006Z",
        }
    ]


class SdistsOnlyType(StageType):
    # Overrides filter_links without saying whether it changes links: taken to change them.
    name = "sdists-only"

    def filter_links(self, index, project, links):
        return [link for link in links if not link.filename.endswith(".whl")]


class SdistsOnlyPlugin:
    @hookimpl
    def pyshelf_get_index_types(self):
        return [SdistsOnlyType]


@pytest.mark.parametrize("accept", ["text/html", JSON])
def test_an_index_type_that_filters_links_gets_rendered_pages(make_app, rendered, accept):
    assert SdistsOnlyType.changes_links and not StageType.changes_links
    shelf = Shelf(make_app(plugins=[SdistsOnlyPlugin()]))
    shelf.create_index("root/base")
    upload(shelf, "root/base", make_wheel("hello", "1.0"), "1.0")
    upload(shelf, "root/base", make_sdist("hello", "1.0"), "1.0")
    shelf.create_index("root/sdists", type="sdists-only", bases="root/base")
    page = fetch(shelf, "/root/sdists/+simple/hello/", accept)
    assert b"hello-1.0.tar.gz" in page and b".whl" not in page
    assert rendered == ["hello"]


class OnlyNamedType(StageType):
    # Hides every project it does not name, as devpi-constrained's "*" line does.
    name = "only-named"

    def filter_projects(self, index, names):
        return [name for name in names if name == "shown"]


class OnlyNamedPlugin:
    @hookimpl
    def pyshelf_get_index_types(self):
        return [OnlyNamedType]


def test_a_project_an_index_type_filters_out_does_not_exist_through_it(make_app):
    shelf = Shelf(make_app(plugins=[OnlyNamedPlugin()]))
    shelf.create_index("root/base")
    for name in ("shown", "hidden"):
        shelf.upload("root/base", *make_wheel(name, "1.0"), name=name, version="1.0")
    shelf.create_index("root/named", type="only-named", bases="root/base")
    assert b"hidden-1.0" in fetch(shelf, "/root/base/+simple/hidden/", JSON)
    assert b"shown-1.0" in fetch(shelf, "/root/named/+simple/shown/", JSON)
    shelf.test.get("/root/named/+simple/hidden/", headers={"Accept": JSON}, status=404)
    listing = shelf.test.get("/root/named/+simple/", headers={"Accept": JSON}).json
    assert [p["name"] for p in listing["projects"]] == ["shown"]
