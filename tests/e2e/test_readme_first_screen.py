"""The README's first screen, run as written: from a new server with a generated root password
to a first upload and install (with the paths and port of this test's server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import BIN, run, write_project

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[2] / "README.md"


def first_screen_commands() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    return blocks[1]


def test_the_readme_gets_a_newcomer_to_a_first_upload_and_install(make_live_server, tmp_path,
                                                                  env):
    serverdir = tmp_path / "server"
    run([str(BIN / "pyshelf-init"), "--serverdir", str(serverdir), "--no-root-pypi"], env=env)
    password = (serverdir / ".root-password").read_text().strip()
    server = make_live_server(root_password=password)
    project = write_project(tmp_path, "myproject", "1.0")
    target = tmp_path / "target"
    script = first_screen_commands()
    for written, here in [
        (". .venv/bin/activate", f". {BIN}/activate"),
        ("~/.pyshelf/server", str(serverdir)),
        ("http://127.0.0.1:3141", server.url),
        ("~/src/myproject", str(project)),
        # No network here: the build uses the test environment's setuptools, and pip installs
        # into a directory of the test's own.
        ("pyshelf upload", "pyshelf upload --no-isolation"),
        ("pip install ", f"pip install --no-deps --target {target} "),
    ]:
        assert written in script, written
        script = script.replace(written, here)
    run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=README.parent)
    assert (target / "myproject" / "__init__.py").read_text() == "VERSION = '1.0'\n"
    files = server.request("GET", "/root/dev/myproject/1.0").json()["result"]["+links"]
    assert len(files) == 2
