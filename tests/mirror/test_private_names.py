"""A name a hosted stage holds stays claimed, hiding the mirror behind it, until the project
itself is deleted: deleting its last version or file must not let installers reach an upstream
project of the same name (dependency confusion)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pyshelf_server.testing import make_wheel
from tests.e2e.static_upstream import StaticIndex

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def upstream(tmp_path):
    index = StaticIndex(tmp_path / "upstream", {"inhouse": [make_wheel("inhouse", "50.0")]})
    yield index
    index.stop()


def _filenames(server, path):
    response = server.request("GET", path, auth=None, headers={"Accept": JSON_TYPE})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return [f["filename"] for f in response.json()["files"]]


def _upload(server, tmp_path, version):
    filename, content = make_wheel("inhouse", version)
    path = Path(tmp_path) / filename
    path.write_bytes(content)
    response = server.upload("root/dev", path, name="inhouse", version=version)
    assert response.status_code == 200, response.text
    return filename


@pytest.mark.parametrize("delete", ["version", "file"])
def test_deleting_the_last_version_keeps_the_mirror_hidden(
    make_live_server, upstream, tmp_path, delete
):
    server = make_live_server(init_args=["--mirror-url", upstream.url])
    server.create_index("root/dev", bases="root/pypi")
    private = _upload(server, tmp_path, "1.0")
    assert _filenames(server, "/root/dev/+simple/inhouse/") == [private]

    if delete == "version":
        response = server.request("DELETE", "/root/dev/inhouse/1.0")
    else:
        links = server.request("GET", "/root/dev/inhouse/1.0").json()["result"]["+links"]
        response = server.request("DELETE", urlsplit(links[0]["href"]).path)
    assert response.status_code in (200, 201), response.text

    # The name is still the stage's: its page lists nothing, and never the mirror's file.
    assert _filenames(server, "/root/dev/+simple/inhouse/") == []
    assert not [p for p in upstream.requests if "inhouse" in p]
    assert "inhouse" in server.request("GET", "/root/dev").json()["result"]["projects"]

    # Deleting the project gives the name back to the mirror.
    response = server.request("DELETE", "/root/dev/inhouse")
    assert response.status_code in (200, 201), response.text
    assert _filenames(server, "/root/dev/+simple/inhouse/") == ["inhouse-50.0-py3-none-any.whl"]
