"""The real devpi client with the mirror: a stage based on root/pypi, devpi install through it,
devpi list and getjson on a mirrored project, devpi remove of a mirrored project."""

from __future__ import annotations

import json

import pytest

from pyshelf_server.testing import make_wheel

from .conftest import BIN, run
from .static_upstream import StaticIndex
from .test_devpi_client import Devpi

pytestmark = pytest.mark.e2e


def test_devpi_client_with_the_mirror(make_live_server, tmp_path, env):
    upstream = StaticIndex(tmp_path / "upstream", {
        "mirrored-lib": [make_wheel("mirrored-lib", "1.0"), make_wheel("mirrored-lib", "2.0")],
    })
    try:
        server = make_live_server(init_args=["--mirror-url", upstream.url])
        devpi = Devpi(tmp_path / "client", env, tmp_path)
        devpi("use", server.url)
        devpi("login", "root", "--password", server.root_password)
        out = devpi("index", "-c", "dev", "bases=root/pypi").stdout
        assert "bases=root/pypi" in out
        devpi("use", "root/dev")

        venv = tmp_path / "venv"
        run([str(BIN / "python"), "-m", "venv", str(venv)], env=env)
        devpi("install", "--venv", str(venv), "mirrored-lib")
        installed = list((venv / "lib").glob("python*/site-packages/mirrored_lib/__init__.py"))
        assert installed and installed[0].read_text() == "__version__ = '2.0'\n"

        devpi("use", "root/pypi")
        links = devpi("list", "mirrored-lib").stdout.split()
        assert [link.rsplit("/", 1)[1] for link in links] == [
            "mirrored_lib-2.0-py3-none-any.whl", "mirrored_lib-1.0-py3-none-any.whl"]
        assert all(link.startswith(f"{server.url}/root/pypi/+f/") for link in links)
        data = json.loads(devpi("getjson", "/root/pypi/mirrored-lib").stdout)
        assert data["type"] == "projectconfig" and set(data["result"]) == {"1.0", "2.0"}
        out = devpi("getjson", "/root/pypi").stdout
        assert json.loads(out)["result"]["projects"] == ["mirrored-lib"]

        devpi("remove", "-y", "mirrored-lib")
        # Removed from the cache only: the next request fetches it from upstream again.
        assert len(devpi("list", "mirrored-lib").stdout.split()) == 2
        assert upstream.requests.count("/simple/mirrored-lib/") == 2
    finally:
        upstream.stop()
