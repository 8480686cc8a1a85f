"""The API tokens facade: a user's tokens, revoking and minting them, and token caveats of
plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..responses import APIError


@dataclass(frozen=True)
class TokenSummary:
    """One API token as its owner may see it (never the token itself)."""

    id: str
    restrictions: tuple[str, ...]
    description: str | None
    created: datetime
    expires: datetime | None


def register_token_caveat(name: str, checker: Callable[[Any, str], str | None]) -> None:
    """Accept tokens carrying the caveat ``<name>=<value>``; ``checker(request, value)`` is
    asked at use (once per request) and answers None, or the message of a 403."""
    from ..accounts.tokens import register_caveat

    register_caveat(name, checker)


class Tokens:
    """The API tokens facade of one request (``tokens(request)``); see
    ``pyshelf_server.accounts.tokens`` for what a token is and allows."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def _service(self) -> Any:
        from ..accounts.tokens import TokenService

        return TokenService.for_request(self.request)

    def _user(self, username: str) -> Any:
        from ..accounts.services import UserService

        return UserService(self.request.uow).require(username)

    def _check_owner(self, username: str) -> None:
        identity = self.request.identity
        if identity is None:
            raise APIError(401, "authentication required")
        if identity.grant is not None:
            raise APIError(403, "a token cannot change users or create tokens")
        if identity.username not in (username, "root"):
            raise APIError(403, f"no permission to manage the tokens of {username!r}")

    def list(self, username: str) -> list[TokenSummary]:
        """``username``'s tokens, for that user or root."""
        self._check_owner(username)
        return [
            TokenSummary(t.id, tuple(t.restrictions), t.description, t.created, t.expires)
            for t in self._service().list(self._user(username))
        ]

    def revoke(self, username: str, token_id: str) -> bool:
        """Revoke ``username``'s token (for that user or root); False: no such token."""
        from ..views.helpers import begin_write

        self._check_owner(username)
        begin_write(self.request)
        return bool(self._service().revoke(self._user(username), token_id))

    def mint(
        self,
        username: str,
        *,
        expires: int | None,
        allowed: Iterable[str] | None = None,
        indexes: Iterable[str] | None = None,
        projects: Iterable[str] | None = None,
        description: str | None = None,
        caveats: dict[str, str] | None = None,
    ) -> tuple[str, str]:
        """A token acting as ``username`` with these restrictions, made on the server's own
        authority (no permission of the request is asked; the caller decided): ``(token id,
        token)``. ``expires`` in epoch seconds (None: never); ``caveats`` must be registered
        with :func:`register_token_caveat`."""
        from ..views.helpers import begin_write

        begin_write(self.request)
        return tuple(
            self._service().create(
                self._user(username),
                expires=expires,
                allowed=allowed,
                indexes=indexes,
                projects=projects,
                description=description,
                caveats=caveats,
                policy=False,
            )
        )  # type: ignore[return-value]


def tokens(request: Any) -> Tokens:
    """The API tokens facade of ``request``."""
    return Tokens(request)
