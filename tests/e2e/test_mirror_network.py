"""The mirror in front of the public index (pip's own default, asked from pip): a handful of
small real packages installed through root/dev. Skipped when the public index is unreachable."""

from __future__ import annotations

import os

import httpx
import pytest

from pyshelf_server.mirror.pipconfig import PipConfigError, pip_index_url

from .conftest import BIN, run

pytestmark = [pytest.mark.e2e, pytest.mark.network]

PACKAGES = ["six", "idna", "iniconfig", "packaging", "attrs"]


@pytest.fixture(scope="module")
def public_index():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    try:
        url = pip_index_url(env)
        response = httpx.get(url.rstrip("/") + "/six/", timeout=10, follow_redirects=True,
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    except (PipConfigError, httpx.HTTPError) as error:
        pytest.skip(f"the public index is unreachable: {error}")
    if response.status_code != 200:
        pytest.skip(f"the public index answered {response.status_code}")
    return url


def test_install_real_packages_through_the_mirror(make_live_server, public_index, tmp_path, env):
    server = make_live_server(init_args=["--mirror-url", public_index])
    server.create_index("root/dev", bases="root/pypi")
    target = tmp_path / "target"
    run([str(BIN / "python"), "-m", "pip", "install", "--only-binary", ":all:", "--target",
         str(target), "--index-url", f"{server.url}/root/dev/+simple/", *PACKAGES],
        env=env, timeout=300)
    for module in ("six.py", "idna", "iniconfig", "packaging", "attrs"):
        assert (target / module).exists(), module
    # The files pip downloaded are now stored: served from disk, with immutable headers.
    [dist_info] = target.glob("six-*.dist-info")
    version = dist_info.name[len("six-"):-len(".dist-info")]
    page = httpx.get(f"{server.url}/root/dev/+simple/six/", timeout=60,
                     headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    [url] = [f["url"] for f in page["files"]
             if f["filename"] == f"six-{version}-py2.py3-none-any.whl"]
    stored = httpx.head(f"{server.url}/root/dev/+simple/six/{url}", timeout=60)
    assert stored.status_code == 200
    assert "immutable" in stored.headers["Cache-Control"]
