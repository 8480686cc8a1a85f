"""Real CI clients against a pyshelf index over TLS on loopback: ``uv publish
--trusted-publishing always`` and the gh action's sequence (audience, ``id`` for the ID token,
mint, ``twine upload``), the ID token coming from a loopback look-alike of GitHub's endpoint."""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from pyshelf_server.testing import make_wheel

from ..e2e.conftest import BIN, isolated_env, run
from .issuer import REQUEST_TOKEN
from .tls import TLSProxy, make_certificates

pytestmark = pytest.mark.e2e

PUBLISHER = {
    "provider": "github",
    "owner": "acme",
    "owner_id": "123456",
    "repository": "widgets",
    "workflow": "release.yml",
    "environment": "prod",
    "projects": ["acme-widgets"],
}


@pytest.fixture
def secure_index(make_live_server, issuer, tmp_path):
    server = make_live_server(
        args=["--trusted-publishing", "--oidc-issuer", f"github={issuer.url}"]
    )
    server.create_user("acme", "pw")
    server.create_index(
        "acme/prod", auth=("acme", "pw"), trusted_publishers=[{**PUBLISHER, "issuer": issuer.url}]
    )
    ca, cert, key = make_certificates(tmp_path)
    proxy = TLSProxy(server.port, cert, key).start()
    yield server, proxy, ca
    proxy.stop()


def ci_env(tmp_path: Path, issuer, ca: Path) -> dict[str, str]:
    """A GitHub Actions job's environment with ``id-token: write``, trusting the test CA."""
    env = isolated_env(tmp_path)
    for name in ("GITLAB_CI", "GOOGLE_SERVICE_ACCOUNT_NAME", "BUILDKITE", "CIRCLECI"):
        env.pop(name, None)
    env.update(
        GITHUB_ACTIONS="true",
        ACTIONS_ID_TOKEN_REQUEST_URL=issuer.token_request_url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=REQUEST_TOKEN,
        SSL_CERT_FILE=str(ca),
        REQUESTS_CA_BUNDLE=str(ca),
    )
    return env


def write_wheel(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    filename, content = make_wheel(name, version)
    path = directory / filename
    path.write_bytes(content)
    return path


def uploaded_by(server, project: str, version: str) -> dict:
    data = server.request("GET", f"/acme/prod/{project}/{version}", auth=None).json()["result"]
    return data["+links"][0]["log"][0]["publisher"]


def test_uv_publish_with_trusted_publishing_over_tls(secure_index, issuer, tmp_path):
    server, proxy, ca = secure_index
    wheel = write_wheel(tmp_path / "dist", "acme-widgets", "1.0")
    result = run(
        [
            str(BIN / "uv"),
            "publish",
            "--trusted-publishing",
            "always",
            "--publish-url",
            f"{proxy.url}/acme/prod/",
            str(wheel),
        ],
        env=ci_env(tmp_path, issuer, ca),
    )
    assert "::add-mask::" in result.stdout
    assert uploaded_by(server, "acme-widgets", "1.0")["repository"] == "widgets"
    # uv asked the index for its audience, then GitHub's endpoint for a token of that audience.
    assert "/token" in issuer.requests


def test_uv_publish_refused_uploads_nothing(secure_index, issuer, tmp_path):
    server, proxy, ca = secure_index
    issuer.token_overrides = {"environment": "staging"}
    wheel = write_wheel(tmp_path / "dist", "acme-widgets", "1.1")
    result = run(
        [str(BIN / "uv"), "publish", "--trusted-publishing", "always", "--publish-url",
         f"{proxy.url}/acme/prod/", str(wheel)],
        env=ci_env(tmp_path, issuer, ca),
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "invalid-publisher" in result.stderr
    listed = server.request("GET", "/acme/prod", auth=None).json()["result"]["projects"]
    assert listed == []


def action_exchange(repository_url: str, ca: Path) -> tuple[str | None, list[str]]:
    """``oidc-exchange.py``'s steps: the index from the upload URL's netloc over https, the
    audience, ``id.detect_credential``, the JSON mint; (token, error lines)."""
    import id as oidc_id

    netloc = urlparse(repository_url).netloc
    verify = ssl.create_default_context(cafile=str(ca))
    audience = httpx.get(f"https://{netloc}/_/oidc/audience", timeout=5, verify=verify)
    if audience.status_code != 200:
        return None, [f"audience retrieval failed: {audience.status_code}"]
    oidc_token = oidc_id.detect_credential(audience.json()["audience"])
    response = httpx.post(
        f"https://{netloc}/_/oidc/mint-token",
        json={"token": oidc_token},
        timeout=5,
        verify=verify,
    )
    payload = response.json()
    if not response.is_success:
        return None, [f"`{e['code']}`: {e['description']}" for e in payload["errors"]]
    return payload["token"], []


def test_the_gh_action_sequence_then_twine(secure_index, issuer, tmp_path, monkeypatch):
    server, proxy, ca = secure_index
    env = ci_env(tmp_path, issuer, ca)
    for name, value in env.items():
        if name.startswith(("GITHUB_", "ACTIONS_")):
            monkeypatch.setenv(name, value)
    repository_url = f"{proxy.url}/acme/prod/"
    token, errors = action_exchange(repository_url, ca)
    assert token and not errors
    wheel = write_wheel(tmp_path / "dist", "acme-widgets", "2.0")
    run(
        [str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", repository_url, "-u", "__token__", "-p", token, str(wheel)],
        env=env,
    )  # fmt: skip
    assert uploaded_by(server, "acme-widgets", "2.0")["workflow"] == "release.yml"
    # A refused exchange renders from the errors list, as the action prints it.
    issuer.token_overrides = {"job_workflow_ref": "acme/widgets/.github/workflows/x.yml@main"}
    token, errors = action_exchange(repository_url, ca)
    assert token is None
    assert errors and errors[0].startswith("`invalid-publisher`: valid token, but no corresponding")


def test_the_index_is_served_only_over_tls_trusted_through_the_test_ca(secure_index):
    _server, proxy, ca = secure_index
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url + "/_/oidc/audience", verify=ssl.create_default_context())
    trusted = ssl.create_default_context(cafile=str(ca))
    assert httpx.get(proxy.url + "/_/oidc/audience", verify=trusted).status_code == 200


def test_uv_publish_from_gitlab_ci_over_tls(make_live_server, issuer, tmp_path):
    # The GitLab job's ID token comes from the variable named after the audience.
    server = make_live_server(
        args=["--trusted-publishing", "--oidc-issuer", f"gitlab={issuer.url}"]
    )
    server.create_user("acme", "pw")
    publisher = {
        "provider": "gitlab",
        "issuer": issuer.url,
        "namespace": "acme/tools",
        "project": "widgets",
        "workflow_filepath": ".gitlab-ci.yml",
        "projects": ["acme-tools"],
    }
    server.create_index("acme/prod", auth=("acme", "pw"), trusted_publishers=[publisher])
    ca, cert, key = make_certificates(tmp_path)
    proxy = TLSProxy(server.port, cert, key).start()
    try:
        env = ci_env(tmp_path, issuer, ca)
        for name in ("GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL"):
            env.pop(name)
        env.update(GITLAB_CI="true", PYSHELF_ID_TOKEN=issuer.sign(issuer.gitlab_claims()))
        wheel = write_wheel(tmp_path / "dist", "acme-tools", "1.0")
        run(
            [str(BIN / "uv"), "publish", "--trusted-publishing", "always", "--publish-url",
             f"{proxy.url}/acme/prod/", str(wheel)],
            env=env,
        )  # fmt: skip
    finally:
        proxy.stop()
    publisher = uploaded_by(server, "acme-tools", "1.0")
    assert publisher["provider"] == "gitlab"
    assert publisher["claims"]["ref_path"] == "refs/tags/v1.0.0"
    assert "/token" not in issuer.requests  # nothing asked of GitHub's endpoint
