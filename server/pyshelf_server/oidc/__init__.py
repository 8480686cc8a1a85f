"""OIDC trusted publishing: a CI job trades its provider's ID token for a short-lived upload token.

The routes are warehouse's (``GET /_/oidc/audience``, ``POST /_/oidc/mint-token``), so that
``pypa/gh-action-pypi-publish`` and ``uv publish --trusted-publishing`` work unchanged. The parts:

* :mod:`.publishers`: the index option ``trusted_publishers`` (what an owner trusts) and the
  claim checks of each provider;
* :mod:`.issuers`: the allowed issuers and their signing keys (discovery document, JWKS);
* :mod:`.service`: the mint itself (verify, match, refuse a replayed ``jti``, mint the token);
* :mod:`.views`: the routes, answering in warehouse's shapes.
"""
