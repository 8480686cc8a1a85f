"""Every error becomes a clear answer: JSON ``{"message": …}`` for the API, the message in the
reason phrase for legacy uploads, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from pyramid.httpexceptions import HTTPException
from pyramid.response import Response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from ..responses import APIError, IndexNotFound, json_response, one_line, reason_phrase

log = logging.getLogger(__name__)


def error_response(
    request: Any, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    if getattr(request, "is_upload", False):
        response = Response(
            body=f"<html><body><h1>{status}</h1><p>{_html(message)}</p></body></html>".encode(),
            content_type="text/html",
            charset="utf-8",
        )
        response.status = f"{status} {reason_phrase(message)}"
    else:
        response = json_response({"message": one_line(message)}, status=status)
    if status == 401 and "WWW-Authenticate" not in (headers or {}):
        response.headers["WWW-Authenticate"] = 'Basic realm="pypi"'
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _html(text: str) -> str:
    from html import escape

    return escape(text)


# The bodies of legacy uploads; other POSTs (JSON API clients) get the JSON error.
UPLOAD_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def _hinted(request: Any) -> str | None:
    """A 404's message naming the URL meant (see views.hints), or None."""
    from .hints import url_hint

    hint = url_hint(request)
    if hint is not None and request.method == "POST" and request.content_type in UPLOAD_FORMS:
        # twine and the devpi client print an upload's reason phrase.
        request.is_upload = True
    return hint


@exception_view_config(APIError)
def api_error(exc: APIError, request: Any) -> Response:
    hint = _hinted(request) if exc.status == 404 else None
    message = hint or exc.message
    if hint is None and isinstance(exc, IndexNotFound):
        from .hints import index_list, visible_indexes

        message += f" Indexes you can see: {index_list(visible_indexes(request))}."
    return error_response(request, exc.status, message, exc.headers)


@forbidden_view_config()
def forbidden(request: Any) -> Response:
    if request.authenticated_userid is None:
        return error_response(request, 401, "authentication required: log in first "
                              "(pyshelf login USER)")
    return error_response(request, 403, "Access was denied to this resource.")


@notfound_view_config()
def not_found(request: Any) -> Response:
    return error_response(request, 404, _hinted(request) or f"no such resource: {request.path}")


@exception_view_config(HTTPException)
def http_exception(exc: HTTPException, request: Any) -> Response:
    if exc.status_code < 400:
        return exc
    return error_response(request, exc.status_code, exc.explanation or exc.title)


@exception_view_config(UnicodeDecodeError)
def unicode_error(exc: Exception, request: Any) -> Response:
    return error_response(request, 400, "request is not valid UTF-8")


@exception_view_config(Exception)
def unexpected(exc: Exception, request: Any) -> Response:
    log.exception("unexpected error in %s %s", request.method, request.path_qs)
    return error_response(request, 500, f"internal error: {type(exc).__name__}")
