"""Release lifecycle with real clients: pip and uv honouring a yank through inheritance (set with
``pyshelf yank``), uv through an index with a minimum release age over a real mirror of a
loopback upstream, and twine and uv uploading attestations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pyshelf_server.testing import make_attestation, make_wheel

from .conftest import BIN, build, run, write_project
from .static_upstream import StaticIndex

pytestmark = pytest.mark.e2e


def _write(tmp_path, filename, content):
    path = tmp_path / filename
    path.write_bytes(content)
    return path


def _uv_install(env, tmp_path, index_url, requirement, *, check=True):
    venv = tmp_path / "uv-venv"
    if not venv.exists():
        run([str(BIN / "uv"), "venv", str(venv)], env=env)
    return run([str(BIN / "uv"), "pip", "install", "--reinstall", "--python",
                str(venv / "bin" / "python"), "--index-url", index_url, requirement],
               env=env, check=check)  # fmt: skip


def _uv_installed(tmp_path, module):
    [init] = (tmp_path / "uv-venv" / "lib").glob(f"python*/site-packages/{module}/__init__.py")
    return init.read_text()


def _pip_install(env, target, index_url, requirement):
    run([str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--target", str(target),
         "--index-url", index_url, requirement], env=env)  # fmt: skip
    return (target / requirement.split("=")[0].replace("-", "_") / "__init__.py").read_text()


def test_pip_and_uv_honour_a_yank_through_inheritance(make_live_server, tmp_path, env):
    server = make_live_server()
    server.create_user("alice", "secret")
    server.create_index("root/dev")
    server.create_index("alice/dev", auth=("alice", "secret"), bases="root/dev")
    for version in ("1.0", "2.0"):
        filename, content = make_wheel("yankee", version)
        response = server.upload("root/dev", _write(tmp_path, filename, content),
                                 name="yankee", version=version)  # fmt: skip
        assert response.status_code == 200, response.text

    cli = {**env, "PYSHELF_CLIENTDIR": str(tmp_path / "clientdir")}
    pyshelf = str(BIN / "pyshelf")
    run([pyshelf, "use", f"{server.url}/root/dev"], env=cli)
    run([pyshelf, "login", "root", "--password", server.root_password], env=cli)
    out = run([pyshelf, "yank", "yankee==2.0", "--reason", "broken"], env=cli).stdout
    assert "yanked yankee 2.0 on root/dev" in out

    index_url = f"{server.url}/alice/dev/+simple/"
    # Unpinned: both installers take the newest release that is not yanked.
    assert _pip_install(env, tmp_path / "pip1", index_url, "yankee") == "__version__ = '1.0'\n"
    _uv_install(env, tmp_path, index_url, "yankee")
    assert _uv_installed(tmp_path, "yankee") == "__version__ = '1.0'\n"
    # Pinned with ==: the yanked release still installs.
    assert _pip_install(env, tmp_path / "pip2", index_url, "yankee==2.0") == "__version__ = '2.0'\n"
    _uv_install(env, tmp_path, index_url, "yankee==2.0")
    assert _uv_installed(tmp_path, "yankee") == "__version__ = '2.0'\n"

    run([pyshelf, "unyank", "yankee==2.0"], env=cli)
    assert _pip_install(env, tmp_path / "pip3", index_url, "yankee") == "__version__ = '2.0'\n"


@pytest.fixture
def aged_upstream(tmp_path):
    now = datetime.now(UTC)
    old, new = make_wheel("coolpkg", "1.0"), make_wheel("coolpkg", "2.0")
    times = {old[0]: (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             new[0]: (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}  # fmt: skip
    index = StaticIndex(tmp_path / "upstream", {"coolpkg": [old, new]}, upload_times=times)
    yield index
    index.stop()


def test_uv_through_min_release_age_takes_the_older_release(
    make_live_server, aged_upstream, tmp_path, env
):
    server = make_live_server(init_args=["--mirror-url", aged_upstream.url])
    response = server.request("PATCH", "/root/pypi", json=["min_release_age=7d"])
    assert response.status_code == 200, response.text
    server.create_index("root/dev", bases="root/pypi")
    index_url = f"{server.url}/root/dev/+simple/"

    _uv_install(env, tmp_path, index_url, "coolpkg")
    assert _uv_installed(tmp_path, "coolpkg") == "__version__ = '1.0'\n"
    failed = _uv_install(env, tmp_path, index_url, "coolpkg==2.0", check=False)
    assert failed.returncode != 0

    # A lock file pinning the too-new file's URL cannot fetch it either.
    response = server.request("PATCH", "/root/pypi", json=["min_release_age_unknown=show"])
    unrestricted = httpx.get(f"{server.url}/root/pypi/+simple/coolpkg/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})  # fmt: skip
    assert [f["filename"] for f in unrestricted.json()["files"]] == ["coolpkg-1.0-py3-none-any.whl"]
    server.request("PATCH", "/root/pypi", json=["min_release_age=0"])
    page = httpx.get(f"{server.url}/root/pypi/+simple/coolpkg/",
                     headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    new_url = httpx.URL(f"{server.url}/root/pypi/+simple/coolpkg/").join(page["files"][1]["url"])
    server.request("PATCH", "/root/pypi", json=["min_release_age=7d"])
    refused = httpx.get(new_url)
    assert refused.status_code == 404
    assert "held back by the min_release_age 7d of root/pypi" in refused.text

    # Break glass: an exemption admits the new release.
    response = server.request("PATCH", "/root/pypi", json=["min_release_age_exempt=coolpkg"])
    assert response.status_code == 200, response.text
    _uv_install(env, tmp_path, index_url, "coolpkg")
    assert _uv_installed(tmp_path, "coolpkg") == "__version__ = '2.0'\n"
    assert httpx.get(new_url).status_code == 200


def _attest(dist):
    """A shape-valid ``<file>.publish.attestation`` next to each distribution (what twine's
    ``--attestations`` and uv publish look for)."""
    for path in sorted(dist.iterdir()):
        attestation = make_attestation(path.name, path.read_bytes())
        (dist / f"{path.name}.publish.attestation").write_text(json.dumps(attestation))


def _provenance_of(server, index, project):
    page = httpx.get(f"{server.url}/{index}/+simple/{project}/",
                     headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()  # fmt: skip
    page_url = httpx.URL(f"{server.url}/{index}/+simple/{project}/")
    found = {}
    for entry in page["files"]:
        provenance = httpx.get(page_url.join(entry["provenance"])).json()
        found[entry["filename"]] = provenance["attestation_bundles"][0]["attestations"]
    return found


@pytest.mark.parametrize("uploader", ["twine", "uv"])
def test_uploaded_attestations_come_back_on_the_simple_page(
    make_live_server, tmp_path, env, uploader
):
    server = make_live_server()
    server.create_user("alice", "secret")
    server.create_index("alice/dev", auth=("alice", "secret"))
    project = f"attested-{uploader}"
    dist = build(write_project(tmp_path, project, "1.0"), env)
    files = sorted(dist.iterdir())
    _attest(dist)
    # Both take the attestation files among the files to upload and send each with its file.
    inputs = [str(path) for path in sorted(dist.iterdir())]
    if uploader == "twine":
        run([str(BIN / "twine"), "upload", "--non-interactive", "--attestations",
             "--repository-url", f"{server.url}/alice/dev/", "-u", "alice", "-p", "secret",
             *inputs], env=env)  # fmt: skip
    else:
        run([str(BIN / "uv"), "publish", "--publish-url", f"{server.url}/alice/dev/",
             "--username", "alice", "--password", "secret", *inputs], env=env)  # fmt: skip
    found = _provenance_of(server, "alice/dev", project)
    assert sorted(found) == [path.name for path in files]
    for path in files:
        assert found[path.name] == [make_attestation(path.name, path.read_bytes())]
