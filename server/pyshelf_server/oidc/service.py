"""Minting an upload token for a CI job's OIDC ID token, in warehouse's order of checks.

:class:`TrustedPublishing` lives on the application state: the settings, the allowed issuers
and their keys. It verifies an ID token without the database (a key fetch may take seconds, and
a request that writes holds the write lock from its first query). :func:`mint` then finds the
publisher entries that trust the token's claims on every index, records the ``jti`` and mints
the token through the token service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from .. import limits
from ..settings import ServerSettings
from .issuers import SigningKeys, parse_issuer_options
from .models import UsedIdToken
from .publishers import OPTION, Candidate, InvalidPublisher, match

ALGORITHMS = ["RS256"]
LEEWAY = 30
# A used jti is kept this long past the token's exp: past exp + leeway the token fails anyway.
JTI_MARGIN = LEEWAY + 5
MINTED_TOKEN_SECONDS = 900
MAX_BODY_BYTES = limits.MAX_MINT_BODY_BYTES


class MintError(Exception):
    """A refused mint: warehouse's error ``code`` and ``description``."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class VerifiedToken:
    provider: str
    issuer: str
    claims: dict[str, Any]


class TrustedPublishing:
    """The server-wide part: is it on, which audience, which issuers and keys."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        keys: SigningKeys | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = settings.trusted_publishing
        self.audience = settings.oidc_audience
        self.issuers = parse_issuer_options(settings.oidc_issuers)
        self.keys = keys or SigningKeys()
        self.clock = clock

    def verify(self, body: bytes) -> VerifiedToken:
        """The provider, issuer and verified claims of the ID token in a mint request body."""
        import jwt

        token = _token_of(body)
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise MintError("invalid-payload", "malformed JWT") from None
        issuer = unverified.get("iss") if isinstance(unverified, dict) else None
        if not isinstance(issuer, str) or not issuer:
            raise MintError("invalid-payload", "malformed JWT")
        provider = self.issuers.get(issuer)
        if provider is None:
            raise MintError("invalid-payload", "unknown trusted publishing issuer")
        invalid = MintError("invalid-token", "malformed or invalid token")
        kid = header.get("kid")
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str):
            raise invalid
        key = self.keys.key(issuer, kid)
        if key is None:
            raise invalid
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "iat", "exp", "aud"], "strict_aud": True},
            )
        except jwt.PyJWTError:
            raise invalid from None
        return VerifiedToken(provider, issuer, claims)


def _token_of(body: bytes) -> str:
    """The ``token`` of a ``{"token": "<jwt>"}`` body, whatever its content type says."""
    if len(body) > MAX_BODY_BYTES:
        raise MintError(
            "invalid-payload", f"the request body may be at most {MAX_BODY_BYTES} bytes"
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MintError("invalid-payload", "the request body is not JSON") from None
    if not isinstance(payload, dict) or "token" not in payload:
        raise MintError("invalid-payload", "token: Field required")
    if not isinstance(payload["token"], str):
        raise MintError("invalid-payload", "token: Input should be a valid string")
    return payload["token"]


def candidates(snapshot: Any) -> list[Candidate]:
    """Every ``trusted_publishers`` entry of every index."""
    return [
        Candidate(info.fullname, entry)
        for info in snapshot.by_name.values()
        if not info.is_mirror
        for entry in info.option(OPTION) or ()
    ]


def find_publishers(verified: VerifiedToken, snapshot: Any) -> list[Candidate]:
    try:
        return match(verified.provider, verified.issuer, verified.claims, candidates(snapshot))
    except InvalidPublisher as error:
        raise MintError(
            "invalid-publisher", f"valid token, but no corresponding publisher ({error})"
        ) from None


def record_jti(session: Any, verified: VerifiedToken, now: datetime) -> None:
    """Remember the token's ``jti``; ``MintError`` when it was used before (here or at any
    process of this database). Rows whose tokens have expired go at the same time."""
    jti = verified.claims.get("jti")
    if jti is None:
        return
    table = UsedIdToken.__table__
    connection = session.connection()
    connection.execute(delete(table).where(table.c.expires < now))
    expires = datetime.fromtimestamp(int(verified.claims["exp"]), UTC) + timedelta(
        seconds=JTI_MARGIN
    )
    try:
        with connection.begin_nested():
            connection.execute(
                insert(table).values(issuer=verified.issuer, jti=str(jti)[:200], expires=expires)
            )
    except IntegrityError:
        raise MintError("invalid-reuse-token", "invalid token: already used") from None
