"""OIDC trusted publishing: a CI job trades its provider's ID token for a short-lived upload token.

The routes are warehouse's (``GET /_/oidc/audience``, ``POST /_/oidc/mint-token``), so that
``pypa/gh-action-pypi-publish`` and ``uv publish --trusted-publishing`` work unchanged. The parts:

* :mod:`.publishers`: the index option ``trusted_publishers`` (what an owner trusts) and the
  claim checks of each provider;
* :mod:`.issuers`: the allowed issuers and their signing keys (discovery document, JWKS);
* :mod:`.service`: verifying an ID token, matching it, refusing a replayed ``jti``
  (:mod:`.models` keeps them);
* :mod:`.minting`: the minted API token and its re-check at every use;
* :mod:`.views`: the routes, answering in warehouse's shapes.
"""
