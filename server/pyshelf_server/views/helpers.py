"""Small helpers every view uses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from ..responses import APIError

# Set in the environ of a request whose answer depends on the X-Outside-Url header; the shelf
# tween then names the header in Vary, so that a cache in front keeps one answer per value.
USES_OUTSIDE_URL = "pyshelf.uses_outside_url"


def outside_url(request: Any) -> str | None:
    """The URL clients reach the server at, as a proxy's ``X-Outside-Url`` header (checked by
    the shelf tween) or ``--outside-url`` says; None when neither does."""
    request.environ[USES_OUTSIDE_URL] = True
    return request.headers.get("X-Outside-Url") or request.registry.pyshelf.settings.outside_url


def root_url(request: Any) -> str:
    """The server's URL as clients should see it, without a trailing slash."""
    outside = outside_url(request)
    if outside:
        return outside.rstrip("/")
    return request.application_url.rstrip("/")


def absolute(request: Any, path: str) -> str:
    return f"{root_url(request)}/{path.lstrip('/')}"


# What may stay unquoted in a path: RFC 3986 pchar and "/".
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def redirect(request: Any, path: str, *, keep_query: bool = True) -> Any:
    """A 302 to ``path`` under the server root. The path is percent-encoded (a header can't
    carry a user or index name in Chinese) and the query string is kept."""
    from pyramid.httpexceptions import HTTPFound

    location = absolute(request, quote(path, safe=_PATH_SAFE))
    if keep_query and request.query_string:
        location += "?" + request.query_string
    return HTTPFound(location=location)


def json_body(
    request: Any,
    *,
    default: Any = None,
    allow_empty: bool = True,
    allow_nul: bool = False,
    max_bytes: int | None = None,
) -> Any:
    """The request's JSON body, refused with 400 unless it is plain JSON that can be stored and
    answered again: no NaN or infinite numbers (they have no JSON form), no lone surrogates
    (they have no UTF-8 form) and, unless ``allow_nul``, no NUL characters (PostgreSQL text
    cannot hold them); with 413 when it is longer than ``max_bytes``."""
    if max_bytes is not None and (request.content_length or 0) > max_bytes:
        raise APIError(413, f"the request body may be at most {max_bytes} bytes")
    raw = request.body
    if max_bytes is not None and len(raw) > max_bytes:
        raise APIError(413, f"the request body may be at most {max_bytes} bytes")
    if not raw.strip():
        if allow_empty:
            return default
        raise APIError(400, "Bad request: no JSON body")
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except _NotFinite:
        raise APIError(400, "Bad request: numbers must be finite") from None
    except RecursionError:
        raise APIError(400, "Bad request: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "Bad request: could not decode json") from None
    problem = _text_problem(data, allow_nul=allow_nul)
    if problem:
        raise APIError(400, f"Bad request: {problem}")
    return data


class _NotFinite(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotFinite(text)
    return value


def _text_problem(data: Any, *, allow_nul: bool) -> str | None:
    """Why a string in ``data`` (keys included) cannot be kept, or None. Iterative: the
    decoder already bounded the depth."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "JSON strings must not contain lone surrogates"
            if not allow_nul and "\x00" in item:
                return "JSON strings must not contain NUL characters"
    return None


def require(request: Any, permission: str, context: Any = None, message: str | None = None) -> None:
    """Raise 401 for anonymous and 403 for authenticated requests that lack ``permission``."""
    from ..security import TokenDenied

    context = request.context if context is None else context
    decision = request.has_permission(permission, context)
    if decision:
        return
    if isinstance(decision, TokenDenied):
        raise APIError(403, str(decision))
    if request.authenticated_userid is None:
        raise APIError(
            401, (message or "authentication required") + ": log in first (pyshelf login USER)"
        )
    raise APIError(
        403, message or f"user {request.authenticated_userid!r} has no permission {permission}"
    )


def begin_write(request: Any) -> None:
    """Make the request's unit of work write from here on (``request.db`` is then a write
    session).

    Uploads begin reading, so that streaming, hashing and fsyncing the file happen without
    holding the database's write lock; the rows are written after this call. So do changes of
    users and indexes (PUT, PATCH), so that checking their input and hashing a password happen
    without it. Objects loaded before must be loaded again.
    """
    if request.uow.writing:
        return
    request.uow.begin_write()
    request.shelf.refresh()


def end_session(request: Any) -> None:
    """End the request's transaction before slow work that needs none (an external push): on
    SQLite a write transaction holds the database's write lock until it ends. Nothing may be
    written through the request after this."""
    request.uow.rollback()


def flag(request: Any, name: str) -> bool:
    """A query flag in devpi's style: present means on (``?force=``), unless it says false."""
    if name not in request.GET:
        return False
    return request.GET[name].lower() not in ("0", "false", "no", "off")
