"""A local OIDC issuer on loopback, for trusted publishing tests with no network.

It serves what pyshelf fetches (``/.well-known/openid-configuration``, the JWKS it names) and
what a CI job's client fetches on GitHub Actions (``/token``: the look-alike of the endpoint
behind ``ACTIONS_ID_TOKEN_REQUEST_URL``, answering ``{"value": <JWT>}`` for the ``audience``
asked for). It signs with a fresh RSA key per issuer (RS256, PyJWT), with GitHub- and
GitLab-shaped claims as warehouse's tests have them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REQUEST_TOKEN = "request-token-for-tests"


def new_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


class LocalIssuer:
    def __init__(self) -> None:
        self.key = new_key()
        self.kid = uuid.uuid4().hex
        self.jwks: list[dict[str, Any]] = [public_jwk(self.key, self.kid)]
        # Paths asked for, in order (tests count the key fetches).
        self.requests: list[str] = []
        # Claims the /token endpoint puts into the tokens it hands out, over github_claims().
        self.token_overrides: dict[str, Any] = {}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                issuer.requests.append(parts.path)
                if parts.path == "/.well-known/openid-configuration":
                    self.answer(
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": issuer.url + "/.well-known/jwks",
                            "id_token_signing_alg_values_supported": ["RS256"],
                        },
                    )
                elif parts.path == "/.well-known/jwks":
                    self.answer(200, {"keys": list(issuer.jwks)})
                elif parts.path == "/token":
                    if self.headers.get("Authorization", "").lower() != f"bearer {REQUEST_TOKEN}":
                        self.answer(401, {"message": "bad request token"})
                        return
                    audience = parse_qs(parts.query).get("audience", [""])[0]
                    claims = issuer.github_claims(aud=audience, **issuer.token_overrides)
                    self.answer(200, {"value": issuer.sign(claims)})
                else:
                    self.answer(404, {"message": "not found"})

            def answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LocalIssuer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def token_request_url(self) -> str:
        """``ACTIONS_ID_TOKEN_REQUEST_URL`` as GitHub sets it (with a query of its own)."""
        return self.url + "/token?api-version=2.0"

    def sign(self, claims: dict[str, Any], *, key: Any = None, kid: str | None = None) -> str:
        return jwt.encode(
            claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def rotate(self) -> None:
        """A new signing key, published in place of the old one."""
        self.key = new_key()
        self.kid = uuid.uuid4().hex
        self.jwks[:] = [public_jwk(self.key, self.kid)]

    def _times(self, now: float | None) -> dict[str, int]:
        now = int(time.time() if now is None else now)
        return {"iat": now, "nbf": now, "exp": now + 300}

    def github_claims(self, *, now: float | None = None, **overrides: Any) -> dict[str, Any]:
        ref = "refs/tags/v1.0.0"
        workflow_ref = f"acme/widgets/.github/workflows/release.yml@{ref}"
        claims = {
            "iss": self.url,
            "aud": "pyshelf",
            "sub": "repo:acme/widgets:environment:prod",
            "jti": str(uuid.uuid4()),
            **self._times(now),
            "repository": "acme/widgets",
            "repository_owner": "acme",
            "repository_owner_id": "123456",
            "repository_id": "654321",
            "repository_visibility": "private",
            "actor": "octocat",
            "actor_id": "42",
            "workflow": "Release",
            "workflow_ref": workflow_ref,
            "workflow_sha": "a" * 40,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": "a" * 40,
            "ref": ref,
            "ref_type": "tag",
            "sha": "a" * 40,
            "event_name": "push",
            "environment": "prod",
            "run_id": "1001",
            "run_number": "7",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        }
        claims.update(overrides)
        return claims

    def gitlab_claims(self, *, now: float | None = None, **overrides: Any) -> dict[str, Any]:
        host = urlsplit(self.url).netloc
        claims = {
            "iss": self.url,
            "aud": "pyshelf",
            "sub": "project_path:acme/tools/widgets:ref_type:tag:ref:v1.0.0",
            "jti": str(uuid.uuid4()),
            **self._times(now),
            "namespace_id": "11",
            "namespace_path": "acme/tools",
            "project_id": "22",
            "project_path": "acme/tools/widgets",
            "user_login": "builder",
            "pipeline_id": "3003",
            "pipeline_source": "push",
            "job_id": "4004",
            "ref": "v1.0.0",
            "ref_type": "tag",
            "ref_path": "refs/tags/v1.0.0",
            "ref_protected": "true",
            "sha": "b" * 40,
            "ci_config_ref_uri": f"{host}/acme/tools/widgets//.gitlab-ci.yml@refs/tags/v1.0.0",
            "ci_config_sha": "b" * 40,
            "runner_environment": "gitlab-hosted",
        }
        claims.update(overrides)
        return claims
