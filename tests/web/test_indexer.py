"""The search indexer reads only what a project's search documents need."""

from __future__ import annotations

import threading

from pyshelf_server.packages.backend import HostedBackend
from pyshelf_server.plugin_api import open_reader
from pyshelf_web.search.indexer import described_version, project_document
from pyshelf_web.versions import preferred

from .conftest import make_docs_zip
from .test_search import result_names, setup, upload


def layered_project(web):
    """Versions uploaded out of order, a newer pre-release, docs on two older versions."""
    setup(web)
    upload(web, "alice/dev", "layered", "1.0", summary="first stable quokka")
    upload(
        web,
        "alice/dev",
        "layered",
        "1.5",
        summary="newest stable quokka",
        description="The numbat chapter.",
    )
    upload(web, "alice/dev", "layered", "2.0rc1", summary="candidate quokka")
    upload(web, "alice/dev", "layered", "1.2", summary="late patch quokka")
    for version, word in (("1.0", "aardvark"), ("1.2", "wombat")):
        zipped = make_docs_zip({"index.html": f"<title>Guide</title><p>The {word} guide.</p>"})
        response = web.upload_docs(
            "alice/dev", zipped, name="layered", version=version, user="alice", password="secret"
        )
        assert response.status_int == 200, response.status


def test_hosted_projects_are_indexed_without_reading_every_version(web, monkeypatch):
    # Building every version's data (backend.versions) held ~30 MB for a moment for a project
    # of 3,000 versions, and much of that stayed resident in the server.
    read_by_indexer = []
    versions = HostedBackend.versions

    def watched(self, name):
        if threading.current_thread().name == "pyshelf-web-indexer":
            read_by_indexer.append(name)
        return versions(self, name)

    monkeypatch.setattr(HostedBackend, "versions", watched)
    layered_project(web)
    web.indexed()
    assert web.web.indexer.errors == 0, web.web.indexer.last_error
    assert read_by_indexer == []

    page = web.page("/+search?query=quokka")
    assert result_names(page) == ["layered"]
    assert "newest stable" in page.text and "/alice/dev/layered/1.5" in page.text
    assert "candidate" not in page.text and "late patch" not in page.text
    assert result_names(web.page("/+search?query=numbat")) == ["layered"]
    # The docs of the newest version that has docs, not the described version's.
    assert result_names(web.page("/+search?query=wombat")) == ["layered"]
    assert result_names(web.page("/+search?query=aardvark")) == []


def test_hosted_reading_matches_every_version_reading(web, monkeypatch):
    layered_project(web)
    upload(web, "alice/dev", "nodocs", "0.1a1", summary="only a pre-release")
    web.indexed()

    class AnyBackend(HostedBackend):
        """Not the hosted backend itself: read through ``versions`` as any index type is."""

    def read(name):
        with open_reader(web.app.registry) as shelf:
            return described_version(shelf, shelf.require_index("alice/dev"), name)

    hosted = {name: read(name) for name in ("layered", "nodocs", "missing")}
    stage_type = type(web.app.registry.pyshelf.index_type("stage"))
    monkeypatch.setattr(
        stage_type,
        "make_backend",
        lambda self, *, session, index, app: AnyBackend(session=session, index=index),
    )
    for name, (described, docs) in hosted.items():
        assert project_document("alice/dev", name, described, docs) == project_document(
            "alice/dev", name, *read(name)
        ), name
        assert docs == read(name)[1], name
    described, docs = hosted["layered"]
    assert list(described) == ["1.5"] and docs
    assert described["1.5"]["summary"] == "newest stable quokka"
    assert hosted["missing"] == ({}, None)


def test_preferred_version():
    assert preferred(["1.0", "2.0rc1", "1.5", "1.2"]) == "1.5"
    assert preferred(["1.0a1", "1.0b2", "0.9rc1"]) == "1.0b2"
    assert preferred(["not-a-version", "0.1"]) == "0.1"
    assert preferred(["not-a-version", "also-not"]) == "not-a-version"
    # Equal versions: the first one seen (upload order) is described.
    assert preferred(["1.0", "1.0.0"]) == "1.0"
    assert preferred(iter(["3.0", "10.0"])) == "10.0"
    assert preferred([]) is None
