"""Inheritance: resolution order, link merging, +shadowing, and the whitelist gate that keeps a
mirror from shadowing private projects (dependency confusion)."""

import pytest

from pyshelf_server import hookimpl
from pyshelf_server.indexes.backends import Link
from pyshelf_server.indexes.types import IndexType
from pyshelf_server.testing import Shelf, make_wheel

PUBLIC = {"six": ["six-1.16.0-py2.py3-none-any.whl"], "requests": ["requests-2.0-py3-none-any.whl"]}


class FakeMirrorBackend:
    """A mirror with a fixed set of public files, standing in for an upstream index."""

    def __init__(self, index):
        self.index = index

    def project_names(self):
        return sorted(PUBLIC)

    def has_project(self, name):
        return name in PUBLIC

    def display_name(self, name):
        return name if name in PUBLIC else None

    def links(self, name):
        if name not in PUBLIC:
            return None
        return [
            Link(
                filename=f,
                path=f"{self.index.fullname}/+f/000/0000000000000/{f}",
                hashes={"sha256": "0" * 64},
                stage=self.index.fullname,
                version=f.split("-")[1],
            )
            for f in PUBLIC[name]
        ]

    def versions(self, name):
        if name not in PUBLIC:
            return None
        return {
            f.split("-")[1]: {"name": name, "version": f.split("-")[1], "+links": []}
            for f in PUBLIC[name]
        }

    def cache_token(self, name):
        return "fixed", None


class FakeMirrorType(IndexType):
    name = "fakemirror"
    is_mirror = True
    dropped = frozenset({"bases", "acl_upload", "mirror_whitelist", "mirror_whitelist_inheritance"})

    def make_backend(self, *, session, index, app):
        return FakeMirrorBackend(index)


class FakeMirrorPlugin:
    @hookimpl
    def pyshelf_get_index_types(self):
        return [FakeMirrorType]


@pytest.fixture
def shelf(make_app):
    shelf = Shelf(make_app(plugins=[FakeMirrorPlugin()]))
    shelf.create_index("root/public", type="fakemirror")
    return shelf


def simple_files(shelf, path):
    page = shelf.test.get(
        path, headers={"Accept": "application/vnd.pypi.simple.v1+json"}, expect_errors=True
    )
    if page.status_int == 404:
        return None
    return [(f["filename"], "/".join(f["url"].split("/")[4:6])) for f in page.json["files"]]


def test_resolution_order_is_breadth_first_with_mirrors_last(shelf):
    for name, bases in [("a", ""), ("b", "root/public"), ("c", "root/a"), ("d", "root/b,root/c")]:
        shelf.create_index(f"root/{name}", bases=bases)
    for index in "abcd":
        shelf.upload(
            f"root/{index}",
            *make_wheel("six", f"0.{ord(index)}"),
            name="six",
            version=f"0.{ord(index)}",
        )
    stages = [stage for _f, stage in simple_files(shelf, "/root/d/+simple/six/")]
    # d, then its bases b and c, then c's base a, and the mirror (b's base) last — were it
    # not for the whitelist gate, which hides the mirror because six exists privately.
    assert stages == ["root/d", "root/b", "root/c", "root/a"]
    shelf.json("PATCH", "/root/d", ["mirror_whitelist=six"], user="root")
    shelf.json("PATCH", "/root/d", ["mirror_whitelist_inheritance=union"], user="root")
    stages = [stage for _f, stage in simple_files(shelf, "/root/d/+simple/six/")]
    assert stages == ["root/d", "root/b", "root/c", "root/a", "root/public"]


def test_links_merge_by_filename_first_wins(shelf):
    shelf.create_index("root/dev")
    shelf.create_user("alice")
    shelf.create_index("alice/dev", user="alice", password="secret", bases="root/dev")
    wheel_root = make_wheel("anchorpkg", "1.0", summary="root's")
    wheel_alice = make_wheel("anchorpkg", "1.0", summary="alice's")
    shelf.upload("root/dev", *wheel_root, name="anchorpkg", version="1.0")
    shelf.upload("root/dev", *make_wheel("anchorpkg", "1.1"), name="anchorpkg", version="1.1")
    shelf.upload(
        "alice/dev", *wheel_alice, name="anchorpkg", version="1.0", user="alice", password="secret"
    )
    files = simple_files(shelf, "/alice/dev/+simple/anchorpkg/")
    assert files == [
        ("anchorpkg-1.0-py3-none-any.whl", "alice/dev"),
        ("anchorpkg-1.1-py3-none-any.whl", "root/dev"),
    ]

    versions = shelf.json("GET", "/alice/dev/anchorpkg").json["result"]
    assert versions["1.0"]["summary"] == "alice's"
    assert versions["1.0"]["+shadowing"][0]["summary"] == "root's"
    assert "+shadowing" not in versions["1.1"]
    own = shelf.json("GET", "/alice/dev/anchorpkg?ignore_bases=").json["result"]
    assert list(own) == ["1.0"] and "+shadowing" not in own["1.0"]
    # GET /u/i lists only the index's own projects.
    assert shelf.json("GET", "/alice/dev").json["result"]["projects"] == ["anchorpkg"]
    assert shelf.json("GET", "/root/dev").json["result"]["projects"] == ["anchorpkg"]


def test_private_project_hides_the_mirror_unless_whitelisted(shelf):
    shelf.create_index("root/dev", bases="root/public")
    assert simple_files(shelf, "/root/dev/+simple/six/") == [
        ("six-1.16.0-py2.py3-none-any.whl", "root/public")
    ]
    shelf.upload("root/dev", *make_wheel("six", "99.0"), name="six", version="99.0")
    assert simple_files(shelf, "/root/dev/+simple/six/") == [
        ("six-99.0-py3-none-any.whl", "root/dev")
    ]
    # Other public projects are unaffected.
    assert simple_files(shelf, "/root/dev/+simple/requests/") == [
        ("requests-2.0-py3-none-any.whl", "root/public")
    ]
    shelf.json("PATCH", "/root/dev", ["mirror_whitelist=six"], user="root")
    assert simple_files(shelf, "/root/dev/+simple/six/") == [
        ("six-99.0-py3-none-any.whl", "root/dev"),
        ("six-1.16.0-py2.py3-none-any.whl", "root/public"),
    ]
    shelf.json("PATCH", "/root/dev", ["mirror_whitelist=*"], user="root")
    assert len(simple_files(shelf, "/root/dev/+simple/six/")) == 2


def test_whitelist_intersection_needs_the_requested_index_to_agree(shelf):
    shelf.create_index("root/dev", bases="root/public", mirror_whitelist="six")
    shelf.upload("root/dev", *make_wheel("six", "99.0"), name="six", version="99.0")
    shelf.create_user("alice")
    shelf.create_index("alice/dev", user="alice", password="secret", bases="root/dev")
    assert len(simple_files(shelf, "/root/dev/+simple/six/")) == 2
    # alice/dev defaults to intersection and lists nothing: the mirror stays hidden for her.
    assert simple_files(shelf, "/alice/dev/+simple/six/") == [
        ("six-99.0-py3-none-any.whl", "root/dev")
    ]
    shelf.json(
        "PATCH",
        "/alice/dev",
        ["mirror_whitelist_inheritance=union"],
        user="alice",
        password="secret",
    )
    assert len(simple_files(shelf, "/alice/dev/+simple/six/")) == 2


def test_project_list_includes_bases(shelf):
    shelf.create_index("root/dev", bases="root/public")
    shelf.upload("root/dev", *make_wheel("mine", "1.0"), name="mine", version="1.0")
    listing = shelf.test.get(
        "/root/dev/+simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json
    assert [p["name"] for p in listing["projects"]] == ["mine", "requests", "six"]


def test_mirror_options_are_dropped_and_index_shows_no_upload_url(shelf):
    config = shelf.json("GET", "/root/public").json["result"]
    assert config["type"] == "fakemirror" and "bases" not in config
    api = shelf.json("GET", "/root/public/+api").json["result"]
    assert "pypisubmit" not in api
    response = shelf.upload(
        "root/public", *make_wheel("x", "1.0"), name="x", version="1.0", status=404
    )
    assert response.status == "404 cannot submit to mirror index"
