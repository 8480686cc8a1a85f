"""``--default-index``: a team coming from pypiserver keeps its pip and twine settings."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .conftest import BIN, build, pip_install_into, run, write_project

pytestmark = pytest.mark.e2e


def test_pip_and_twine_with_pypiserver_urls(make_live_server, tmp_path, env):
    server = make_live_server(args=["--default-index", "root/pkgs"])
    server.create_index("root/pkgs")
    dist = build(write_project(tmp_path, "moved-pkg", "1.0"), env)
    # ~/.pypirc as a pypiserver user has it: the repository is the server's root URL.
    Path(env["HOME"], ".pypirc").write_text(
        "[distutils]\nindex-servers = local\n\n"
        f"[local]\nrepository: {server.url}\nusername: root\npassword: {server.root_password}\n"
    )
    run([str(BIN / "python"), "-m", "twine", "upload", "--non-interactive", "-r", "local",
         *map(str, sorted(dist.iterdir()))], env=env)
    files = server.request("GET", "/root/pkgs/moved-pkg/1.0").json()["result"]["+links"]
    assert len(files) == 2
    target = tmp_path / "target"
    pip_install_into(target, f"{server.url}/simple/", "moved-pkg", env)
    assert (target / "moved_pkg" / "__init__.py").exists()
    # The same page as the index's own.
    assert httpx.get(f"{server.url}/simple/moved-pkg/").text == httpx.get(
        f"{server.url}/root/pkgs/+simple/moved-pkg/").text
    assert "moved-pkg" in httpx.get(f"{server.url}/simple/").text
    # Everything else is where it was: the user pages, /+api, the root listing.
    assert server.request("GET", "/root").status_code == 200
    assert server.request("GET", "/").status_code == 200


def test_without_the_option_simple_is_a_user_name(make_live_server):
    """(And a value that names no index is refused at start.)"""
    server = make_live_server()
    assert httpx.get(f"{server.url}/simple/").status_code == 404
    bad = run([str(BIN / "pyshelf-server"), "--serverdir", str(server.serverdir),
               "--default-index", "pkgs"], env={"PATH": "/usr/bin:/bin"}, check=False)
    assert bad.returncode == 2
    assert "--default-index must be USER/INDEX" in bad.stderr
