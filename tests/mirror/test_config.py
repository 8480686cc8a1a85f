"""The mirror index type's options, and root/pypi as pyshelf-init creates it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyshelf_server.mirror.pipconfig import pip_index_url, web_url_format
from pyshelf_server.testing import Shelf

from .conftest import UPSTREAM

BIN = Path(sys.executable).parent


def test_mirror_options_are_coerced_and_shown(shelf):
    shelf.create_index("root/m", type="mirror", mirror_url=UPSTREAM, mirror_cache_expiry="60",
                       mirror_no_project_list="true", title="Mine", bases="root/x",
                       acl_upload="root", mirror_whitelist="six", pypi_whitelist="six")
    config = shelf.json("GET", "/root/m?no_projects=").json["result"]
    assert config == {"type": "mirror", "volatile": True, "mirror_url": UPSTREAM,
                      "mirror_cache_expiry": 60, "mirror_no_project_list": True, "title": "Mine"}
    api = shelf.json("GET", "/root/m/+api").json["result"]
    assert "pypisubmit" not in api


@pytest.mark.parametrize(("options", "message"), [
    ({}, "'mirror_url' option is required"),
    ({"mirror_url": "ftp://upstream.example/"}, "'mirror_url' option must be a URL."),
    ({"mirror_url": UPSTREAM, "mirror_cache_expiry": "soon"},
     "'mirror_cache_expiry' option must be an integer"),
    ({"mirror_url": UPSTREAM, "mirror_web_url_fmt": "https://x.example/"}, "{name}"),
    ({"mirror_url": UPSTREAM, "frobnicate": "1"}, "unexpected keyword arguments: frobnicate=1"),
])
def test_bad_mirror_options_are_400(shelf, options, message):
    response = shelf.json("PUT", "/root/m", {"type": "mirror", **options}, user="root",
                          status=400)
    assert message in response.json["message"]


def test_mirror_url_cannot_be_removed(shelf):
    shelf.create_index("root/m", type="mirror", mirror_url=UPSTREAM)
    shelf.json("PATCH", "/root/m", ["mirror_url-="], user="root", status=400)


def test_users_may_create_mirrors_when_the_server_allows_it(make_app, httpx_mock):
    shelf = Shelf(make_app(allow_user_mirrors=True))
    shelf.create_user("alice")
    shelf.create_index("alice/up", user="alice", password="secret", type="mirror",
                       mirror_url=UPSTREAM, mirror_no_project_list=True)
    httpx_mock.add_response(url=UPSTREAM + "hello/", json={"name": "hello", "files": []})
    shelf.test.get("/alice/up/+simple/hello/", headers={"Accept": "text/html"})


def test_only_root_picks_upstreams_by_default(shelf):
    shelf.create_user("alice")
    response = shelf.json("PUT", "/alice/up", {"type": "mirror", "mirror_url": UPSTREAM},
                          user="alice", password="secret", status=403)
    assert "--allow-user-mirrors" in response.json["message"]
    # A mirror root made for alice: she may configure it, but not point it elsewhere.
    shelf.create_index("alice/up", type="mirror", mirror_url=UPSTREAM)
    shelf.json("PATCH", "/alice/up", ["title=Upstream"], user="alice", password="secret",
               status=200)
    response = shelf.json("PATCH", "/alice/up", ["mirror_url=http://elsewhere.example/simple/"],
                          user="alice", password="secret", status=403)
    assert "--allow-user-mirrors" in response.json["message"]
    shelf.json("PATCH", "/alice/up", ["mirror_url=http://elsewhere.example/simple/"],
               user="root", status=200)


def test_uploading_to_a_mirror_is_refused(shelf):
    shelf.create_index("root/m", type="mirror", mirror_url=UPSTREAM)
    response = shelf.upload("root/m", "x-1.0.tar.gz", b"x", name="x", version="1.0",
                            status="*")
    assert response.status_int == 404
    assert "mirror" in response.status


def test_pip_index_url_prefers_the_environment():
    env = {**os.environ, "PIP_INDEX_URL": "http://upstream.example/simple/"}
    assert pip_index_url(env) == "http://upstream.example/simple/"


def test_pip_index_url_reads_pip_configuration(tmp_path):
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://internal.upstream.example/simple\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = str(config)
    assert pip_index_url(env) == "https://internal.upstream.example/simple"
    assert web_url_format("https://internal.upstream.example/simple", env) is None


def test_pip_index_url_falls_back_to_pips_builtin_default():
    from pip._internal.models.index import PyPI

    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    assert pip_index_url(env) == PyPI.simple_url
    assert web_url_format(PyPI.simple_url, env) == PyPI.url.rstrip("/") + "/project/{name}/"


def init(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Path:
    serverdir = tmp_path / "server"
    subprocess.run(
        [str(BIN / "pyshelf-init"), "--serverdir", str(serverdir), "--root-passwd", "pw", *args],
        check=True, capture_output=True, timeout=120, env=env,
    )
    return serverdir


def root_indexes(serverdir: Path) -> dict[str, dict]:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{serverdir / 'pyshelf.sqlite3'}")
    with engine.connect() as conn:
        rows = conn.execute(text("select name, type, volatile, options from indexes")).all()
    engine.dispose()
    import json

    return {name: {"type": kind, "volatile": bool(volatile), **json.loads(options)}
            for name, kind, volatile, options in rows}


def test_init_creates_root_pypi_from_mirror_url(tmp_path):
    serverdir = init(tmp_path, "--mirror-url", "http://upstream.example/simple/")
    assert root_indexes(serverdir) == {"pypi": {
        "type": "mirror", "volatile": False, "title": "PyPI",
        "mirror_url": "http://upstream.example/simple/"}}


def test_init_takes_pips_index_url(tmp_path):
    env = {**os.environ, "PIP_INDEX_URL": "https://internal.upstream.example/simple/"}
    serverdir = init(tmp_path, env=env)
    mirror_url = root_indexes(serverdir)["pypi"]["mirror_url"]
    assert mirror_url == "https://internal.upstream.example/simple/"


def test_init_without_root_pypi(tmp_path):
    assert root_indexes(init(tmp_path, "--no-root-pypi")) == {}
