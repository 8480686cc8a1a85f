"""The real devpi client with the devpi-tokens client plugin drives pyshelf's API tokens:
token-create, token-list, token-derive, token-login, token-delete."""

from __future__ import annotations

import pytest

from .conftest import build, write_project
from .test_devpi_client import Devpi

pytestmark = pytest.mark.e2e


def last_line(result):
    return result.stdout.strip().splitlines()[-1].strip()


def test_devpi_tokens_client_workflow(make_live_server, tmp_path, env):
    server = make_live_server()
    devpi = Devpi(tmp_path / "client", env, tmp_path)
    devpi("use", server.url)
    devpi("login", "root", "--password", server.root_password)
    devpi("user", "-c", "alice", "password=secret")
    devpi("login", "alice", "--password", "secret")
    devpi("index", "-c", "alice/dev")
    devpi("index", "-c", "alice/other")
    dist = build(write_project(tmp_path, "tokenpkg", "1.0"), env)

    # The plain command asks for one year, which the server's default maximum allows.
    full = last_line(devpi("token-create"))
    assert full.startswith("devpi-")
    narrow = last_line(devpi("token-create", "-a", "upload,pkg_read", "-i", "alice/dev"))
    listing = devpi("token-list").stdout
    assert "allowed=pkg_read,upload" in listing and "indexes=alice/dev" in listing
    assert full not in listing and full[6:] not in listing

    # Offline narrowing: token-derive prints the token without the prefix.
    derived = last_line(devpi("token-derive", "--token", full, "-i", "alice/other"))
    assert not derived.startswith("devpi-")

    devpi("logoff")
    assert "logged in 'alice'" in devpi("token-login", "--token", derived).stdout
    devpi("use", "alice/dev")
    refused = devpi("upload", "--from-dir", str(dist), check=False)
    assert refused.returncode != 0
    assert "Token denied access to index 'alice/dev'" in refused.stdout + refused.stderr
    devpi("use", "alice/other")
    devpi("upload", "--from-dir", str(dist))
    # A token never creates tokens, even the unrestricted one.
    devpi("token-login", "--token", full)
    assert devpi("token-create", check=False).returncode != 0

    devpi("token-login", "--token", narrow)
    devpi("use", "alice/dev")
    devpi("upload", "--from-dir", str(dist))

    devpi("login", "alice", "--password", "secret")
    ids = [line.strip() for line in devpi("token-list").stdout.splitlines()
           if line.startswith("    ") and not line.startswith("     ")]  # fmt: skip
    assert len(ids) == 2
    for token_id in ids:
        assert f"token {token_id} deleted" in devpi("token-delete", token_id).stdout
    assert "No tokens for 'alice'" in devpi("token-list").stdout
    devpi("logoff")
    # Deleting the token ended the ones derived from it.
    failed = devpi("token-login", "--token", derived, check=False)
    assert failed.returncode != 0
