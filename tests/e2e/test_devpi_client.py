"""The real devpi client (devpi-client 7.x) drives pyshelf unchanged through its workflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import BIN, build, pip_install_into, run, write_project

pytestmark = pytest.mark.e2e


class Devpi:
    def __init__(self, clientdir: Path, env: dict[str, str], cwd: Path) -> None:
        self.clientdir = clientdir
        self.env = env
        self.cwd = cwd

    def __call__(self, *args: str, check: bool = True, cwd: Path | None = None):
        return run(
            [str(BIN / "devpi"), "--clientdir", str(self.clientdir), *args],
            env=self.env,
            cwd=cwd or self.cwd,
            check=check,
        )


def test_devpi_workflow(make_live_server, tmp_path, env):
    server = make_live_server(root_password="first-root-pw")
    devpi = Devpi(tmp_path / "client", env, tmp_path)

    out = devpi("use", server.url).stdout
    assert server.url in out
    devpi("login", "root", "--password", "first-root-pw")
    out = devpi("user", "-c", "alice", "password=secret", "email=alice@example.org").stdout
    assert "user created: alice" in out
    devpi("user", "-m", "root", "password=rootpw")
    # The old password no longer works, the new one does.
    assert devpi("login", "root", "--password", "first-root-pw", check=False).returncode != 0
    devpi("login", "root", "--password", "rootpw")
    devpi("index", "-c", "base")
    devpi("index", "-c", "dev", "bases=root/base")
    devpi("index", "-c", "prod", "volatile=False")
    devpi("login", "alice", "--password", "secret")
    out = devpi(
        "index", "-c", "alice/dev", "bases=root/dev", "acl_upload=alice", "volatile=False"
    ).stdout
    assert "volatile=False" in out and "bases=root/dev" in out
    devpi("use", "alice/dev")

    # Upload by building the project in the current directory.
    project = write_project(tmp_path, "anchorpkg", "1.0")
    out = devpi("upload", "--no-isolation", cwd=project).stdout
    assert "anchorpkg-1.0.tar.gz" in out
    # And from a directory of built files.
    project11 = write_project(tmp_path, "anchorpkg", "1.1")
    dist = build(project11, env)
    out = devpi("upload", "--from-dir", str(dist)).stdout
    assert "anchorpkg-1.1-py3-none-any.whl" in out

    assert devpi("list").stdout.split() == ["anchorpkg"]
    links = devpi("list", "anchorpkg").stdout.split()
    assert any(link.endswith("anchorpkg-1.1-py3-none-any.whl") for link in links)
    assert all(link.startswith(f"{server.url}/alice/dev/+f/") for link in links)

    index = json.loads(devpi("getjson", "/alice/dev").stdout)
    assert index["type"] == "indexconfig"
    assert index["result"]["projects"] == ["anchorpkg"]
    assert index["result"]["volatile"] is False

    # Push to root/prod needs upload rights there: alice has none.
    assert devpi("push", "anchorpkg==1.0", "root/prod", check=False).returncode != 0
    devpi("login", "root", "--password", "rootpw")
    devpi("index", "root/prod", "acl_upload+=alice")
    devpi("login", "alice", "--password", "secret")
    out = devpi("push", "anchorpkg==1.0", "root/prod").stdout
    assert "store_releasefile root/prod/+f/" in out
    prod = json.loads(devpi("getjson", "/root/prod/anchorpkg").stdout)
    assert list(prod["result"]) == ["1.0"]
    # An identical push again to the non-volatile index is refused.
    assert devpi("push", "anchorpkg==1.0", "root/prod", check=False).returncode != 0

    # Removing from the non-volatile alice/dev is refused …
    result = devpi("remove", "-y", "anchorpkg==1.0", check=False)
    assert result.returncode != 0
    assert "non-volatile" in result.stdout + result.stderr
    # … and allowed on a volatile index.
    devpi("index", "-c", "alice/scratch")
    devpi("use", "alice/scratch")
    devpi("upload", "--from-dir", str(dist))
    devpi("remove", "-y", "anchorpkg==1.1")
    # The project keeps its name (hiding mirrors behind the index) until the project itself is
    # deleted (DELETE /alice/scratch/anchorpkg; devpi-client only removes versions).
    assert devpi("list").stdout.split() == ["anchorpkg"]

    out = devpi("index", "-l").stdout.split()
    assert out == ["alice/dev", "alice/scratch"]
    listing = devpi("use", "-l").stdout
    assert "root/dev" in listing and "bases=root/base" in listing
    devpi("logoff")
    assert "not logged in" in devpi("use").stdout.lower() or "login" not in devpi("use").stdout


def test_devpi_install_uses_login_token_in_pip_url(make_live_server, tmp_path, env):
    server = make_live_server()
    devpi = Devpi(tmp_path / "client", env, tmp_path)
    devpi("use", server.url)
    devpi("login", "root", "--password", server.root_password)
    devpi("index", "-c", "dev")
    devpi("use", "root/dev")
    dist = build(write_project(tmp_path, "installme", "2.0"), env)
    devpi("upload", "--from-dir", str(dist))
    target = tmp_path / "target"
    pip_install_into(target, f"{server.url}/root/dev/+simple/", "installme==2.0", env)
    assert (target / "installme" / "__init__.py").read_text() == "VERSION = '2.0'\n"
