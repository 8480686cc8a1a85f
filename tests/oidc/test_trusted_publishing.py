"""Trusted publishing end to end, offline: real server processes, a local issuer on loopback,
the gh action's request sequence, and every refusal in warehouse's error shape with nothing
uploaded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pyshelf_server.testing import LiveServer, basic_auth, make_wheel

from .issuer import LocalIssuer

GITHUB = {
    "provider": "github",
    "owner": "acme",
    "owner_id": "123456",
    "repository": "widgets",
    "workflow": "release.yml",
    "environment": "prod",
    "projects": ["acme-widgets", "acme-new"],
}
GITLAB = {
    "provider": "gitlab",
    "namespace": "acme/tools",
    "project": "widgets",
    "workflow_filepath": ".gitlab-ci.yml",
    "projects": ["acme-tools"],
}


class Setting:
    def __init__(self, server: LiveServer, github: LocalIssuer, gitlab: LocalIssuer) -> None:
        self.server, self.github, self.gitlab = server, github, gitlab

    def mint(self, token: str, path: str = "/_/oidc/mint-token") -> httpx.Response:
        return httpx.post(self.server.url + path, json={"token": token}, timeout=30)

    def minted(self, token: str) -> str:
        response = self.mint(token)
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def upload(self, index: str, token: str, name: str, version: str = "1.0") -> httpx.Response:
        filename, content = make_wheel(name, version)
        return httpx.post(
            f"{self.server.url}/{index}/",
            data={":action": "file_upload", "name": name, "version": version},
            files={"content": (filename, content)},
            headers=basic_auth("__token__", token),
            timeout=60,
        )

    def projects(self, index: str) -> list[str]:
        response = self.server.request("GET", f"/{index}", auth=None)
        return sorted(response.json()["result"]["projects"])

    def set_publishers(self, index: str, publishers: list[dict[str, Any]]) -> None:
        response = self.server.request(
            "PATCH", f"/{index}", json={"trusted_publishers": publishers}, auth=("acme", "pw")
        )
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    github, gitlab = LocalIssuer().start(), LocalIssuer().start()
    server = LiveServer(
        tmp_path_factory.mktemp("oidc") / "server",
        args=[
            "--trusted-publishing",
            "--oidc-issuer",
            f"github={github.url}",
            "--oidc-issuer",
            f"gitlab={gitlab.url}",
        ],
    ).start()
    server.create_user("acme", "pw")
    publishers = [{**GITHUB, "issuer": github.url}, {**GITLAB, "issuer": gitlab.url}]
    server.create_index("acme/prod", auth=("acme", "pw"), trusted_publishers=publishers)
    server.create_index("acme/other", auth=("acme", "pw"))
    yield Setting(server, github, gitlab)
    server.stop()
    github.stop()
    gitlab.stop()


def assert_refused(response: httpx.Response, code: str, description: str = "") -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "Token request failed"
    assert [error["code"] for error in body["errors"]] == [code]
    assert description in body["errors"][0]["description"]


def test_the_index_page_lists_its_publishers(setting):
    page = httpx.get(setting.server.url + "/acme/prod", headers={"Accept": "text/html"})
    assert "Trusted publishers" in page.text
    assert "GitHub acme/widgets · release.yml · environment prod" in page.text
    assert "GitLab acme/tools/widgets · .gitlab-ci.yml" in page.text


def test_audience(setting):
    response = httpx.get(setting.server.url + "/_/oidc/audience")
    assert response.status_code == 200 and response.json() == {"audience": "pyshelf"}


def test_github_publishes_a_listed_project_not_yet_on_the_index(setting):
    token = setting.github.sign(setting.github.github_claims())
    response = setting.mint(token)
    assert response.status_code == 200, response.text
    minted = response.json()
    assert minted["success"] is True
    assert 890 <= minted["expires"] - setting.github.github_claims()["iat"] <= 900
    assert setting.upload("acme/prod", minted["token"], "acme-new").status_code == 200
    assert "acme-new" in setting.projects("acme/prod")
    # The upload says which workflow published it (JSON API).
    data = setting.server.request("GET", "/acme/prod/acme-new/1.0", auth=None).json()["result"]
    log = data["+links"][0]["log"][0]
    assert log["publisher"]["provider"] == "github"
    assert log["publisher"]["workflow"] == "release.yml"
    assert log["publisher"]["claims"]["sha"] == "a" * 40
    assert log["publisher"]["claims"]["repository"] == "acme/widgets"
    # And the web page.
    page = httpx.get(
        setting.server.url + "/acme/prod/acme-new/1.0", headers={"Accept": "text/html"}
    )
    assert page.status_code == 200
    expected = (
        "via trusted publisher GitHub acme/widgets · .github/workflows/release.yml · "
        "refs/tags/v1.0.0 · commit aaaaaaaaaaaa · environment prod"
    )
    assert expected in page.text


def test_the_legacy_route_and_a_form_content_type_mint_too(setting):
    token = setting.github.sign(setting.github.github_claims())
    response = httpx.post(
        setting.server.url + "/_/oidc/github/mint-token",
        content=json.dumps({"token": token}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text


def test_gitlab_publishes(setting):
    minted = setting.minted(setting.gitlab.sign(setting.gitlab.gitlab_claims()))
    assert setting.upload("acme/prod", minted, "acme-tools").status_code == 200
    assert "acme-tools" in setting.projects("acme/prod")


def test_the_minted_token_only_uploads(setting):
    minted = setting.minted(setting.github.sign(setting.github.github_claims()))
    headers = basic_auth("__token__", minted)
    for method, path, body in [
        ("PATCH", "/acme/prod", {"trusted_publishers": []}),
        ("PUT", "/acme/new-index", {}),
        ("POST", "/acme/+token-create", {}),
    ]:
        response = httpx.request(
            method, setting.server.url + path, json=body, headers=headers, timeout=30
        )
        assert response.status_code in (401, 403), (path, response.text)
    config = setting.server.request("GET", "/acme/prod", auth=None).json()["result"]
    assert len(config["trusted_publishers"]) == 2


MINT_REFUSALS = {
    "wrong audience": ("github", {"aud": "pypi"}, "invalid-token"),
    "expired": ("github", {"exp": 1_000_000_000}, "invalid-token"),
    "wrong repository": ("github", {"repository": "acme/gadgets"}, "invalid-publisher"),
    "wrong owner id": ("github", {"repository_owner_id": "7"}, "invalid-publisher"),
    "wrong workflow": (
        "github",
        {"job_workflow_ref": "acme/widgets/.github/workflows/nightly.yml@refs/tags/v1.0.0"},
        "invalid-publisher",
    ),
    "wrong environment": ("github", {"environment": "staging"}, "invalid-publisher"),
    "wrong gitlab project": ("gitlab", {"project_path": "acme/tools/gadgets"}, "invalid-publisher"),
}


@pytest.mark.parametrize("case", sorted(MINT_REFUSALS))
def test_mint_refusals(setting, case):
    provider, claims, code = MINT_REFUSALS[case]
    issuer = setting.github if provider == "github" else setting.gitlab
    template = issuer.github_claims if provider == "github" else issuer.gitlab_claims
    before = setting.projects("acme/prod")
    assert_refused(setting.mint(issuer.sign(template(**claims))), code)
    assert setting.projects("acme/prod") == before


def test_a_replayed_jti_is_refused(setting):
    token = setting.github.sign(setting.github.github_claims())
    setting.minted(token)
    assert_refused(setting.mint(token), "invalid-reuse-token", "invalid token: already used")


def test_an_unknown_issuer_is_refused(setting):
    stranger = LocalIssuer().start()
    try:
        token = stranger.sign(stranger.github_claims())
        assert_refused(setting.mint(token), "invalid-payload", "unknown trusted publishing issuer")
        assert stranger.requests == []  # its keys were never even asked for
    finally:
        stranger.stop()


def test_a_token_of_one_trusted_issuer_never_matches_another_issuers_entry(setting):
    # GitHub-shaped claims signed by the trusted GitLab issuer: judged as GitLab's, they match
    # no entry (and no GitHub entry names that issuer).
    forged = setting.gitlab.sign(setting.gitlab.github_claims())
    assert_refused(setting.mint(forged), "invalid-publisher", "Missing claim")


def test_unsigned_and_alg_none_tokens_are_refused(setting):
    import base64

    def segment(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = setting.github.github_claims()
    unsigned = f"{segment({'alg': 'none', 'kid': setting.github.kid})}.{segment(claims)}."
    assert_refused(setting.mint(unsigned), "invalid-token", "malformed or invalid token")
    signed = setting.github.sign(claims)
    stripped = signed.rsplit(".", 1)[0] + "."
    assert_refused(setting.mint(stripped), "invalid-token")
    assert_refused(setting.mint("garbage"), "invalid-payload", "malformed JWT")


def test_bad_bodies_get_the_error_shape(setting):
    for body in (b"", b"not json", b'{"token": 1}', b"[]"):
        response = httpx.post(setting.server.url + "/_/oidc/mint-token", content=body)
        assert_refused(response, "invalid-payload")
    response = httpx.get(setting.server.url + "/_/oidc/mint-token")
    assert response.status_code == 405 and response.json()["errors"][0]["code"]


def test_a_project_not_listed_is_refused_at_upload(setting):
    minted = setting.minted(setting.github.sign(setting.github.github_claims()))
    response = setting.upload("acme/prod", minted, "acme-unlisted")
    assert response.status_code == 403, response.text
    assert "acme-unlisted" not in setting.projects("acme/prod")


def test_an_upload_to_another_index_is_refused(setting):
    minted = setting.minted(setting.github.sign(setting.github.github_claims()))
    response = setting.upload("acme/other", minted, "acme-widgets")
    assert response.status_code == 403, response.text
    assert setting.projects("acme/other") == []


def test_a_project_of_the_gitlab_entry_is_not_the_github_publishers(setting):
    minted = setting.minted(setting.github.sign(setting.github.github_claims()))
    assert setting.upload("acme/prod", minted, "acme-tools", "9.0").status_code == 403


def test_removing_the_publisher_after_the_mint_stops_its_token(setting):
    minted = setting.minted(setting.github.sign(setting.github.github_claims()))
    current = setting.server.request("GET", "/acme/prod", auth=None).json()["result"]
    publishers = current["trusted_publishers"]
    setting.set_publishers("acme/prod", [p for p in publishers if p["provider"] != "github"])
    try:
        response = setting.upload("acme/prod", minted, "acme-widgets", "2.0")
        assert response.status_code == 403, response.text
        assert "no longer configured on acme/prod" in response.reason_phrase
        versions = setting.server.request("GET", "/acme/prod/acme-widgets", auth=None)
        assert versions.status_code == 404 or "2.0" not in versions.json()["result"]
        # Taking a project out of the entry stops it too.
        trimmed = {**publishers[0], "projects": ["acme-new"]}
        setting.set_publishers("acme/prod", [trimmed, publishers[1]])
        response = setting.upload("acme/prod", minted, "acme-widgets", "2.0")
        assert response.status_code == 403
        assert "may not publish 'acme-widgets' to acme/prod" in response.reason_phrase
    finally:
        setting.set_publishers("acme/prod", publishers)
    assert setting.upload("acme/prod", minted, "acme-widgets", "2.0").status_code == 200


def test_the_option_is_refused_naming_the_bad_field(setting):
    response = setting.server.request(
        "PATCH",
        "/acme/other",
        json={"trusted_publishers": [{**GITHUB, "owner_id": "acme"}]},
        auth=("acme", "pw"),
    )
    assert response.status_code == 400
    assert "'trusted_publishers[0].owner_id'" in response.json()["message"]


def test_off_by_default(make_live_server, issuer):
    server = make_live_server(args=["--oidc-issuer", f"github={issuer.url}"])
    response = httpx.get(server.url + "/_/oidc/audience")
    assert response.status_code == 403
    assert response.json() == {"message": "Trusted publishing functionality not enabled"}
    minted = httpx.post(server.url + "/_/oidc/mint-token", json={"token": "x"})
    assert_refused(minted, "not-enabled")


def test_two_concurrent_mints_of_one_token_mint_once(setting):
    from concurrent.futures import ThreadPoolExecutor

    token = setting.github.sign(setting.github.github_claims())
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(setting.mint, [token] * 4))
    assert sorted(a.status_code for a in answers) == [200, 422, 422, 422]
    for answer in answers:
        if answer.status_code == 422:
            assert_refused(answer, "invalid-reuse-token")


def test_a_publisher_on_indexes_of_two_users_is_refused_naming_them(setting):
    server = setting.server
    server.create_user("bob", "pw")
    entry = {**GITHUB, "issuer": setting.github.url, "projects": ["bob-thing"]}
    server.create_index("bob/copy", auth=("bob", "pw"), trusted_publishers=[entry])
    try:
        refused = setting.mint(setting.github.sign(setting.github.github_claims()))
        assert_refused(refused, "invalid-publisher", "acme/prod, bob/copy")
    finally:
        server.request("DELETE", "/bob/copy", auth=("bob", "pw"))
    assert setting.mint(setting.github.sign(setting.github.github_claims())).status_code == 200


def test_the_user_name_of_the_oidc_routes_is_reserved(setting):
    response = setting.server.request("PUT", "/_", json={"password": "pw"})
    assert response.status_code == 400 and "reserved" in response.json()["message"]
