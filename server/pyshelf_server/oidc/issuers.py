"""Which OIDC issuers the server trusts, and their signing keys.

Keys come from each issuer's discovery document (``{iss}/.well-known/openid-configuration``,
then its ``jwks_uri``), as warehouse fetches them. They are kept in memory for good and fetched
again only when a token names a key id that is not known, at most once a minute per issuer: a
stream of tokens with made-up key ids then costs one fetch a minute, and keys an issuer rotated
in are found within a minute. A failed or empty fetch keeps the keys known so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .publishers import DEFAULT_ISSUERS, issuer_problem

# Warehouse's constants: key refresh cool-down and outbound timeout (seconds).
REFRESH_COOLDOWN = 60.0
FETCH_TIMEOUT = 5.0


def parse_issuer_options(values: list[str]) -> dict[str, str]:
    """``--oidc-issuer PROVIDER=URL`` values as {URL: provider}, defaults included.
    ``ValueError`` with the reason for a bad one."""
    issuers = {url: provider for provider, url in DEFAULT_ISSUERS.items()}
    for value in values:
        provider, sep, url = value.partition("=")
        provider, url = provider.strip().lower(), url.strip()
        if not sep or provider not in DEFAULT_ISSUERS:
            choices = ", ".join(sorted(DEFAULT_ISSUERS))
            raise ValueError(f"{value!r} is not PROVIDER=URL with PROVIDER one of {choices}")
        problem = issuer_problem(url)
        if problem:
            raise ValueError(f"{url!r} is not an issuer URL: {problem}")
        issuers[url] = provider
    return issuers


def fetch_json(url: str) -> Any:
    """The JSON document at ``url``, or None when it cannot be had."""
    import httpx

    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError):
        return None


class SigningKeys:
    """The issuers' public keys by key id (see the module docstring)."""

    def __init__(
        self,
        fetch: Callable[[str], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
        cooldown: float = REFRESH_COOLDOWN,
    ) -> None:
        self.fetch = fetch
        self.clock = clock
        self.cooldown = cooldown
        self.keys: dict[str, dict[str, Any]] = {}
        self.fetched: dict[str, float] = {}
        self.lock = threading.Lock()

    def key(self, issuer: str, kid: str) -> Any:
        """The ``jwt.PyJWK`` of ``kid`` at ``issuer``, or None."""
        found = self.keys.get(issuer, {}).get(kid)
        if found is not None:
            return found
        with self.lock:
            found = self.keys.get(issuer, {}).get(kid)
            if found is not None:
                return found
            last = self.fetched.get(issuer)
            if last is not None and self.clock() - last < self.cooldown:
                return None
            self.fetched[issuer] = self.clock()
            fresh = self._fetch_keys(issuer)
            if fresh:
                self.keys[issuer] = fresh
            return self.keys.get(issuer, {}).get(kid)

    def _fetch_keys(self, issuer: str) -> dict[str, Any]:
        import jwt

        discovery = self.fetch(issuer + "/.well-known/openid-configuration")
        jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
        if not isinstance(jwks_uri, str) or issuer_problem(jwks_uri):
            return {}
        document = self.fetch(jwks_uri)
        listed = document.get("keys") if isinstance(document, dict) else None
        keys: dict[str, Any] = {}
        for jwk in listed if isinstance(listed, list) else ():
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk)
            except jwt.PyJWTError:
                continue
        return keys
