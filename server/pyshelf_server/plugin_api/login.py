"""Logging a user in with a password, as ``/+login`` does."""

from __future__ import annotations

from typing import Any


def log_in(request: Any, username: str, password: str) -> tuple[str, int] | None:
    """Check ``password`` (a password, never a login token: logging in with one would extend
    it for ever) and answer ``(login token, seconds it lasts)`` as ``/+login`` does, or None.
    The token authenticates as ``username`` wherever the core takes credentials, e.g. from a
    ``pyshelf_get_credentials`` implementation."""
    from ..security import current_password_hash

    app = request.registry.pyshelf
    if password.startswith("["):
        return None
    name = app.pm.hook.pyshelf_authenticate(request=request, username=username, secret=password)
    if name is None:
        return None
    token = app.login_tokens.create(name, current_password_hash(request, name) or "")
    return token, app.settings.login_token_seconds
