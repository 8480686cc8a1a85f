"""Verifying an ID token: keys from the discovery document, cached, refreshed on an unknown key
at most once a minute (an injected clock), warehouse's JWT checks."""

from __future__ import annotations

import base64
import json
import time

import pytest

from pyshelf_server.oidc.issuers import SigningKeys, parse_issuer_options
from pyshelf_server.oidc.service import MintError, TrustedPublishing
from pyshelf_server.settings import ServerSettings

from .issuer import new_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def publishing(issuer, clock, tmp_path):
    settings = ServerSettings(
        serverdir=tmp_path, trusted_publishing=True, oidc_issuers=[f"github={issuer.url}"]
    )
    return TrustedPublishing(settings, keys=SigningKeys(clock=clock))


def body(token):
    return json.dumps({"token": token}).encode()


def key_fetches(issuer):
    return issuer.requests.count("/.well-known/jwks")


def test_keys_are_fetched_once_and_kept(issuer, publishing):
    for _ in range(3):
        verified = publishing.verify(body(issuer.sign(issuer.github_claims())))
    assert verified.provider == "github" and verified.claims["repository"] == "acme/widgets"
    assert issuer.requests[:2] == ["/.well-known/openid-configuration", "/.well-known/jwks"]
    assert key_fetches(issuer) == 1


def test_an_unknown_key_refreshes_at_most_once_a_minute(issuer, publishing, clock):
    publishing.verify(body(issuer.sign(issuer.github_claims())))
    issuer.rotate()
    rotated = body(issuer.sign(issuer.github_claims()))
    clock.now += 10  # inside the cool-down: the new key is not looked for
    with pytest.raises(MintError) as refused:
        publishing.verify(rotated)
    assert refused.value.code == "invalid-token"
    assert key_fetches(issuer) == 1
    clock.now += 51
    assert publishing.verify(rotated).claims["iss"] == issuer.url
    assert key_fetches(issuer) == 2
    # A made-up key id now costs no fetch for a minute.
    for _ in range(5):
        with pytest.raises(MintError):
            publishing.verify(body(issuer.sign(issuer.github_claims(), kid="made-up")))
    assert key_fetches(issuer) == 2


def refusal(publishing, token):
    with pytest.raises(MintError) as refused:
        publishing.verify(body(token) if isinstance(token, str) else token)
    return refused.value.code, refused.value.description


def test_refusals(issuer, publishing):
    now = time.time()
    sign, claims = issuer.sign, issuer.github_claims
    invalid = ("invalid-token", "malformed or invalid token")
    assert refusal(publishing, sign(claims(aud="pypi"))) == invalid
    assert refusal(publishing, sign(claims(aud=["pyshelf"]))) == invalid
    assert refusal(publishing, sign(claims(now=now - 400))) == invalid  # exp 100 s ago
    assert refusal(publishing, sign(claims(iat=int(now) + 120))) == invalid
    assert refusal(publishing, sign({**claims(), "exp": None})) == invalid
    assert refusal(publishing, sign(claims(), key=new_key())) == invalid
    assert refusal(publishing, sign(claims(iss="https://ci.example"))) == (
        "invalid-payload",
        "unknown trusted publishing issuer",
    )
    assert refusal(publishing, sign(claims(iss="http://127.0.0.1:1"))) == (
        "invalid-payload",
        "unknown trusted publishing issuer",
    )
    assert refusal(publishing, "not.a.jwt") == ("invalid-payload", "malformed JWT")
    assert refusal(publishing, b"token=abc")[0] == "invalid-payload"
    assert refusal(publishing, json.dumps({"token": 3}).encode())[0] == "invalid-payload"


def test_inside_the_leeway_an_expired_token_still_passes(issuer, publishing):
    claims = issuer.github_claims(now=time.time() - 310)  # exp 10 s ago, leeway 30 s
    assert publishing.verify(body(issuer.sign(claims)))


def segment(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_unsigned_and_symmetric_tokens_are_refused(issuer, publishing):
    import hashlib
    import hmac

    import jwt

    claims = issuer.github_claims()
    unsigned = f"{segment({'alg': 'none', 'kid': issuer.kid})}.{segment(claims)}."
    assert refusal(publishing, unsigned) == ("invalid-token", "malformed or invalid token")
    # HS256 keyed with the public key's text: the classic confusion attack.
    signed = f"{segment({'alg': 'HS256', 'kid': issuer.kid})}.{segment(claims)}"
    mac = hmac.new(json.dumps(issuer.jwks[0]).encode(), signed.encode(), hashlib.sha256)
    forged = signed + "." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    assert refusal(publishing, forged) == ("invalid-token", "malformed or invalid token")
    no_kid = jwt.encode(claims, issuer.key, algorithm="RS256")
    assert refusal(publishing, no_kid) == ("invalid-token", "malformed or invalid token")


def test_issuer_options():
    issuers = parse_issuer_options(["gitlab=https://gitlab.acme.example"])
    assert issuers["https://gitlab.acme.example"] == "gitlab"
    assert issuers["https://gitlab.com"] == "gitlab"
    for bad in ("github", "circle=https://ci.example", "github=http://ci.example"):
        with pytest.raises(ValueError):
            parse_issuer_options([bad])
