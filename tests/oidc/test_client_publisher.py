"""``pyshelf publisher add/list/remove`` against a real server, and the publisher it adds
working for a mint and an upload."""

from __future__ import annotations

import httpx
import pytest

from pyshelf_server.testing import basic_auth, make_wheel

from ..client.conftest import Cli

pytestmark = pytest.mark.e2e


def test_publisher_add_list_remove(make_live_server, issuer, tmp_path):
    server = make_live_server(
        args=["--trusted-publishing", "--oidc-issuer", f"github={issuer.url}"]
    )
    cli = Cli(tmp_path)
    cli("use", server.url)
    cli("login", "root", "--password", server.root_password)
    cli("user", "-c", "acme", "password=pw")
    cli("login", "acme", "--password", "pw")
    cli("index", "-c", "prod")
    cli("use", "acme/prod")
    assert "acme/prod trusts no publisher" in cli("publisher", "list").stdout

    added = cli(
        "publisher", "add", "github", "owner=acme", "owner_id=123456", "repository=widgets",
        "workflow=release.yml", "environment=Prod", f"issuer={issuer.url}",
        "projects=acme-widgets,Acme_New",
    ).stdout  # fmt: skip
    assert "1. github owner=acme owner_id=123456 repository=widgets workflow=release.yml" in added
    assert "environment=prod projects=acme-widgets,acme-new" in added
    cli("publisher", "add", "gitlab", "namespace=acme/tools", "project=widgets",
        "workflow_filepath=.gitlab-ci.yml", "projects=acme-tools")  # fmt: skip
    listed = cli("publisher", "list").stdout
    assert "2. gitlab namespace=acme/tools project=widgets" in listed

    refused = cli.fails("publisher", "add", "github", "owner=acme", "owner_id=acme",
                        "repository=widgets", "workflow=release.yml", "projects=x")  # fmt: skip
    assert "400" in refused.error_line
    assert "'trusted_publishers[0].owner_id'" in refused.error_line

    # The publisher the client added lets the workflow publish ...
    minted = httpx.post(
        server.url + "/_/oidc/mint-token", json={"token": issuer.sign(issuer.github_claims())}
    )
    assert minted.status_code == 200, minted.text
    token = minted.json()["token"]

    def upload(version: str) -> int:
        filename, content = make_wheel("acme-widgets", version)
        return httpx.post(
            server.url + "/acme/prod/",
            data={":action": "file_upload", "name": "acme-widgets", "version": version},
            files={"content": (filename, content)},
            headers=basic_auth("__token__", token),
        ).status_code

    assert upload("1.0") == 200
    # ... until it is removed.
    remaining = cli("publisher", "remove", "1").stdout
    assert "1. gitlab" in remaining and "github" not in remaining
    assert upload("1.1") == 403
    assert cli.fails("publisher", "remove", "5", code=2).error_line
