"""The read facade plugins get (``plugin_api.reader`` / ``open_reader``): what it answers through
inheritance, about stored files and users, inside a request and outside one."""

import hashlib

import pytest
from pyramid.response import Response

from pyshelf_server import hookimpl
from pyshelf_server.plugin_api import (
    APIError,
    IndexContext,
    ShelfReader,
    open_reader,
    reader,
)
from pyshelf_server.testing import Shelf, make_wheel


class ReadingPlugin:
    """A view that answers what ``reader(request)`` sees through the request's index."""

    @hookimpl
    def pyshelf_pyramid_configure(self, config, settings):
        config.add_route("reading.versions", "/{user}/{index}/+reading/{project}",
                         factory=IndexContext)
        config.add_view(self.versions, route_name="reading.versions", renderer="json")

    def versions(self, request):
        found = reader(request).versions(request.context.index, request.matchdict["project"])
        if found is None:
            return Response("no such project", status=404)
        return [[v.version, v.stage, list(v.shadowed), v.data["name"]] for v in found]


@pytest.fixture
def layered(make_app):
    shelf = Shelf(make_app(plugins=[ReadingPlugin()]))
    shelf.create_user("alice", title="Alice", description="builds things")
    shelf.create_index("alice/base", user="alice", password="secret")
    shelf.create_index("alice/dev", user="alice", password="secret", bases=["alice/base"])
    for index, version in (("alice/base", "1.0"), ("alice/base", "2.0"), ("alice/dev", "2.0"),
                           ("alice/dev", "3.0")):
        shelf.upload(index, *make_wheel("Shared_Kit", version), name="Shared_Kit",
                     version=version, user="alice", password="secret")
    shelf.upload("alice/base", *make_wheel("only-base", "0.1"), name="only-base",
                 version="0.1", user="alice", password="secret")
    return shelf


def test_versions_through_inheritance_inside_a_request(layered):
    answer = layered.test.get("/alice/dev/+reading/shared-kit").json
    assert sorted(answer) == [
        ["1.0", "alice/base", [], "Shared_Kit"],
        ["2.0", "alice/dev", ["alice/base"], "Shared_Kit"],
        ["3.0", "alice/dev", [], "Shared_Kit"],
    ]
    # The base does not inherit from dev.
    assert layered.test.get("/alice/base/+reading/shared-kit").json == [
        ["1.0", "alice/base", [], "Shared_Kit"],
        ["2.0", "alice/base", [], "Shared_Kit"],
    ]
    layered.test.get("/alice/dev/+reading/nothing", status=404)


def test_reader_outside_requests(layered):
    with open_reader(layered.app.registry) as shelf:
        assert isinstance(shelf, ShelfReader)
        dev = shelf.require_index("alice/dev")
        assert [i.fullname for i in shelf.resolution_order(dev)] == ["alice/dev", "alice/base"]
        assert shelf.projects(dev) == [("only-base", "alice/base"), ("shared-kit", "alice/dev")]
        assert shelf.own_projects(dev) == ["shared-kit"]
        assert shelf.display_name(dev, "shared-kit") == "Shared_Kit"
        with pytest.raises(APIError) as raised:
            shelf.require_index("alice/nosuch")
        assert raised.value.status == 404

        links = shelf.links(dev, "shared-kit")
        assert sorted((link.version, link.stage) for link in links) == [
            ("1.0", "alice/base"), ("2.0", "alice/dev"), ("3.0", "alice/dev")
        ]

        (alice,) = [u for u in shelf.users() if u.name == "alice"]
        assert (alice.title, alice.description) == ("Alice", "builds things")
        assert [i.fullname for i in alice.indexes] == ["alice/base", "alice/dev"]
        assert shelf.user("nobody") is None

        summary = shelf.project_summary(dev, "shared-kit", max)
        assert (summary.stage, summary.version, summary.data["name"]) == (
            "alice/dev", "3.0", "Shared_Kit"
        )
        assert summary.doc_zips == {}
        assert shelf.project_summary(dev, "only-base", max) is None  # not dev's own


def test_stored_files_and_their_content(layered):
    filename, content = make_wheel("Shared_Kit", "3.0")
    sha256 = hashlib.sha256(content).hexdigest()
    with open_reader(layered.app.registry) as shelf:
        (version,) = [v for v in shelf.versions(shelf.index("alice/dev"), "shared-kit")
                      if v.version == "3.0"]
        (href,) = [link["href"] for link in version.data["+links"]]
    layered.test.get(f"/{href}")
    layered.test.get(f"/{href}")
    layered.app.registry.pyshelf.downloads.flush()

    with open_reader(layered.app.registry) as shelf:
        found = shelf.stored_files([href, "alice/nosuch/+f/abc/def/x.whl"])
        assert list(found) == [href]
        stored = found[href]
        assert (stored.index, stored.filename, stored.rel, stored.sha256, stored.size) == (
            "alice/dev", filename, "releasefile", sha256, len(content)
        )
        assert (stored.uploader, stored.download_count, stored.yanked) == ("alice", 2, False)
        with shelf.open_file(sha256) as source:
            assert source.read() == content
        assert shelf.file_in_use(sha256)
        assert not shelf.file_in_use("0" * 64)
        assert shelf.stored_bytes() >= len(content)
        with pytest.raises(FileNotFoundError):
            shelf.open_file("0" * 64)
