"""pip and uv resolve through a constrained index: over a hosted base, and over a mirror of a
local upstream index."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyshelf_server.testing import LiveServer, make_sdist, make_wheel

from ...e2e.conftest import BIN, isolated_env, run
from ...e2e.static_upstream import StaticIndex

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    projects = {
        "mirrored-lib": [make_wheel("mirrored-lib", "1.0"), make_wheel("mirrored-lib", "2.0"),
                         make_sdist("mirrored-lib", "2.0")],
        "other-lib": [make_wheel("other-lib", "1.0")],
    }  # fmt: skip
    index = StaticIndex(tmp_path_factory.mktemp("upstream"), projects)
    yield index
    index.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream):
    live = LiveServer(tmp_path_factory.mktemp("constrained-tools") / "server",
                      plugins=["constrained"])  # fmt: skip
    live.start()
    live.create_index("root/dev")
    dist = tmp_path_factory.mktemp("dist")
    for version in ("1.0", "2.0"):
        filename, content = make_wheel("hosted_lib", version)
        (dist / filename).write_bytes(content)
        assert live.upload("root/dev", dist / filename, name="hosted_lib", version=version
                           ).status_code == 200  # fmt: skip
    live.create_index("root/up", type="mirror", mirror_url=upstream.url)
    live.create_index("root/pinned", type="constrained", bases="root/dev,root/up",
                      constraints="hosted-lib<2\nmirrored_lib<2\n*")  # fmt: skip
    yield live
    live.stop()


def installed_version(site: Path, module: str) -> str:
    # make_wheel's module holds one line: __version__ = '1.0'
    return (site / module / "__init__.py").read_text().split("=")[1].strip().strip("'")


def test_pip_resolves_through_the_constraints(server, tmp_path):
    env = isolated_env(tmp_path)
    target = tmp_path / "target"
    run([str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--target", str(target),
         "--index-url", f"{server.url}/root/pinned/+simple/", "hosted-lib", "mirrored-lib"],
        env=env)  # fmt: skip
    assert installed_version(target, "hosted_lib") == "1.0"
    assert installed_version(target, "mirrored_lib") == "1.0"
    hidden = run([str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--target",
                  str(tmp_path / "other"), "--index-url", f"{server.url}/root/pinned/+simple/",
                  "other-lib"], env=env, check=False)  # fmt: skip
    assert hidden.returncode != 0
    too_new = run([str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--target",
                   str(tmp_path / "new"), "--index-url", f"{server.url}/root/pinned/+simple/",
                   "mirrored-lib==2.0"], env=env, check=False)  # fmt: skip
    assert too_new.returncode != 0


def test_uv_resolves_through_the_constraints(server, tmp_path):
    env = isolated_env(tmp_path)
    venv = tmp_path / "venv"
    run([str(BIN / "uv"), "venv", str(venv)], env=env)
    run([str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python"),
         "--index-url", f"{server.url}/root/pinned/+simple/", "hosted-lib", "mirrored-lib"],
        env=env)  # fmt: skip
    site = next((venv / "lib").glob("python*/site-packages"))
    assert installed_version(site, "hosted_lib") == "1.0"
    assert installed_version(site, "mirrored_lib") == "1.0"
