"""Tox results on the version page, and the search index across restarts and crashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyshelf_server.testing import ROOT_PASSWORD, make_wheel

TOXRESULT = {
    "reportversion": "1", "toxversion": "4.11", "host": "ci-runner-7", "platform": "linux",
    "testenvs": {
        "py311": {"python": {"version": "3.11.7 (main)"},
                  "setup": [{"retcode": 0, "command": ["pip", "install"]}],
                  "test": [{"retcode": 0, "command": ["pytest"]}]},
        "py312": {"python": {"version": "3.12.1"},
                  "test": [{"retcode": 1, "command": ["pytest"]}]},
        "weird": "not a dict",
    },
}


def test_tox_results_are_summarised_on_the_version_page(web):
    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel("tested", "1.0")
    web.upload("alice/dev", filename, content, name="tested", version="1.0", user="alice",
               password="secret")
    href = web.json("GET", "/alice/dev/tested/1.0").json["result"]["+links"][0]["href"]
    web.json("POST", href.replace("http://localhost", ""), TOXRESULT, status=200)
    page = web.page("/alice/dev/tested/1.0").text
    assert "ci-runner-7" in page
    assert "py311 · py3.11.7 · passed" in page
    assert "py312 · py3.12.1 · failed" in page


def test_a_crash_with_work_pending_rebuilds_at_the_next_start(web):
    from pyshelf_web import main

    web.create_user("alice", password="secret")
    web.create_index("alice/dev", user="alice", password="secret")
    filename, content = make_wheel("survivor", "1.0", summary="Still here")
    web.upload("alice/dev", filename, content, name="survivor", version="1.0", user="alice",
               password="secret")
    web.indexed()
    state = web.web
    # As if the process had died between the commit and the indexing.
    state.search.recreate()
    state.search.needs_rebuild = False
    state.indexer.marker.touch()
    assert state.indexer.interrupted
    main.pyshelf_server_start(registry=web.app.registry)
    web.indexed()
    assert not state.indexer.interrupted
    assert "survivor" in web.page("/+search?query=still").text


@pytest.mark.e2e
def test_recreate_search_index_command(tmp_path):
    serverdir = tmp_path / "server"
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "pyshelf-init"), "--serverdir", str(serverdir),
                    "--root-passwd", ROOT_PASSWORD], check=True, capture_output=True, timeout=120)
    result = subprocess.run(
        [str(bin_dir / "pyshelf-server"), "--serverdir", str(serverdir),
         "--recreate-search-index"], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "search index recreated" in result.stdout
    assert (serverdir / "search-index" / "schema-version").exists()
    assert not (serverdir / "search-index.pending").exists()


def test_status_json_reports_the_indexer(web):
    data = web.json("GET", "/+status").json["result"]["search-index"]
    assert set(data) >= {"documents", "queue", "errors", "last-error", "last-indexed"}
    assert json.dumps(data)
