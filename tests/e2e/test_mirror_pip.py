"""pip through a stage based on the mirror, with a real upstream on loopback; then with the
upstream gone."""

from __future__ import annotations

import time

import pytest

from pyshelf_server.testing import make_sdist, make_wheel

from .conftest import BIN, run
from .static_upstream import StaticIndex

pytestmark = pytest.mark.e2e


@pytest.fixture
def upstream(tmp_path):
    projects = {
        "mirrored-app": [make_wheel("mirrored-app", "1.0", requires_dist=["mirrored-lib>=2"])],
        "mirrored-lib": [make_wheel("mirrored-lib", "1.0"), make_wheel("mirrored-lib", "2.0"),
                         make_sdist("mirrored-lib", "2.0")],
        "never-fetched": [make_wheel("never-fetched", "1.0")],
    }
    index = StaticIndex(tmp_path / "upstream", projects)
    yield index
    index.stop()


def pip(env, server, *args, check=True):
    return run([str(BIN / "python"), "-m", "pip", *args, "--index-url",
                f"{server.url}/root/dev/+simple/"], env=env, check=check, timeout=120)


def test_pip_through_the_mirror_then_from_cache_when_upstream_is_gone(
    make_live_server, upstream, tmp_path, env
):
    server = make_live_server(init_args=["--mirror-url", upstream.url])
    server.create_index("root/dev", bases="root/pypi")
    filename, content = make_wheel("private-pkg", "1.0", requires_dist=["mirrored-app"])
    assert server.upload("root/dev", _write(tmp_path, filename, content), name="private-pkg",
                         version="1.0").status_code == 200

    pip(env, server, "install", "--target", str(tmp_path / "first"), "private-pkg")
    installed = (tmp_path / "first" / "mirrored_lib" / "__init__.py").read_text()
    assert installed == "__version__ = '2.0'\n"
    assert (tmp_path / "first" / "private_pkg").is_dir()
    pip(env, server, "download", "--no-deps", "--dest", str(tmp_path / "dl"), "mirrored-lib==1.0")
    assert (tmp_path / "dl" / "mirrored_lib-1.0-py3-none-any.whl").exists()
    fetched_files = [p for p in upstream.requests if p.startswith("/files/")]
    assert sorted(fetched_files) == ["/files/mirrored_app-1.0-py3-none-any.whl",
                                     "/files/mirrored_lib-1.0-py3-none-any.whl",
                                     "/files/mirrored_lib-2.0-py3-none-any.whl"]

    # Every page is now expired, and upstream goes away: the cache still answers.
    response = server.request("PATCH", "/root/pypi", json=["mirror_cache_expiry=0"])
    assert response.status_code == 200, response.text
    upstream.stop()
    pip(env, server, "install", "--target", str(tmp_path / "second"), "private-pkg")
    assert (tmp_path / "second" / "mirrored_app").is_dir()
    stale = server.request("GET", "/root/pypi/+simple/mirrored-lib/", auth=None,
                           headers={"Accept": "text/html"})
    assert stale.status_code == 200 and "X-Pyshelf-Stale" in stale.headers

    # A project never fetched fails the way pip always fails, and quickly.
    started = time.monotonic()
    failed = pip(env, server, "install", "--target", str(tmp_path / "third"), "never-fetched",
                 check=False)
    assert failed.returncode != 0
    assert "No matching distribution found for never-fetched" in failed.stderr
    assert time.monotonic() - started < 60


def _write(tmp_path, filename, content):
    path = tmp_path / filename
    path.write_bytes(content)
    return path
