"""twine uploads, pip and uv install through inheritance."""

from __future__ import annotations

import httpx
import pytest

from .conftest import BIN, build, pip_install_into, run, twine_upload, write_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def layered(make_live_server):
    """root/dev holds a package; alice/dev inherits from it."""
    server = make_live_server()
    server.create_user("alice", "secret")
    server.create_index("root/dev")
    server.create_index("alice/dev", auth=("alice", "secret"), bases="root/dev")
    return server


def test_twine_upload_then_pip_and_uv_install_through_inheritance(layered, tmp_path, env):
    server = layered
    dist = build(write_project(tmp_path, "layered-pkg", "1.0"), env)
    twine_upload(f"{server.url}/root/dev/", "root", server.root_password, dist, env)

    target = tmp_path / "pip-target"
    pip_install_into(target, f"{server.url}/alice/dev/+simple/", "layered-pkg", env)
    assert (target / "layered_pkg" / "__init__.py").exists()

    venv = tmp_path / "uv-venv"
    run([str(BIN / "uv"), "venv", str(venv)], env=env)
    run(
        [
            str(BIN / "uv"),
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "--index-url",
            f"{server.url}/alice/dev/+simple/",
            "layered-pkg==1.0",
        ],
        env=env,
    )
    assert list((venv / "lib").glob("python*/site-packages/layered_pkg/__init__.py"))


def test_twine_with_a_wrong_password_gets_the_basic_challenge(layered, tmp_path, env):
    server = layered
    dist = build(write_project(tmp_path, "anon-pkg", "1.0"), env)
    result = twine_upload(f"{server.url}/alice/dev/", "alice", "wrong", dist, env, check=False)
    assert result.returncode != 0
    assert "401" in result.stdout + result.stderr
    response = httpx.post(f"{server.url}/alice/dev/", data={":action": "file_upload"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pypi"'


def test_twine_upload_refused_for_other_user(layered, tmp_path, env):
    server = layered
    server.create_user("bob", "bobpw")
    dist = build(write_project(tmp_path, "bob-pkg", "1.0"), env)
    result = twine_upload(f"{server.url}/alice/dev/", "bob", "bobpw", dist, env, check=False)
    assert result.returncode != 0
    assert "403" in result.stdout + result.stderr


def test_uv_publish(layered, tmp_path, env):
    server = layered
    dist = build(write_project(tmp_path, "uv-published", "0.3"), env)
    run(
        [
            str(BIN / "uv"),
            "publish",
            "--publish-url",
            f"{server.url}/alice/dev/",
            "--username",
            "alice",
            "--password",
            "secret",
            *map(str, sorted(dist.iterdir())),
        ],
        env=env,
    )
    page = httpx.get(f"{server.url}/alice/dev/+simple/uv-published/").text
    assert "uv_published-0.3-py3-none-any.whl" in page
