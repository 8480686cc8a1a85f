"""Small helpers every view uses."""

from __future__ import annotations

import json
from typing import Any

from ..responses import APIError


def root_url(request: Any) -> str:
    """The server's URL as clients should see it, without a trailing slash."""
    outside = request.headers.get("X-Outside-Url") or request.registry.pyshelf.settings.outside_url
    if outside:
        return outside.rstrip("/")
    return request.application_url.rstrip("/")


def absolute(request: Any, path: str) -> str:
    return f"{root_url(request)}/{path.lstrip('/')}"


def json_body(request: Any, *, default: Any = None, allow_empty: bool = True) -> Any:
    raw = request.body
    if not raw.strip():
        if allow_empty:
            return default
        raise APIError(400, "Bad request: no JSON body")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "Bad request: could not decode json") from None


def require(request: Any, permission: str, context: Any = None, message: str | None = None) -> None:
    """Raise 401 for anonymous and 403 for authenticated requests that lack ``permission``."""
    context = request.context if context is None else context
    if request.has_permission(permission, context):
        return
    if request.authenticated_userid is None:
        raise APIError(401, message or "authentication required")
    raise APIError(
        403, message or f"user {request.authenticated_userid!r} has no permission {permission}"
    )


def begin_write(request: Any) -> None:
    """Make ``request.db`` a write session from here on.

    Uploads begin with a read session, so that streaming, hashing and fsyncing the file happen
    without holding the database's write lock; the rows are written after this call. Objects
    loaded through the old session must be loaded again.
    """
    session = request.__dict__.get("db")
    if session is not None and session.info.get("write"):
        return
    if session is not None:
        session.rollback()
        session.close()
    request.__dict__["db"] = request.registry.pyshelf.sessions(write=True)
    request.shelf.refresh()


def flag(request: Any, name: str) -> bool:
    """A query flag in devpi's style: present means on (``?force=``), unless it says false."""
    if name not in request.GET:
        return False
    return request.GET[name].lower() not in ("0", "false", "no", "off")
