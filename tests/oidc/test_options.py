"""Server options of trusted publishing, and the minted token's lifetime (injected clock)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyshelf_server.testing import Shelf, basic_auth, make_wheel

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--oidc-audience", "pypi"], "public index's audience"),
        (["--oidc-audience", "testpypi"], "public index's audience"),
        (["--oidc-audience", "My Audience"], "lower-case letters"),
        (["--oidc-issuer", "github=http://ci.example"], "plain http only on a loopback host"),
        (["--oidc-issuer", "jenkins=https://ci.example"], "PROVIDER=URL"),
    ],
)
def test_bad_options_stop_the_start(tmp_path, args, message):
    result = subprocess.run(
        [str(BIN / "pyshelf-server"), "--serverdir", str(tmp_path / "none"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_the_minted_token_lives_fifteen_minutes(make_app, issuer):
    app = make_app(trusted_publishing=True, oidc_issuers=[f"github={issuer.url}"])
    shelf = Shelf(app)
    shelf.create_user("acme", "pw")
    publisher = {
        "provider": "github",
        "issuer": issuer.url,
        "owner": "acme",
        "owner_id": "123456",
        "repository": "widgets",
        "workflow": "release.yml",
        "projects": ["acme-widgets"],
    }
    shelf.create_index("acme/prod", user="acme", password="pw", trusted_publishers=[publisher])
    id_token = issuer.sign(issuer.github_claims())
    minted = shelf.json("POST", "/_/oidc/mint-token", {"token": id_token})
    token, expires = minted.json["token"], minted.json["expires"]
    assert 0 < expires - time.time() <= 900

    def upload(version: str) -> int:
        filename, content = make_wheel("acme-widgets", version)
        form = [(":action", "file_upload"), ("name", "acme-widgets"), ("version", version)]
        return shelf.test.post(
            "/acme/prod/",
            form,
            upload_files=[("content", filename, content)],
            headers=basic_auth("__token__", token),
            expect_errors=True,
        ).status_code

    keys = app.registry.pyshelf.token_keys
    keys.clock = lambda: expires - 1
    assert upload("1.0") == 200
    keys.clock = lambda: expires
    assert upload("1.1") == 401


def test_the_environment_turns_it_on_and_allows_issuers(make_live_server, issuer):
    import httpx

    server = make_live_server(
        env={"PYSHELF_TRUSTED_PUBLISHING": "1", "PYSHELF_OIDC_ISSUER": f"github={issuer.url}"}
    )
    assert httpx.get(server.url + "/_/oidc/audience").json() == {"audience": "pyshelf"}
    answer = httpx.post(
        server.url + "/_/oidc/mint-token", json={"token": issuer.sign(issuer.github_claims())}
    )
    # The issuer is known (its token verified); no index trusts the workflow.
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "invalid-publisher"
