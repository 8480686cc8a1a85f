"""The client's token commands against a pyshelf server, and `use --set-cfg --token` writing
a token that twine and poetry then upload with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def alice(cli, live_server, names):
    user = names("tok")
    cli("use", live_server.url)
    cli("login", "root", "--password", live_server.root_password)
    cli("user", "-c", user, f"password=pw-{user}")
    cli("login", user, "--password", f"pw-{user}")
    cli("index", "-c", "dev")
    cli("index", "-c", "other")
    cli("use", f"{user}/dev")
    return user


def test_token_commands(cli, live_server, alice, project_factory, tmp_path):
    token = cli("token-create", "-d", "for CI").stdout.strip()
    assert token.startswith("devpi-")
    assert "shown this once" in cli.run("token-create").stderr
    narrow_file = tmp_path / "narrow.token"
    cli("token-create", "--expires", "30d", "-a", "upload,pkg_read", "-i", f"{alice}/dev",
        "-o", str(narrow_file))  # fmt: skip
    assert oct(narrow_file.stat().st_mode & 0o777) == "0o600"
    listing = cli("token-list").stdout
    assert "for CI" in listing and f"indexes={alice}/dev" in listing
    assert token not in listing

    derived = cli("token-derive", "--token", token, "-p", "only-this", "-i", f"{alice}/dev").stdout
    derived = derived.strip()
    cli("logoff")
    out = cli("token-login", "-f", "-", input=derived + "\n").stdout
    assert f"logged in as {alice}" in out
    name = "only-this"
    cli("upload", "--no-isolation", cwd=project_factory(name, "1.0", docs=None))
    refused = cli.fails("upload", "--no-isolation",
                        cwd=project_factory("not-this", "1.0", docs=None))  # fmt: skip
    assert "Token denied access to project 'not-this'" in refused.stderr
    # A token cannot make tokens, even an unrestricted one.
    cli("token-login", "--token", token)
    assert cli.fails("token-create").returncode == 1

    cli("login", alice, "--password", f"pw-{alice}")
    ids = [line.split()[0] for line in cli("token-list").stdout.splitlines()
           if line and not line.startswith(" ")]  # fmt: skip
    assert len(ids) == 3
    for token_id in ids:
        cli("token-delete", token_id)
    assert "no tokens" in cli("token-list").stdout
    cli("logoff")
    cli.fails("token-login", "--token", derived)


def test_derive_and_create_refuse_bad_input(cli, alice):
    assert "duration" in cli.fails("token-create", "--expires", "soonish", code=2).stderr
    assert "not an API token" in cli.fails("token-derive", "--token", "nonsense", "-i", "a/b",
                                           code=2).stderr  # fmt: skip
    assert "no restriction" in cli.fails("token-derive", "--token", "x", code=2).stderr
    # Only root may ask for a token that never expires.
    assert "403" in cli.fails("token-create", "--expires", "never").stderr


def test_set_cfg_writes_the_token_for_twine_and_poetry(cli, live_server, alice, tmp_path,
                                                      project_factory):  # fmt: skip
    token = cli("token-create", "-a", "upload").stdout.strip()
    out = cli("use", "--set-cfg", "--token", "-", input=token + "\n").stdout
    pypirc = cli.home / ".pypirc"
    poetry_dir = cli.home / ".config" / "pypoetry"
    assert str(poetry_dir / "auth.toml") in out
    assert "username = __token__" in pypirc.read_text()
    assert oct((poetry_dir / "auth.toml").stat().st_mode & 0o777) == "0o600"

    env = {**cli.env, "POETRY_KEYRING_ENABLED": "false",
           "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache")}  # fmt: skip
    project = project_factory("cfg-twine", "1.0", docs=None)
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--wheel", str(project)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    wheel = next((project / "dist").glob("*.whl"))
    subprocess.run([str(BIN / "twine"), "upload", "--non-interactive", "-r", "pyshelf",
                    str(wheel)], env=env, check=True, capture_output=True)  # fmt: skip

    poetry_project = tmp_path / "cfg-poetry"
    (poetry_project / "cfg_poetry").mkdir(parents=True)
    (poetry_project / "cfg_poetry" / "__init__.py").write_text("")
    (poetry_project / "pyproject.toml").write_text(
        '[project]\nname = "cfg-poetry"\nversion = "1.0"\n\n[build-system]\n'
        'requires = ["poetry-core>=2.0"]\nbuild-backend = "poetry.core.masonry.api"\n'
    )
    poetry = str(BIN / "poetry")
    subprocess.run([poetry, "build"], env=env, cwd=poetry_project, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run([poetry, "publish", "-r", "pyshelf", "--no-interaction"], env=env,
                   cwd=poetry_project, check=True, capture_output=True)  # fmt: skip
    simple = httpx.get(f"{live_server.url}/{alice}/dev/+simple/").text
    assert "cfg-twine" in simple and "cfg-poetry" in simple
