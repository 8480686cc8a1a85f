"""Search follows changes made by other server processes on the same database: their hooks
never run here, so the indexer compares every project's change token with the one its document
was written with."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import text

from pyshelf_server.testing import make_wheel
from tests.server.test_cluster import SharedStore, start_pair

from .test_search import result_names, setup, upload


def write_behind_the_hooks(web, statement, **params):
    """A change another process made: straight into the database, no hook of this one."""
    session = web.app.registry.pyshelf.sessions(write=True)
    try:
        session.execute(text(statement), params)
        session.info["wrote"] = True
        session.commit()
    finally:
        session.close()


def test_reconcile_picks_up_changes_no_hook_announced(web):
    setup(web)
    upload(web, "alice/dev", "visible", summary="Seen through the hooks")
    upload(web, "alice/dev", "renamed", summary="Before")
    web.indexed()
    indexer = web.web.indexer
    assert indexer.reconcile() == 0
    assert result_names(web.page("/+search?query=visible")) == ["visible"]

    # Another process deleted one project and changed another's metadata.
    write_behind_the_hooks(
        web,
        "DELETE FROM files WHERE version_id IN (SELECT v.id FROM versions v JOIN projects p "
        "ON p.id = v.project_id WHERE p.name = 'visible')",
    )
    write_behind_the_hooks(
        web,
        "DELETE FROM versions WHERE project_id IN (SELECT id FROM projects WHERE name = 'visible')",
    )
    write_behind_the_hooks(web, "DELETE FROM projects WHERE name = 'visible'")
    write_behind_the_hooks(
        web, "UPDATE projects SET change_token = 'changed-elsewhere' WHERE name = 'renamed'"
    )
    assert result_names(web.page("/+search?query=visible")) == ["visible"]
    assert indexer.reconcile() == 2
    web.indexed()
    assert result_names(web.page("/+search?query=visible")) == []
    assert indexer.reconcile() == 0, "a reconciled project is queued again"


@pytest.mark.parametrize("store", ["directory", "s3"])
def test_a_project_uploaded_through_one_process_is_found_through_the_other(
    request, tmp_path, store
):
    shared = None
    if store == "s3":
        s3 = request.getfixturevalue("s3_store")
        shared = SharedStore(s3["url"], s3)
    first, second, _ = start_pair(tmp_path, shared)
    try:
        first.create_index("root/dev")

        def upload_through(server, name, summary):
            filename, content = make_wheel(name, "1.0", summary=summary)
            wheel = tmp_path / filename
            wheel.write_bytes(content)
            assert server.upload("root/dev", wheel, name=name, version="1.0").status_code == 200

        def found_through(server, word):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                page = httpx.get(f"{server.url}/+search?query={word}",
                                 headers={"Accept": "text/html"}, timeout=30)
                if names := result_names(page):
                    return names
                time.sleep(0.2)
            return []

        # The second process's search index is open and current (its own upload is in it)
        # before the first process changes anything.
        upload_through(second, "localproc", "Quixotic lemonade")
        assert found_through(second, "quixotic") == ["localproc"]
        upload_through(first, "crossproc", "Zanzibarian marmalade")
        assert found_through(second, "zanzibarian") == ["crossproc"]
    finally:
        first.stop()
        second.stop()

