"""twine, uv publish and poetry upload with ``__token__`` API tokens; poetry set up as teams
moving from a pypiserver do (repositories, http-basic, pypi-token, sources with priorities)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import pytest

from .conftest import BIN, build, run, twine_upload, write_project

pytestmark = pytest.mark.e2e


@pytest.fixture
def shelf(make_live_server):
    """alice with the indexes alice/dev and alice/other."""
    server = make_live_server(args=["--debug"])
    server.create_user("alice", "secret")
    server.create_index("alice/dev", auth=("alice", "secret"))
    server.create_index("alice/other", auth=("alice", "secret"))
    return server


def make_token(server, **restrictions) -> str:
    response = server.request(
        "POST", "/alice/+token-create", json=restrictions, auth=("alice", "secret")
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["result"]["token"]
    return token


def simple_page(server, index: str, project: str) -> str:
    return httpx.get(f"{server.url}/{index}/+simple/{project}/").text


def test_twine_uploads_with_a_token_and_a_derived_one_is_refused_elsewhere(shelf, tmp_path, env):
    from pymacaroons import Macaroon

    token = make_token(shelf, allowed=["upload"])
    dist = build(write_project(tmp_path, "twine-tok", "1.0"), env)
    twine_upload(f"{shelf.url}/alice/dev/", "__token__", token, dist, env)
    assert "twine_tok-1.0-py3-none-any.whl" in simple_page(shelf, "alice/dev", "twine-tok")

    macaroon = Macaroon.deserialize(token.removeprefix("devpi-"))
    macaroon.add_first_party_caveat("indexes=alice/dev")
    macaroon.add_first_party_caveat("projects=twine-tok")
    derived = macaroon.serialize()
    other = build(write_project(tmp_path, "twine-other", "1.0"), env)
    refused = twine_upload(f"{shelf.url}/alice/dev/", "__token__", derived, other, env, check=False)
    assert refused.returncode != 0
    assert "403" in refused.stdout + refused.stderr
    refused = twine_upload(f"{shelf.url}/alice/other/", "__token__", derived, dist, env,
                           check=False)  # fmt: skip
    assert refused.returncode != 0
    assert "Token denied access to index" in refused.stdout + refused.stderr
    assert "twine-other" not in httpx.get(f"{shelf.url}/alice/dev/+simple/").text

    # No token (nor its signature part) appears in the --debug log.
    log = shelf.log_path.read_text()
    assert "/alice/dev/" in log
    for secret in (token, token.removeprefix("devpi-"), derived, "secret"):
        assert secret not in log


def test_uv_publish_with_a_token(shelf, tmp_path, env):
    token = make_token(shelf, allowed=["upload"], indexes=["alice/dev"])
    dist = build(write_project(tmp_path, "uv-tok", "0.3"), env)
    run([str(BIN / "uv"), "publish", "--publish-url", f"{shelf.url}/alice/dev/",
         "--token", token, *map(str, sorted(dist.iterdir()))], env=env)  # fmt: skip
    assert "uv_tok-0.3-py3-none-any.whl" in simple_page(shelf, "alice/dev", "uv-tok")
    # The same token's upload to an index it is not for is refused, and nothing is stored.
    refused = run([str(BIN / "uv"), "publish", "--publish-url", f"{shelf.url}/alice/other/",
                   "--token", token, *map(str, sorted(dist.iterdir()))], env=env,
                  check=False)  # fmt: skip
    assert refused.returncode != 0
    assert httpx.get(f"{shelf.url}/alice/other/+simple/uv-tok/").status_code == 404


def poetry_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **env,
        # Credentials go to poetry's auth.toml in the test's HOME, not a system keyring.
        "POETRY_KEYRING_ENABLED": "false",
        "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
        "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
        "POETRY_NO_INTERACTION": "1",
    }


def poetry_project(root: Path, name: str, version: str) -> Path:
    project = root / f"poetry-{name}"
    module = name.replace("-", "_")
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        "[project]\n"
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        'requires-python = ">=3.9"\n'
        "dependencies = []\n\n"
        "[build-system]\n"
        'requires = ["poetry-core>=2.0"]\n'
        'build-backend = "poetry.core.masonry.api"\n'
    )
    return project


def test_poetry_publishes_with_pypi_token_and_http_basic(shelf, tmp_path, env):
    penv = poetry_env(env, tmp_path)
    poetry = str(BIN / "poetry")
    project = poetry_project(tmp_path, "poetry-tok", "1.0")
    run([poetry, "build"], env=penv, cwd=project)
    run([poetry, "config", "repositories.shelf", f"{shelf.url}/alice/dev/"], env=penv)
    run([poetry, "config", "pypi-token.shelf", make_token(shelf, allowed=["upload"])], env=penv)
    run([poetry, "publish", "-r", "shelf"], env=penv, cwd=project)
    assert "poetry_tok-1.0-py3-none-any.whl" in simple_page(shelf, "alice/dev", "poetry-tok")

    # http-basic with the token as the password, as a user name or as __token__.
    run([poetry, "config", "--unset", "pypi-token.shelf"], env=penv)
    later = poetry_project(tmp_path / "later", "poetry-tok", "1.1")
    run([poetry, "build"], env=penv, cwd=later)
    run([poetry, "config", "http-basic.shelf", "alice", make_token(shelf)], env=penv)
    run([poetry, "publish", "-r", "shelf"], env=penv, cwd=later)
    assert "poetry_tok-1.1-py3-none-any.whl" in simple_page(shelf, "alice/dev", "poetry-tok")

    # A read-only token cannot publish.
    latest = poetry_project(tmp_path / "latest", "poetry-tok", "1.2")
    run([poetry, "build"], env=penv, cwd=latest)
    read_only = make_token(shelf, allowed=["pkg_read"])
    run([poetry, "config", "http-basic.shelf", "__token__", read_only], env=penv)
    refused = run([poetry, "publish", "-r", "shelf"], env=penv, cwd=latest, check=False)
    assert refused.returncode != 0
    assert "1.2" not in simple_page(shelf, "alice/dev", "poetry-tok")


@pytest.mark.parametrize("primary", ["alice/dev", "alice/other"])
def test_poetry_add_resolves_from_primary_and_supplemental_sources(shelf, tmp_path, env, primary):
    """One package on each index; each index is the primary source once, the other one the
    supplemental: poetry finds both, each from the index that holds it, reading with a
    pkg_read token."""
    supplemental = "alice/other" if primary == "alice/dev" else "alice/dev"
    upload_token = make_token(shelf, allowed=["upload"])
    twine_upload(f"{shelf.url}/alice/dev/", "__token__", upload_token,
                 build(write_project(tmp_path, "dev-only", "1.0"), env), env)  # fmt: skip
    twine_upload(f"{shelf.url}/alice/other/", "__token__", upload_token,
                 build(write_project(tmp_path, "other-only", "2.0"), env), env)  # fmt: skip

    penv = poetry_env(env, tmp_path)
    poetry = str(BIN / "poetry")
    app = poetry_project(tmp_path, "consumer", "0.1")
    run([poetry, "source", "add", "--priority=primary", "main", f"{shelf.url}/{primary}/+simple/"],
        env=penv, cwd=app)  # fmt: skip
    run([poetry, "source", "add", "--priority=supplemental", "extra",
         f"{shelf.url}/{supplemental}/+simple/"], env=penv, cwd=app)  # fmt: skip
    read_token = make_token(shelf, allowed=["pkg_read"])
    run([poetry, "config", "http-basic.main", "__token__", read_token], env=penv)
    run([poetry, "config", "http-basic.extra", "__token__", read_token], env=penv)
    run([poetry, "add", "--lock", "dev-only", "other-only"], env=penv, cwd=app)
    lock = tomllib.loads((app / "poetry.lock").read_text())
    sources = {package["name"]: package["source"]["url"] for package in lock["package"]}
    assert sources["dev-only"] == f"{shelf.url}/alice/dev/+simple"
    assert sources["other-only"] == f"{shelf.url}/alice/other/+simple"
